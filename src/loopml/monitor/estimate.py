"""Performance without labels: what a classifier's own probabilities say its metric is.

Confidence-based performance estimation (CBPE, as NannyML calls it): when the model's
probabilities are calibrated (loopml calibrates at training when that helps), each row's
label is a draw from the probabilities the model gave it. Drawing every row's label many
times and scoring each draw with the task's metric gives the metric's expected value and
its spread, for any classification metric and with the same code that scores test parts.

The window's estimate is compared with the same estimate on a sample of the test part's
predictions kept in the reference statistics, not with the observed test score: a model a
little over- or under-confident errs the same way on both, and the difference cancels it.

It is an estimate: it follows the metric through changes in *which* rows arrive (covariate
shift), but not through a changed relation between inputs and labels (concept drift),
which only ground truth (`loopml feedback`) reveals. Reported as `estimated`, never as
observed. Regression has no such estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DRAWS = 200  # label draws per estimate (fewer per period of the report's timeline)
MAX_ROWS = 20_000  # rows drawn from; the spread is scaled to the window's size


def estimated_performance(
    table: Any,
    version: dict[str, Any],
    run: dict[str, Any],
    reference: dict[str, Any],
    *,
    seed: int = 0,
    draws: int = DRAWS,
    max_rows: int = MAX_ROWS,
    reference_value: float | None = None,
) -> dict[str, Any] | None:
    """The version's metric on the window's rows as its probabilities predict it (drawn from
    at most `max_rows` of them), next to the same estimate on the test part
    (`reference_value` when already known); None for regressors or a log without
    probabilities."""
    task, metric = version["task"], version["metric"]
    if task == "regression":
        return None
    chosen = run["chosen"] or {}
    classes = [str(c) for c in chosen.get("classes") or []]
    names = [f"proba_{c}" for c in classes]
    if not classes or any(name not in table.column_names for name in names):
        return None
    proba = np.column_stack(
        [table.column(name).to_numpy(zero_copy_only=False) for name in names]
    ).astype(np.float64)
    proba = proba[~np.isnan(proba).any(axis=1)]
    out: dict[str, Any] = {
        "metric": metric,
        "rows": len(proba),
        "test": (version.get("test_metrics") or {}).get(metric),
        "calibrated": bool(chosen.get("calibration")),
    }
    if len(proba) < 2:
        return out | {"value": None, "interval": None, "note": "too few rows to estimate"}
    threshold = chosen.get("threshold") or 0.5
    value, interval = _simulate(metric, task, proba, classes, threshold, seed, draws, max_rows)
    sample = reference.get("prediction_sample")
    if reference_value is None and sample:
        kept = np.asarray(sample, dtype=np.float64)
        kept = np.column_stack([1 - kept, kept]) if kept.ndim == 1 else kept
        reference_value = _simulate(metric, task, kept, classes, threshold, seed, DRAWS, MAX_ROWS)[
            0
        ]
    return out | {"value": value, "interval": interval, "reference": reference_value}


def _simulate(
    metric: str,
    task: str,
    proba: np.ndarray,
    classes: list[str],
    threshold: float,
    seed: int,
    draws: int,
    max_rows: int,
) -> tuple[float, list[float]]:
    from loopml.evaluate.metrics import score

    rng = np.random.default_rng(seed)
    n = len(proba)
    if n > max_rows:
        proba = proba[rng.choice(n, max_rows, replace=False)]
    proba = proba / proba.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(proba, axis=1)
    # Labels are drawn as class positions: integers score faster than the class names.
    codes = list(range(len(classes)))
    prediction = proba[:, 1] if task == "binary" else proba
    values = []
    for _ in range(draws):
        draw = (rng.uniform(size=(len(proba), 1)) > cumulative).sum(axis=1)
        y = np.minimum(draw, len(classes) - 1)
        if np.unique(y).size < 2:  # metrics like AUC need both classes in the draw
            continue
        values.append(score(metric, y, prediction, classes=codes, threshold=threshold, task=task))
    if not values:
        return float("nan"), [float("nan"), float("nan")]
    sample = np.asarray(values)
    centre = float(sample.mean())
    # The spread of a metric over m rows shrinks as 1/sqrt(m): scale it to the window's n.
    scale = np.sqrt(len(proba) / n)
    low, high = np.quantile(sample, [0.025, 0.975])
    return centre, [centre - (centre - low) * scale, centre + (high - centre) * scale]
