"""The non-model baseline: class priors, mean, median."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.evaluate import baseline_prediction, default_baseline_strategy, task_metrics


def test_binary_prior(binary_case):
    y_train = binary_case.y_train
    pred = baseline_prediction("binary", y_train, 7, classes=[0, 1])
    assert pred.shape == (7,)
    assert np.all(pred == np.mean(y_train == 1))
    flipped = baseline_prediction("binary", y_train, 3, classes=[1, 0])
    assert np.allclose(flipped, np.mean(y_train == 0))
    metrics = task_metrics("binary", binary_case.y_test, pred[:1].repeat(len(binary_case.y_test)))
    assert metrics["roc_auc"] == 0.5
    # Benign is the majority: the prior predicts every row positive at 0.5.
    assert metrics["recall"] == 1.0


def test_multiclass_prior(multiclass_case):
    classes = multiclass_case.classes
    y_train = multiclass_case.y_train
    pred = baseline_prediction("multiclass", y_train, 4, classes=classes)
    assert pred.shape == (4, len(classes))
    expected = [np.mean(y_train == c) for c in classes]
    assert np.allclose(pred, expected)
    assert np.allclose(pred.sum(axis=1), 1.0)
    inferred = baseline_prediction("multiclass", y_train, 4)
    assert np.array_equal(inferred, pred)  # default classes: the sorted labels
    absent = baseline_prediction("multiclass", ["a", "a", "b"], 2, classes=["a", "b", "c"])
    assert np.allclose(absent, [[2 / 3, 1 / 3, 0.0]] * 2)


def test_regression_mean_and_median():
    y = np.array([1.0, 2.0, 3.0, 10.0])
    assert np.all(baseline_prediction("regression", y, 3) == 4.0)
    assert np.all(baseline_prediction("regression", y, 3, strategy="median") == 2.5)
    assert default_baseline_strategy("regression", "mae") == "median"
    assert default_baseline_strategy("regression", "rmse") == "mean"
    assert default_baseline_strategy("binary") == "prior"


def test_bad_baseline_arguments():
    with pytest.raises(ValueError, match="does not fit task"):
        baseline_prediction("regression", [1.0, 2.0], 2, strategy="prior")
    with pytest.raises(ValueError, match="does not fit task"):
        baseline_prediction("binary", [0, 1], 2, strategy="mean")
    with pytest.raises(ValueError, match="not among the classes"):
        baseline_prediction("binary", ["a", "b", "c"], 2, classes=["a", "b"])
    with pytest.raises(ValueError, match="missing"):
        baseline_prediction("regression", [1.0, np.nan], 2)
