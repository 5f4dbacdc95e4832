"""One trial: a family with parameters, fitted fold by fold, scored out of fold.

Boosters stop early on each fold's validation rows and the trial remembers how many rounds
they kept, so the final refit (which has no validation rows left) uses that many. A trial
can be pruned after any fold (Optuna's pruner, or when the rest would not fit in the time
left); a trial whose fit raises is recorded as failed and the search goes on.
"""

from __future__ import annotations

import math
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from loopml.evaluate import best_threshold, metric_direction, score
from loopml.evaluate.metrics import THRESHOLDED_METRICS
from loopml.models import Family, make_pipeline
from loopml.models.pipeline import fitted_rounds, rounds_param, stops_early
from loopml.models.trained import proba_in_order
from loopml.search.budget import Budget
from loopml.search.cv import Folds

ROUNDS_MARGIN = 1.1  # the refit sees ~1/k more rows than a fold: a few more rounds pay off

# after_fold(fold number, running score) -> True to prune the trial
AfterFold = Callable[[int, float], bool]


@dataclass
class Candidate:
    """A finished trial: its parameters, fold scores, out-of-fold predictions and timings."""

    number: int
    family: str
    params: dict[str, Any]
    status: str = "complete"  # complete | failed | pruned
    fold_scores: list[float] = field(default_factory=list)
    score: float | None = None  # the primary metric over every out-of-fold row
    oof: np.ndarray | None = None
    fit_s: float = 0.0
    predict_s: float = 0.0
    seconds: float = 0.0  # wall time of the whole trial
    rounds: int | None = None  # boosting rounds for the refit
    error: str | None = None

    @property
    def name(self) -> str:
        """How the leaderboard names it: `family #number`."""
        return f"{self.family} #{self.number}"

    @property
    def complete(self) -> bool:
        """Whether every fold was fitted and scored."""
        return self.status == "complete"


@dataclass
class TrialData:
    """What every trial of a search shares: the rows, folds, task and primary metric."""

    X: pd.DataFrame
    y: pd.Series
    folds: Folds
    task: str
    metric: str
    roles: dict[str, str]
    classes: list[Any] | None
    seed: int
    n_jobs: int = 1

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger value of the primary metric is better."""
        return metric_direction(self.metric)

    def better(self, a: float | None, b: float | None) -> bool:
        """Whether score `a` beats score `b` (None and NaN lose)."""
        if a is None or math.isnan(a):
            return False
        if b is None or math.isnan(b):
            return True
        return a > b if self.higher_is_better else a < b

    def gain(self, value: float | None) -> float:
        """The score as a number where larger is better (-inf for none)."""
        if value is None or math.isnan(value):
            return -math.inf
        return value if self.higher_is_better else -value

    def threshold_for(self, y_true: Any, proba: np.ndarray) -> float:
        """The decision threshold the primary metric is scored at (binary thresholded metrics)."""
        if self.task != "binary" or self.metric not in THRESHOLDED_METRICS:
            return 0.5
        try:
            return best_threshold(y_true, proba, self.metric, classes=self.classes)
        except ValueError:  # one class only in these rows
            return 0.5

    def score_of(self, y_true: Any, prediction: np.ndarray) -> float:
        """The primary metric of `prediction` (classes' probabilities or values)."""
        pred = prediction[:, 1] if self.task == "binary" else prediction
        threshold = self.threshold_for(y_true, pred)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return score(
                self.metric,
                y_true,
                pred,
                classes=self.classes,
                threshold=threshold,
                task=self.task,
            )

    def oof_score(self, oof: np.ndarray) -> float:
        """The primary metric over the rows that have an out-of-fold prediction."""
        rows = self.validated_rows
        return self.score_of(self.y.iloc[rows], oof[rows])

    @cached_property
    def validated_rows(self) -> np.ndarray:
        """Row positions that some fold validates on."""
        return np.unique(np.concatenate([valid for _, valid in self.folds]))


def run_trial(
    data: TrialData,
    number: int,
    family: Family,
    params: dict[str, Any],
    *,
    budget: Budget | None = None,
    after_fold: AfterFold | None = None,
) -> Candidate:
    """Fit `family` with `params` on every fold and score it out of fold."""
    candidate = Candidate(number, family.name, dict(params))
    started = time.perf_counter()
    try:
        _fit_folds(data, family, params, candidate, budget, after_fold)
    except Exception as exc:  # a crashing trial is recorded and the search goes on
        candidate.status = "failed"
        candidate.error = _one_line(exc)
        candidate.oof = None
    candidate.seconds = time.perf_counter() - started
    return candidate


def _fit_folds(
    data: TrialData,
    family: Family,
    params: dict[str, Any],
    candidate: Candidate,
    budget: Budget | None,
    after_fold: AfterFold | None,
) -> None:
    classify = data.task != "regression"
    n = len(data.X)
    oof = np.full((n, len(data.classes)) if classify else n, np.nan)
    rounds: list[int] = []
    started = time.perf_counter()
    for i, (train_idx, valid_idx) in enumerate(data.folds):
        model = make_pipeline(
            family, data.task, data.roles, params, seed=data.seed, n_jobs=data.n_jobs
        )
        X_train, y_train = data.X.iloc[train_idx], data.y.iloc[train_idx]
        X_valid, y_valid = data.X.iloc[valid_idx], data.y.iloc[valid_idx]
        fit_started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if stops_early(model):
                deadline = None if budget is None else fit_started + budget.search_remaining()
                model.fit(X_train, y_train, X_val=X_valid, y_val=y_valid, deadline=deadline)
            else:
                model.fit(X_train, y_train)
            fitted = time.perf_counter()
            if classify:
                oof[valid_idx] = proba_in_order(model, X_valid, data.classes)
            else:
                oof[valid_idx] = np.asarray(model.predict(X_valid), dtype=float)
        candidate.fit_s += fitted - fit_started
        candidate.predict_s += time.perf_counter() - fitted
        kept = fitted_rounds(model)
        if kept is not None:
            rounds.append(kept)
        candidate.fold_scores.append(data.score_of(y_valid, oof[valid_idx]))
        running = float(np.mean(candidate.fold_scores))
        if after_fold is not None and after_fold(i, running):
            candidate.status = "pruned"
            candidate.error = "pruned: its first folds scored below the median of earlier trials"
            return
        left = len(data.folds) - i - 1
        if (
            budget is not None
            and left
            and not budget.fits((time.perf_counter() - started) / (i + 1) * left)
        ):
            candidate.status = "pruned"
            candidate.error = (
                f"stopped after fold {i + 1}: the other folds would not fit the time left"
            )
            return
    candidate.oof = oof
    candidate.score = data.oof_score(oof)
    if rounds:
        candidate.rounds = max(1, round(float(np.mean(rounds)) * ROUNDS_MARGIN))


def refit_pipeline(
    candidate: Candidate, family: Family, data: TrialData, *, n_jobs: int | None = None
) -> Any:
    """An unfitted pipeline of `candidate` for the refit, with the rounds its folds kept."""
    pipeline = make_pipeline(
        family,
        data.task,
        data.roles,
        candidate.params,
        seed=data.seed,
        n_jobs=data.n_jobs if n_jobs is None else n_jobs,
    )
    name = rounds_param(pipeline)
    if candidate.rounds is not None and name is not None:
        pipeline.steps[-1][1].set_params(**{name: candidate.rounds})
    return pipeline


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    place = f" (at {where[0].name})" if where else ""
    return f"{type(exc).__name__}: {text[:500]}{place}"
