"""Validation folds over the training part of a split, and out-of-fold predictions.

The test part is sealed (design invariant 3): folds are cut from `SplitView.train()` only,
or — when the split has a validation part — from `join_valid(train, valid)`, whose rows are
the training rows followed by the validation rows (fold indices point into that frame).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    TimeSeriesSplit,
)

from loopml.errors import DataError
from loopml.models.trained import proba_in_order
from loopml.spec import ProjectSpec

KINDS = ("stratified_kfold", "kfold", "group_kfold", "time_series", "holdout", "given_valid")
HOLDOUT_SHARE = 0.2
MIN_SPLITS = 2

Index = np.ndarray
Fold = tuple[Index, Index]


@dataclass(frozen=True)
class Folds:
    """(train_idx, valid_idx) row positions of the frame the folds were made for."""

    folds: list[Fold]
    kind: str
    n_splits: int
    strategy: str = ""
    note: str = ""

    def __iter__(self) -> Any:
        """Iterate over (train_idx, valid_idx) pairs."""
        return iter(self.folds)

    def __len__(self) -> int:
        """The number of folds."""
        return len(self.folds)


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold predictions aligned with the frame's rows (NaN where never validated)."""

    predictions: np.ndarray
    fit_seconds: list[float] = field(default_factory=list)
    predict_seconds: list[float] = field(default_factory=list)

    @property
    def mask(self) -> np.ndarray:
        """True for rows that got an out-of-fold prediction."""
        values = self.predictions
        return ~np.isnan(values if values.ndim == 1 else values[:, 0])


def join_valid(train: pd.DataFrame, valid: pd.DataFrame) -> pd.DataFrame:
    """Training rows then validation rows, re-indexed 0..n-1: the frame `given_valid` indexes."""
    return pd.concat([train, valid], ignore_index=True)


def make_folds(
    frame: pd.DataFrame,
    spec: ProjectSpec,
    *,
    strategy: str,
    n_splits: int = 5,
    holdout_rows: int = 100_000,
    seed: int,
    valid: pd.DataFrame | None = None,
) -> Folds:
    """Folds over `frame` (the training part) that follow the split `strategy`.

    With `valid` given the single fold is train → valid, indexing `join_valid(frame, valid)`.
    Above `holdout_rows` rows one seeded ~20% holdout replaces k-fold CV. `n_splits` is
    lowered (down to 2) when the smallest class, the groups or the time values allow no more.
    """
    if valid is not None and len(valid) > 0:
        if len(frame) == 0:
            raise DataError("the training part is empty; add data or lower `split.valid_size`")
        n = len(frame)
        fold = (np.arange(n), np.arange(n, n + len(valid)))
        return Folds([fold], "given_valid", 1, strategy, "train → the split's validation part")
    if len(frame) < MIN_SPLITS:
        raise DataError(
            f"the training part has {len(frame)} row(s), too few to validate on; add data "
            "or lower `split.test_size`"
        )
    holdout = len(frame) > holdout_rows
    if strategy == "stratified":
        return _stratified(frame, spec, n_splits, seed, holdout)
    if strategy == "group":
        return _grouped(frame, spec, n_splits, seed, holdout)
    if strategy == "time":
        return _timed(frame, spec, n_splits, holdout)
    if strategy != "random":
        raise DataError(
            f"unknown split strategy `{strategy}`; use random, stratified, group or time"
        )
    rows = np.arange(len(frame))
    if holdout:
        splitter = ShuffleSplit(1, test_size=HOLDOUT_SHARE, random_state=seed)
        return _done(splitter.split(rows), "holdout", strategy)
    k = min(n_splits, len(frame))
    return _done(KFold(k, shuffle=True, random_state=seed).split(rows), "kfold", strategy)


def _done(pairs: Any, kind: str, strategy: str, note: str = "") -> Folds:
    folds = [(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)) for a, b in pairs]
    return Folds(folds, kind, len(folds), strategy, note)


def _column(frame: pd.DataFrame, name: str | None, key: str) -> pd.Series:
    if not name or name not in frame.columns:
        raise DataError(
            f"`{key}` names column `{name}`, which the training part does not have; "
            f"fix `{key}` in loopml.yaml"
        )
    return frame[name]


def _reduced(n_splits: int, available: int, what: str) -> tuple[int, str]:
    k = max(MIN_SPLITS, min(n_splits, available))
    return k, (f"folds lowered from {n_splits} to {k}: {what}" if k < n_splits else "")


