"""Bootstrap confidence intervals of metrics, and of a model's improvement over a baseline.

Percentile bootstrap over rows. For classification the resampling is stratified by class:
each class keeps its count in every resample, so every resample holds every class present
in y_true and ranking metrics stay defined. All resample indices are drawn at once, as an
(n_boot x n) int32 array (4 * n_boot * n bytes: 40 MB for 1,000 resamples of 10,000 rows),
from `numpy.random.default_rng(seed)`; the metrics are then computed for blocks of
resamples at a time by numpy (counts with `bincount`, ROC-AUC by ranks), with no Python
loop over resamples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loopml.evaluate._inputs import (
    REGRESSION,
    check_task,
    encode,
    labels_array,
    prepare,
    python_scalar,
)
from loopml.evaluate.metrics import Scorer, _check_metrics, block_rows, metric_direction

__all__ = [
    "bootstrap_distribution",
    "bootstrap_indices",
    "bootstrap_intervals",
    "paired_improvement",
]


def bootstrap_indices(
    task: str,
    y_true: Any,
    *,
    classes: Any = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """The (n_boot x n) row indices of the resamples, stratified by class unless regression.

    Classification strata are the labels of y_true (checked against `classes` when given).

    Within a resample the rows are grouped by class (class after class); every metric is
    insensitive to row order. The same task, labels, n_boot and seed give the same array.
    """
    check_task(task)
    y = labels_array(y_true)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    n = y.shape[0]
    dtype = np.int32 if n < 2**31 else np.int64
    rng = np.random.default_rng(seed)
    if task == REGRESSION:
        return rng.integers(0, n, size=(n_boot, n), dtype=dtype)
    if classes is not None:
        codes = encode(y, [python_scalar(c) for c in classes])
    else:  # only the class of each row matters, so the labels' own sort order serves
        _, codes = np.unique(y.astype(str) if y.dtype == object else y, return_inverse=True)
    blocks = []
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code).astype(dtype)
        blocks.append(rows[rng.integers(0, rows.shape[0], size=(n_boot, rows.shape[0]))])
    return np.concatenate(blocks, axis=1)


def bootstrap_distribution(
    task: str,
    y_true: Any,
    prediction: Any,
    metrics: list[str],
    *,
    classes: Any = None,
    threshold: float = 0.5,
    indices: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """metric -> the (n_boot,) scores of the resamples (`indices`, or drawn from the seed)."""
    prep = prepare(task, y_true, prediction, classes=classes, threshold=threshold)
    names = _check_metrics(task, metrics)
    if indices is None:
        indices = bootstrap_indices(task, y_true, classes=classes, n_boot=n_boot, seed=seed)
    return _distribution(Scorer(prep), names, np.asarray(indices))


def _distribution(scorer: Scorer, names: list[str], indices: np.ndarray) -> dict:
    n = scorer.prep.n
    if indices.ndim != 2 or indices.shape[1] == 0:
        raise ValueError(f"indices must be an (n_boot x rows) array, got shape {indices.shape}")
    if indices.min() < 0 or indices.max() >= n:
        raise ValueError(f"indices must be row numbers between 0 and {n - 1}")
    step = block_rows(indices.shape[1], indices.shape[0])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, indices.shape[0], step):
        block = scorer.scores(names, indices[start : start + step])
        for name in names:
            parts[name].append(block[name])
    return {name: np.concatenate(parts[name]) for name in names}


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return (float(low), float(high))


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie between 0 and 1 (0.95 for 95 %), got {level}")


def bootstrap_intervals(
    task: str,
    y_true: Any,
    prediction: Any,
    metrics: list[str],
    *,
    classes: Any = None,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """metric -> (low, high) percentile bootstrap interval at `level`.

    Resamples where a metric is undefined (NaN) are left out of its percentiles; a metric
    undefined on every resample gets (nan, nan).
    """
    _check_level(level)
    scores = bootstrap_distribution(
        task,
        y_true,
        prediction,
        metrics,
        classes=classes,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
    )
    return {name: _percentiles(values, level) for name, values in scores.items()}


def paired_improvement(
    task: str,
    y_true: Any,
    model_prediction: Any,
    baseline_prediction: Any,
    metric: str,
    *,
    classes: Any = None,
    threshold: float = 0.5,
    baseline_threshold: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """How much better the model is than the baseline on `metric`, with a paired interval.

    improvement = model - baseline for a metric where higher is better, baseline - model
    where lower is better: positive always means the model is better. Both are scored on
    the same resamples; the interval is the percentile interval of the per-resample
    improvements. Returns {metric, higher_is_better, model, baseline, improvement,
    interval: (low, high), level, n_boot, excludes_zero, significantly_better}.
    """
    _check_level(level)
    _check_metrics(task, [metric])
    sign = 1.0 if metric_direction(metric) else -1.0
    indices = bootstrap_indices(task, y_true, classes=classes, n_boot=n_boot, seed=seed)
    b_threshold = threshold if baseline_threshold is None else baseline_threshold
    points = []
    draws = []
    for pred, thr in ((model_prediction, threshold), (baseline_prediction, b_threshold)):
        scorer = Scorer(prepare(task, y_true, pred, classes=classes, threshold=thr))
        points.append(float(scorer.scores([metric])[metric][0]))
        draws.append(_distribution(scorer, [metric], indices)[metric])
    improvement = sign * (points[0] - points[1])
    low, high = _percentiles(sign * (draws[0] - draws[1]), level)
    return {
        "metric": metric,
        "higher_is_better": sign > 0,
        "model": points[0],
        "baseline": points[1],
        "improvement": float(improvement),
        "interval": (low, high),
        "level": level,
        "n_boot": n_boot,
        "excludes_zero": bool(low > 0 or high < 0),
        "significantly_better": bool(low > 0),
    }
