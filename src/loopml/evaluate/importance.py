"""Permutation importance of the input columns: how much the score drops when one is shuffled."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from loopml.evaluate.metrics import metric_direction, score

MAX_ROWS = 2000
N_REPEATS = 3


def importance_predictions(n_columns: int, n_repeats: int = N_REPEATS) -> int:
    """How many predictions of (at most MAX_ROWS) rows `permutation_importance` makes."""
    return 1 + n_repeats * n_columns


def permutation_importance(
    predict: Callable[[pd.DataFrame], np.ndarray],
    X: pd.DataFrame,
    y: Any,
    metric: str,
    *,
    task: str,
    classes: list[Any] | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    n_repeats: int = N_REPEATS,
    max_rows: int = MAX_ROWS,
    deadline: float | None = None,
) -> list[dict[str, Any]] | None:
    """[{feature, importance, std}] best first, importance = score drop (positive = useful).

    `predict` returns what `score` takes (binary: P(classes[1])). At most `max_rows` rows
    (a seeded sample) are used. Returns None when `deadline` (time.perf_counter()) would be
    passed: the expected time is measured from one prediction first.
    """
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        rows = np.sort(rng.choice(len(X), max_rows, replace=False))
        X, y = X.iloc[rows], np.asarray(y)[rows]
    X = X.reset_index(drop=True)
    sign = 1.0 if metric_direction(metric) else -1.0

    def measure(frame: pd.DataFrame) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return score(metric, y, predict(frame), classes=classes, threshold=threshold, task=task)

    started = time.perf_counter()
    reference = measure(X)
    one = time.perf_counter() - started
    needed = one * (importance_predictions(len(X.columns), n_repeats) - 1)
    if deadline is not None and time.perf_counter() + needed > deadline:
        return None
    out = []
    for column in X.columns:
        drops = []
        for _ in range(n_repeats):
            shuffled = X.copy()
            shuffled[column] = X[column].to_numpy()[rng.permutation(len(X))]
            drops.append(sign * (reference - measure(shuffled)))
        out.append(
            {"feature": column, "importance": float(np.mean(drops)), "std": float(np.std(drops))}
        )
    return sorted(out, key=lambda item: -item["importance"])
