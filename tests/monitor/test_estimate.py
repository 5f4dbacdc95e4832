"""Label-free performance estimates: they match the realized metric when probabilities are
calibrated, and follow the metric down when the rows that arrive get harder."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from loopml.evaluate.metrics import score
from loopml.monitor.estimate import estimated_performance


def _window(proba: np.ndarray, classes: list[str]) -> pa.Table:
    return pa.table({f"proba_{c}": proba[:, i] for i, c in enumerate(classes)})


def _version(task: str, metric: str, classes: list[str], sample: list | None = None) -> tuple:
    version = {"task": task, "metric": metric, "test_metrics": {metric: 0.8}}
    run = {"chosen": {"classes": classes, "threshold": 0.5, "calibration": {"kind": "isotonic"}}}
    return version, run, {"prediction_sample": sample}


def _realized(metric: str, proba: np.ndarray, classes: list[str], rng: np.random.Generator):
    """The metric on labels drawn from the probabilities (what feedback would later show)."""
    draw = (rng.uniform(size=(len(proba), 1)) > np.cumsum(proba, axis=1)).sum(axis=1)
    y = np.asarray(classes, dtype=object)[draw]
    task = "binary" if len(classes) == 2 else "multiclass"
    prediction = proba[:, 1] if task == "binary" else proba
    return score(metric, y, prediction, classes=classes, threshold=0.5, task=task)


@pytest.mark.parametrize("metric", ["accuracy", "roc_auc", "f1", "log_loss"])
def test_binary_estimate_covers_the_realized_metric(metric: str) -> None:
    rng = np.random.default_rng(1)
    classes = ["no", "yes"]
    covered = 0
    for trial in range(20):
        p = 1 / (1 + np.exp(-rng.normal(0, 2, size=3000)))
        proba = np.column_stack([1 - p, p])
        version, run, reference = _version("binary", metric, classes)
        estimate = estimated_performance(
            _window(proba, classes), version, run, reference, seed=trial
        )
        realized = _realized(metric, proba, classes, rng)
        low, high = estimate["interval"]
        covered += low <= realized <= high
        assert abs(estimate["value"] - realized) < 0.05
    assert covered >= 16  # a 95% interval: at least 80% of 20 windows, allowing for chance


def test_multiclass_estimate_matches_the_realized_accuracy_and_log_loss() -> None:
    rng = np.random.default_rng(2)
    classes = ["a", "b", "c"]
    logits = rng.normal(0, 1.5, size=(4000, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for metric in ("accuracy", "log_loss", "f1_macro"):
        version, run, reference = _version("multiclass", metric, classes)
        estimate = estimated_performance(_window(proba, classes), version, run, reference)
        realized = np.mean([_realized(metric, proba, classes, rng) for _ in range(5)])
        assert abs(estimate["value"] - realized) < 0.03, metric


def test_estimate_falls_when_harder_rows_arrive_and_compares_with_the_test_sample() -> None:
    rng = np.random.default_rng(3)
    classes = ["no", "yes"]
    calm = 1 / (1 + np.exp(-rng.normal(0, 3, size=2000)))  # mostly confident rows
    hard = 1 / (1 + np.exp(-rng.normal(0, 0.4, size=2000)))  # rows near the boundary
    version, run, reference = _version("binary", "accuracy", classes, sample=calm[:1500].tolist())
    steady = estimated_performance(
        _window(np.column_stack([1 - calm, calm]), classes), version, run, reference
    )
    shifted = estimated_performance(
        _window(np.column_stack([1 - hard, hard]), classes), version, run, reference
    )
    assert steady["reference"] == pytest.approx(steady["value"], abs=0.02)
    assert shifted["value"] < steady["value"] - 0.2
    assert shifted["interval"][1] < shifted["reference"]  # the drop is clear of the noise
    assert shifted["reference"] == steady["reference"]  # the same test sample, the same seed


def test_no_estimate_for_regression_or_without_probabilities() -> None:
    version, run, reference = _version("regression", "rmse", [])
    assert estimated_performance(pa.table({"prediction": [1.0]}), version, run, reference) is None
    version, run, reference = _version("binary", "accuracy", ["no", "yes"])
    assert estimated_performance(pa.table({"prediction": ["no"]}), version, run, reference) is None
    one = _window(np.array([[0.2, 0.8]]), ["no", "yes"])
    assert estimated_performance(one, version, run, reference)["value"] is None