def _stratified(frame: pd.DataFrame, spec: ProjectSpec, n: int, seed: int, holdout: bool) -> Folds:
    y = _column(frame, spec.target, "target")
    if y.isna().any():
        raise DataError(
            f"target `{spec.target}` is missing in {int(y.isna().sum()):,} training rows; "
            "clean the data with `cleaning.drop_missing_target: true`"
        )
    codes, uniques = pd.factorize(y, sort=True)
    counts = np.bincount(codes, minlength=len(uniques))
    smallest = int(counts.argmin())
    fewest = int(counts[smallest])
    if fewest < MIN_SPLITS:
        raise DataError(
            f"class `{uniques[smallest]}` of target `{spec.target}` has {fewest} training row, "
            f"too few for stratified validation (at least {MIN_SPLITS} are needed); lower the "
            "folds, add rows of that class, or set `split.strategy: random`"
        )
    rows = np.arange(len(frame))
    if holdout:
        splitter = StratifiedShuffleSplit(1, test_size=HOLDOUT_SHARE, random_state=seed)
        return _done(splitter.split(rows, codes), "holdout", "stratified")
    k, note = _reduced(n, fewest, f"class `{uniques[smallest]}` has only {fewest} rows")
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    return _done(splitter.split(rows, codes), "stratified_kfold", "stratified", note)


def _grouped(frame: pd.DataFrame, spec: ProjectSpec, n: int, seed: int, holdout: bool) -> Folds:
    key = "split.group_column"
    groups, uniques = pd.factorize(
        _column(frame, spec.split.group_column, key), sort=True, use_na_sentinel=False
    )
    if len(uniques) < MIN_SPLITS:
        raise DataError(
            f"group column `{spec.split.group_column}` has {len(uniques)} group(s) in the "
            f"training part, too few for group validation (at least {MIN_SPLITS}); add groups "
            "or set `split.strategy: random`"
        )
    rows = np.arange(len(frame))
    if holdout:
        splitter = GroupShuffleSplit(1, test_size=HOLDOUT_SHARE, random_state=seed)
        return _done(splitter.split(rows, groups=groups), "holdout", "group")
    k, note = _reduced(n, len(uniques), f"only {len(uniques)} groups")
    splitter = GroupKFold(k, shuffle=True, random_state=seed)
    return _done(splitter.split(rows, groups=groups), "group_kfold", "group", note)


def _times(frame: pd.DataFrame, name: str | None) -> np.ndarray:
    values = _column(frame, name, "split.time_column")
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)):
        values = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    if values.isna().any():
        raise DataError(
            f"time column `{name}` is missing or unreadable in {int(values.isna().sum()):,} "
            "training rows; fill or drop them before validating by time"
        )
    return np.asarray(values)


def _timed(frame: pd.DataFrame, spec: ProjectSpec, n: int, holdout: bool) -> Folds:
    name = spec.split.time_column
    # Folds are cut between distinct time values, so equal timestamps stay on one side.
    ranks, uniques = pd.factorize(_times(frame, name), sort=True)
    if len(uniques) < MIN_SPLITS + 1 and not (holdout and len(uniques) >= MIN_SPLITS):
        raise DataError(
            f"time column `{name}` has {len(uniques)} distinct value(s) in the training part, "
            f"too few for time-ordered validation (at least {MIN_SPLITS + 1}); add data or set "
            "`split.strategy: random`"
        )
    if holdout:
        # The latest ~20% of rows, cut at a time boundary (at least one time value each side).
        per_time = np.bincount(ranks, minlength=len(uniques))
        later = np.cumsum(per_time[::-1])[::-1]  # rows at or after each time value
        first = int(
            np.clip(np.searchsorted(-later, -HOLDOUT_SHARE * len(frame)), 1, len(uniques) - 1)
        )
        fold = (np.flatnonzero(ranks < first), np.flatnonzero(ranks >= first))
        return _done([fold], "holdout", "time", f"validation from {uniques[first]}")
    k, note = _reduced(n, len(uniques) - 1, f"only {len(uniques)} distinct times")
    # TimeSeriesSplit over the distinct times: an expanding window, blocks move forward.
    pairs = [
        (np.flatnonzero(np.isin(ranks, past)), np.flatnonzero(np.isin(ranks, block)))
        for past, block in TimeSeriesSplit(k).split(np.arange(len(uniques)))
    ]
    return _done(pairs, "time_series", "time", note)


def cross_val_predict_oof(
    pipeline_factory: Callable[[], Any],
    frame: pd.DataFrame,
    target: str,
    folds: Folds,
    task: str,
    classes: list[Any] | None = None,
) -> OutOfFold:
    """Fit a fresh pipeline per fold and predict its validation rows (probabilities in
    `classes` order for classification, values for regression)."""
    X, y = frame.drop(columns=[target]), frame[target]
    classify = task != "regression"
    if classify:
        if classes is None:
            classes = sorted(pd.unique(y.dropna()).tolist())
        out = np.full((len(frame), len(classes)), np.nan)
    else:
        out = np.full(len(frame), np.nan)
    fit_seconds, predict_seconds = [], []
    for train_idx, valid_idx in folds:
        model = pipeline_factory()
        started = time.perf_counter()
        model.fit(X.iloc[train_idx], y.iloc[train_idx])
        fitted = time.perf_counter()
        if classify:
            out[valid_idx] = proba_in_order(model, X.iloc[valid_idx], classes)
        else:
            out[valid_idx] = np.asarray(model.predict(X.iloc[valid_idx]), dtype=float)
        predict_seconds.append(time.perf_counter() - fitted)
        fit_seconds.append(fitted - started)
    return OutOfFold(out, fit_seconds, predict_seconds)
