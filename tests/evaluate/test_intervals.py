"""Bootstrap intervals: correct per resample, reproducible, fast; paired improvement."""

from __future__ import annotations

import time

import numpy as np
import pytest

from loopml.evaluate import (
    baseline_prediction,
    bootstrap_distribution,
    bootstrap_indices,
    bootstrap_intervals,
    metrics_for,
    paired_improvement,
    task_metrics,
)
from tests.evaluate.reference import sklearn_binary, sklearn_multiclass, sklearn_regression


def _assert_matches_loop(fast, indices, reference):
    for b, rows in enumerate(indices):
        for name, value in reference(rows).items():
            assert fast[name][b] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, b)


def test_vectorised_bootstrap_equals_sklearn_loop_binary(binary_case):
    y, p = binary_case.y_test, binary_case.pred
    indices = bootstrap_indices("binary", y, n_boot=60, seed=3)
    for threshold in (0.5, 0.8):
        fast = bootstrap_distribution(
            "binary", y, p, metrics_for("binary"), threshold=threshold, indices=indices
        )
        _assert_matches_loop(fast, indices, lambda r, t=threshold: sklearn_binary(y[r], p[r], t))


def test_vectorised_bootstrap_equals_sklearn_loop_multiclass(multiclass_case):
    y, proba, classes = multiclass_case.y_test, multiclass_case.pred, multiclass_case.classes
    indices = bootstrap_indices("multiclass", y, n_boot=40, seed=4)
    fast = bootstrap_distribution(
        "multiclass", y, proba, metrics_for("multiclass"), classes=classes, indices=indices
    )
    _assert_matches_loop(fast, indices, lambda r: sklearn_multiclass(y[r], proba[r], classes))


def test_vectorised_bootstrap_equals_sklearn_loop_regression(regression_case):
    y, pred = regression_case.y_test, regression_case.pred
    indices = bootstrap_indices("regression", y, n_boot=60, seed=5)
    fast = bootstrap_distribution("regression", y, pred, metrics_for("regression"), indices=indices)
    _assert_matches_loop(fast, indices, lambda r: sklearn_regression(y[r], pred[r]))


def test_resamples_are_stratified_by_class(multiclass_case):
    y = multiclass_case.y_test
    indices = bootstrap_indices("multiclass", y, n_boot=50, seed=1)
    assert indices.shape == (50, len(y))
    counts = np.unique(y, return_counts=True)[1]
    for rows in indices:
        assert np.array_equal(np.unique(y[rows], return_counts=True)[1], counts)
    regression = bootstrap_indices("regression", np.arange(30.0), n_boot=5, seed=1)
    assert regression.shape == (5, 30)
    assert regression.min() >= 0
    assert regression.max() < 30


@pytest.mark.parametrize("fixture", ["binary_case", "multiclass_case", "regression_case"])
def test_interval_contains_the_point_estimate(request, fixture):
    case = request.getfixturevalue(fixture)
    task = {"binary_case": "binary", "multiclass_case": "multiclass"}.get(fixture, "regression")
    classes = case.classes or None
    point = task_metrics(task, case.y_test, case.pred, classes=classes)
    intervals = bootstrap_intervals(
        task, case.y_test, case.pred, metrics_for(task), classes=classes, n_boot=500
    )
    for name, (low, high) in intervals.items():
        assert low <= point[name] <= high, name
        assert low < high or point[name] in (0.0, 1.0), name


def test_intervals_narrow_as_rows_grow(binary_oof):
    y, p = binary_oof
    metrics = ["roc_auc", "log_loss", "brier", "accuracy", "f1"]
    rng = np.random.default_rng(0)
    small = rng.choice(len(y), 120, replace=False)
    narrow = bootstrap_intervals("binary", y, p, metrics, n_boot=400)
    wide = bootstrap_intervals("binary", y[small], p[small], metrics, n_boot=400)
    for name in metrics:
        assert narrow[name][1] - narrow[name][0] < wide[name][1] - wide[name][0], name


