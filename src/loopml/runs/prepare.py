"""Training data for a run: the cleaned version, its split, folds, roles and checks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.errors import DataError
from loopml.progress import Progress
from loopml.search.cv import join_valid, make_folds
from loopml.search.trials import TrialData
from loopml.spec import ProjectSpec
from loopml.store import Store


@dataclass
class Prepared:
    data: TrialData
    frame: pd.DataFrame
    version: Any
    split: Any
    view: Any
    features: list[str]


def default_jobs() -> int:
    """Every core this process may use."""

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class TrainInputs:
    """A dataset version, its split and column roles given to a run (retrain), instead of
    the spec's data profiled and split."""

    version: Any
    split: Any
    roles: dict[str, str]


def prepare_training(
    spec: ProjectSpec,
    root: Path,
    store: Store,
    jobs: int,
    progress: Progress,
    inputs: TrainInputs | None = None,
) -> Prepared:
    from loopml.data.profile import column_roles, prepare_dataset
    from loopml.data.splits import open_split, resolve_strategy, split_dataset
    from loopml.features.preprocess import FEATURE_ROLES

    if inputs is None:
        version = prepare_dataset(spec, root, store, progress=progress)
        progress.phase("Splitting")
        split = split_dataset(store, version, spec)
        roles = {k: v for k, v in column_roles(store, version).items() if k != spec.target}
    else:
        version, split, roles = inputs.version, inputs.split, dict(inputs.roles)
    view = open_split(store, split)
    train, valid = view.train(), view.valid()
    strategy = resolve_strategy(spec)
    folds = make_folds(
        train,
        spec,
        strategy=strategy,
        n_splits=spec.train.folds,
        holdout_rows=spec.train.holdout_rows,
        seed=spec.seed,
        valid=valid,
    )
    frame = join_valid(train, valid) if valid is not None and len(valid) else train
    features = [c for c in frame.columns if roles.get(c) in FEATURE_ROLES]
    if spec.fairness is not None:
        from loopml.explain.fairness_stage import check_sensitive

        check_sensitive(
            spec.fairness.sensitive,
            target=spec.target,
            drop_columns=spec.cleaning.drop_columns,
            present=list(frame.columns),
            where="the training data",
        )
        if spec.fairness.exclude_from_features:
            features = [c for c in features if c not in spec.fairness.sensitive]
    _check_inputs(spec, frame, features, roles)
    y = frame[spec.target]
    classes = None if spec.task == "regression" else sorted(pd.unique(y).tolist())
    data = TrialData(
        X=frame[features],
        y=y,
        folds=folds,
        task=spec.task,
        metric=spec.primary_metric,
        roles={name: roles[name] for name in features},
        classes=classes,
        seed=spec.seed,
        n_jobs=jobs,
    )
    return Prepared(data, frame, version, split, view, features)


def _check_inputs(spec: ProjectSpec, frame: pd.DataFrame, features: list[str], roles: dict) -> None:
    y = frame[spec.target]
    if y.isna().any():
        raise DataError(
            f"target `{spec.target}` is missing in {int(y.isna().sum()):,} training rows; set "
            "`cleaning.drop_missing_target: true` in loopml.yaml"
        )
    if spec.task != "regression" and y.nunique() < 2:
        raise DataError(
            f"target `{spec.target}` has a single class ({y.iloc[0]!r}) in the training part; "
            "a classifier needs rows of at least two classes"
        )
    if spec.task == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise DataError(f"target `{spec.target}` is not numeric; a regression needs numbers")
    if not features:
        dropped = ", ".join(f"{name} ({role})" for name, role in list(roles.items())[:6])
        raise DataError(
            f"no column can be used as a feature (roles: {dropped or 'none'}); give some columns "
            "a feature role under `columns:` in loopml.yaml"
        )
    if frame[features].isna().all().all():
        raise DataError(
            "every feature column is missing in every training row; there is nothing to learn from"
        )
