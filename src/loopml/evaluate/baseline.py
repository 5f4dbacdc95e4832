"""The non-model baseline every model is compared with (design invariant 4).

Classification: the class priors of the training labels, as probabilities for every row
(its hard predictions are the majority class). Regression: the mean of the training target
(best constant for RMSE and R²) or its median (best constant for MAE).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loopml.evaluate._inputs import (
    BINARY,
    REGRESSION,
    binary_classes,
    check_task,
    encode,
    labels_array,
    multiclass_classes,
)

__all__ = ["BASELINE_STRATEGIES", "baseline_prediction", "default_baseline_strategy"]

BASELINE_STRATEGIES: dict[str, tuple[str, ...]] = {
    "binary": ("prior",),
    "multiclass": ("prior",),
    "regression": ("mean", "median"),
}


def default_baseline_strategy(task: str, metric: str | None = None) -> str:
    """ "prior" for classification; "median" for regression judged by MAE, else "mean"."""
    check_task(task)
    if task != REGRESSION:
        return "prior"
    return "median" if metric == "mae" else "mean"


def baseline_prediction(
    task: str,
    y_train: Any,
    n_rows: int,
    *,
    classes: Any = None,
    strategy: str | None = None,
) -> np.ndarray:
    """The baseline's prediction for `n_rows` rows, in the form `metrics.score` takes.

    binary: the training share of `classes[1]`, shape (n_rows,); multiclass: the training
    share of each class in `classes` order (default: the sorted training labels), shape
    (n_rows, k) — a class absent from training gets probability 0; regression: the mean or
    median of y_train, shape (n_rows,). `strategy` defaults to `default_baseline_strategy`.
    """
    check_task(task)
    if n_rows < 0:
        raise ValueError(f"n_rows must not be negative, got {n_rows}")
    strategy = strategy or default_baseline_strategy(task)
    if strategy not in BASELINE_STRATEGIES[task]:
        raise ValueError(
            f"baseline strategy {strategy!r} does not fit task {task}; "
            f"choose one of {', '.join(BASELINE_STRATEGIES[task])}"
        )
    y = labels_array(y_train, "y_train")
    if task == REGRESSION:
        values = np.asarray(y, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("y_train holds missing or infinite values")
        centre = values.mean() if strategy == "mean" else np.median(values)
        return np.full(n_rows, float(centre))
    found = binary_classes(y, classes) if task == BINARY else multiclass_classes(y, classes, None)
    codes = encode(y, found, "y_train")
    priors = np.bincount(codes, minlength=len(found)) / codes.shape[0]
    if task == BINARY:
        return np.full(n_rows, priors[1])
    return np.tile(priors, (n_rows, 1))