def test_intervals_are_reproducible_and_seeded(binary_case):
    y, p = binary_case.y_test, binary_case.pred
    metrics = ["roc_auc", "f1"]
    first = bootstrap_intervals("binary", y, p, metrics, n_boot=200, seed=7)
    again = bootstrap_intervals("binary", y, p, metrics, n_boot=200, seed=7)
    other = bootstrap_intervals("binary", y, p, metrics, n_boot=200, seed=8)
    assert first == again
    assert first != other
    inner = bootstrap_intervals("binary", y, p, metrics, n_boot=200, seed=7, level=0.5)
    for name in metrics:
        assert first[name][0] <= inner[name][0] <= inner[name][1] <= first[name][1]


def test_undefined_metric_gives_nan_interval():
    intervals = bootstrap_intervals("binary", [1, 1, 1, 1], [0.2, 0.4, 0.6, 0.8], ["roc_auc"])
    assert all(np.isnan(v) for v in intervals["roc_auc"])


def test_model_beats_prior_baseline_on_breast_cancer(binary_case):
    y, p = binary_case.y_test, binary_case.pred
    prior = baseline_prediction("binary", binary_case.y_train, len(y), classes=[0, 1])
    for metric in ("roc_auc", "log_loss", "f1", "accuracy"):
        result = paired_improvement("binary", y, p, prior, metric, n_boot=500)
        assert result["improvement"] > 0, metric
        low, high = result["interval"]
        assert 0 < low <= result["improvement"] <= high, metric
        assert result["excludes_zero"] and result["significantly_better"]
    auc = paired_improvement("binary", y, p, prior, "roc_auc", n_boot=100)
    assert auc["baseline"] == 0.5
    assert auc["improvement"] == pytest.approx(auc["model"] - 0.5)
    loss = paired_improvement("binary", y, p, prior, "log_loss", n_boot=100)
    assert loss["higher_is_better"] is False
    assert loss["improvement"] == pytest.approx(loss["baseline"] - loss["model"])


def test_baseline_against_itself_is_exactly_zero(binary_case, regression_case):
    y = binary_case.y_test
    prior = baseline_prediction("binary", binary_case.y_train, len(y))
    result = paired_improvement("binary", y, prior, prior, "log_loss", n_boot=200)
    assert result["improvement"] == 0.0
    assert result["interval"] == (0.0, 0.0)
    assert result["excludes_zero"] is False
    mean = baseline_prediction("regression", regression_case.y_train, len(regression_case.y_test))
    same = paired_improvement("regression", regression_case.y_test, mean, mean, "rmse")
    assert same["improvement"] == 0.0
    assert same["interval"] == (0.0, 0.0)


def test_regression_model_beats_mean_baseline(regression_case):
    y, pred = regression_case.y_test, regression_case.pred
    mean = baseline_prediction("regression", regression_case.y_train, len(y))
    result = paired_improvement("regression", y, pred, mean, "rmse", n_boot=500)
    assert result["significantly_better"]
    assert result["improvement"] == pytest.approx(result["baseline"] - result["model"])


def test_bootstrap_is_fast_on_ten_thousand_rows():
    rng = np.random.default_rng(0)
    n = 10_000
    y = rng.integers(0, 2, n)
    p = 1.0 / (1.0 + np.exp(-rng.normal(2.0 * y - 1.0, 1.2)))  # all distinct probabilities
    start = time.perf_counter()
    intervals = bootstrap_intervals("binary", y, p, metrics_for("binary"), n_boot=1000)
    elapsed = time.perf_counter() - start
    assert set(intervals) == set(metrics_for("binary"))
    assert elapsed < 10.0  # about 0.6 s measured on 2 cores; generous for busy machines


def test_bad_arguments_raise(binary_case):
    y, p = binary_case.y_test, binary_case.pred
    with pytest.raises(ValueError, match="level"):
        bootstrap_intervals("binary", y, p, ["f1"], level=95)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_intervals("binary", y, p, ["f1"], n_boot=0)
    with pytest.raises(ValueError, match="does not apply"):
        bootstrap_intervals("binary", y, p, ["rmse"])
    with pytest.raises(ValueError, match="row numbers"):
        bootstrap_distribution("binary", y, p, ["f1"], indices=np.array([[0, len(y)]]))
