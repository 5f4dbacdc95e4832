"""Metrics against scikit-learn and hand counts, edge cases included."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from loopml.evaluate import metric_direction, metrics_for, score, task_metrics
from loopml.spec import METRICS
from tests.evaluate.reference import sklearn_binary, sklearn_multiclass

# Our metrics never warn, whatever the edge case.
pytestmark = pytest.mark.filterwarnings("error")


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.9])
def test_binary_metrics_equal_sklearn(binary_case, threshold):
    y, p = binary_case.y_test, binary_case.pred
    result = task_metrics("binary", y, p, threshold=threshold)
    expected = sklearn_binary(y, p, threshold)
    assert set(metrics_for("binary")) == set(expected)
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, abs=1e-12), name
        assert score(name, y, p, threshold=threshold) == pytest.approx(value, abs=1e-12)
    cm = skm.confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1])
    assert result["confusion_matrix"] == {"labels": [0, 1], "matrix": cm.tolist()}
    assert result["threshold"] == threshold
    assert result["positive_class"] == 1
    assert result["n_rows"] == len(y)


def test_hand_counted_ten_rows():
    y = ["no", "yes", "yes", "no", "yes", "no", "no", "yes", "no", "no"]
    p = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.55, 0.1, 0.5]
    # Predicted "yes" (p >= 0.5): rows 0, 1, 2, 3, 7, 9.
    # TP: rows 1, 2, 7 = 3; FP: rows 0, 3, 9 = 3; FN: row 4 = 1; TN: rows 5, 6, 8 = 3.
    result = task_metrics("binary", y, p, classes=["no", "yes"])
    assert result["confusion_matrix"] == {"labels": ["no", "yes"], "matrix": [[3, 3], [1, 3]]}
    assert result["precision"] == pytest.approx(3 / 6)
    assert result["recall"] == pytest.approx(3 / 4)
    assert result["f1"] == pytest.approx(2 * 3 / (2 * 3 + 3 + 1))  # 0.6
    assert result["accuracy"] == pytest.approx(6 / 10)
    assert result["balanced_accuracy"] == pytest.approx((3 / 4 + 3 / 6) / 2)
    assert result["brier"] == pytest.approx(np.mean((np.array(p) - (np.array(y) == "yes")) ** 2))
    # AUC by hand: pairs (positive, negative) where the positive scores higher.
    pos = [0.8, 0.7, 0.4, 0.55]
    neg = [0.9, 0.6, 0.3, 0.2, 0.1, 0.5]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    assert result["roc_auc"] == pytest.approx(wins / 24)
    # Swapping the classes swaps the positive class: recall becomes the TN rate.
    flipped = task_metrics("binary", y, 1 - np.array(p), classes=["yes", "no"], threshold=0.5)
    assert flipped["positive_class"] == "no"
    assert flipped["recall"] == pytest.approx(
        skm.recall_score(y, np.where(1 - np.array(p) >= 0.5, "no", "yes"), pos_label="no")
    )


def test_auc_and_average_precision_with_ties():
    # scikit-learn's documented examples.
    assert score("roc_auc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert score("pr_auc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.8333333333)
    y = [0, 1, 0, 1, 1, 0, 1, 0]
    p = [0.5, 0.5, 0.2, 0.8, 0.2, 0.8, 0.5, 0.1]
    assert score("roc_auc", y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert score("pr_auc", y, p) == pytest.approx(skm.average_precision_score(y, p))


def test_multiclass_metrics_equal_sklearn(multiclass_case):
    y, proba, classes = multiclass_case.y_test, multiclass_case.pred, multiclass_case.classes
    hard = np.asarray(classes)[proba.argmax(axis=1)]
    result = task_metrics("multiclass", y, proba, classes=classes)
    expected = sklearn_multiclass(y, proba, classes)
    assert set(metrics_for("multiclass")) == set(expected)
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, abs=1e-12), name
        assert score(name, y, proba, classes=classes) == pytest.approx(value, abs=1e-12)
    precision = skm.precision_score(y, hard, labels=classes, average=None, zero_division=0)
    recall = skm.recall_score(y, hard, labels=classes, average=None, zero_division=0)
    for j, label in enumerate(classes):
        assert result["per_class"][label]["precision"] == pytest.approx(precision[j])
        assert result["per_class"][label]["recall"] == pytest.approx(recall[j])
        assert result["per_class"][label]["support"] == int((y == label).sum())
    cm = skm.confusion_matrix(y, hard, labels=classes)
    assert result["confusion_matrix"] == {"labels": classes, "matrix": cm.tolist()}


def test_regression_metrics_equal_sklearn(regression_case):
    y, pred = regression_case.y_test, regression_case.pred
    result = task_metrics("regression", y, pred)
    expected = {
        "rmse": skm.root_mean_squared_error(y, pred),
        "mae": skm.mean_absolute_error(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),  # diabetes has no zero target
        "r2": skm.r2_score(y, pred),
    }
    assert set(metrics_for("regression")) == set(expected)
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, rel=1e-12), name
    residual = pd.Series(y - pred)
    summary = result["residuals"]
    assert summary["mean"] == pytest.approx(residual.mean())
    assert summary["std"] == pytest.approx(residual.std(ddof=0))
    for q in (5, 25, 50, 75, 95):
        assert summary[f"q{q:02d}"] == pytest.approx(residual.quantile(q / 100))
    assert summary["max_abs_error"] == pytest.approx(residual.abs().max())
    assert result["mape_rows_skipped"] == 0


def test_single_class_makes_ranking_metrics_nan_without_exception():
    y = [1, 1, 1, 1]
    p = [0.2, 0.9, 0.6, 0.4]
    assert np.isnan(score("roc_auc", y, p))
    assert np.isnan(score("pr_auc", [0, 0, 0], [0.1, 0.5, 0.9]))
    result = task_metrics("binary", y, p)
    assert np.isnan(result["roc_auc"])
    assert result["pr_auc"] == pytest.approx(1.0)
    assert result["recall"] == pytest.approx(0.5)
    assert result["balanced_accuracy"] == pytest.approx(0.5)  # recall of the only class
    assert result["confusion_matrix"]["matrix"] == [[0, 0], [2, 2]]
    # A single string label needs the classes to know which one is positive.
    with pytest.raises(ValueError, match="classes"):
        score("roc_auc", ["yes", "yes"], [0.2, 0.3])
    assert np.isnan(score("roc_auc", ["yes", "yes"], [0.2, 0.3], classes=["no", "yes"]))


def test_log_loss_clips_exact_zero_and_one_as_sklearn():
    y = [0, 1, 1, 0, 1]
    p = [0.0, 1.0, 0.0, 1.0, 0.7]
    value = score("log_loss", y, p)
    assert np.isfinite(value)
    assert value == pytest.approx(skm.log_loss(y, p), rel=1e-12)
    proba = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]])
    y3 = ["a", "c", "c", "b"]
    assert score("log_loss", y3, proba, classes=["a", "b", "c"]) == pytest.approx(
        skm.log_loss(y3, proba, labels=["a", "b", "c"]), rel=1e-12
    )


def test_constant_predictions():
    y = [0, 1, 0, 0, 1, 0, 1, 0]
    p = np.full(8, 0.375)
    result = task_metrics("binary", y, p)
    assert result["roc_auc"] == 0.5
    assert result["pr_auc"] == pytest.approx(3 / 8)  # the prevalence
    assert result["precision"] == 0.0  # nothing predicted positive: zero_division = 0
    assert result["recall"] == 0.0
    assert result["f1"] == 0.0
    assert result["accuracy"] == pytest.approx(5 / 8)
    assert result["balanced_accuracy"] == 0.5
    regression = task_metrics("regression", [1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert regression["r2"] == pytest.approx(0.0)


def test_mape_skips_zero_targets():
    y = np.array([0.0, 2.0, 4.0, 0.0, 10.0])
    pred = np.array([1.0, 1.0, 5.0, -3.0, 10.0])
    expected = (0.5 + 0.25 + 0.0) / 3
    assert score("mape", y, pred) == pytest.approx(expected)
    nonzero = y != 0
    assert expected == pytest.approx(skm.mean_absolute_percentage_error(y[nonzero], pred[nonzero]))
    result = task_metrics("regression", y, pred)
    assert result["mape_rows_skipped"] == 2
    assert np.isnan(score("mape", [0.0, 0.0], [1.0, 2.0]))


def test_r2_edge_cases():
    assert score("r2", [3.0, 3.0, 3.0], [3.0, 3.0, 3.0]) == 1.0
    assert score("r2", [3.0, 3.0, 3.0], [3.0, 2.0, 3.0]) == 0.0
    assert score("r2", [0.1, 0.1, 0.1], [0.2, 0.1, 0.1]) == 0.0
    assert np.isnan(score("r2", [3.0], [2.0]))


def test_class_never_predicted(multiclass_case):
    classes = multiclass_case.classes
    y = np.array([classes[0]] * 3 + [classes[1]] * 3 + [classes[2]] * 2)
    # Class 2 always has the lowest probability: it is never predicted.
    proba = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.6, 0.3, 0.1],
            [0.3, 0.6, 0.1],
            [0.2, 0.7, 0.1],
            [0.4, 0.5, 0.1],
            [0.5, 0.4, 0.1],
            [0.5, 0.3, 0.2],
            [0.3, 0.5, 0.2],
        ]
    )
    hard = np.asarray(classes)[proba.argmax(axis=1)]
    result = task_metrics("multiclass", y, proba, classes=classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert result["f1_macro"] == pytest.approx(skm.f1_score(y, hard, average="macro"))
        assert result["f1_weighted"] == pytest.approx(skm.f1_score(y, hard, average="weighted"))
        assert result["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, hard))
    never = result["per_class"][classes[2]]
    assert never == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2, "predicted": 0}
    # Binary: a threshold above every probability predicts no positive.
    binary = task_metrics("binary", [0, 1, 1, 0], [0.1, 0.4, 0.3, 0.2])
    assert binary["precision"] == 0.0
    assert binary["confusion_matrix"]["matrix"] == [[2, 0], [2, 0]]


def test_multiclass_auc_averages_the_classes_present():
    classes = ["a", "b", "c"]
    y = ["a", "b", "b", "a", "a", "b"]  # "c" is absent
    proba = np.array(
        [
            [0.6, 0.3, 0.1],
            [0.2, 0.5, 0.3],
            [0.5, 0.4, 0.1],
            [0.3, 0.3, 0.4],
            [0.7, 0.2, 0.1],
            [0.1, 0.1, 0.8],
        ]
    )
    y_arr = np.asarray(y)
    per_class = [skm.roc_auc_score(y_arr == c, proba[:, j]) for j, c in enumerate(classes[:2])]
    assert score("roc_auc", y, proba, classes=classes) == pytest.approx(np.mean(per_class))
    assert np.isnan(score("roc_auc", ["a", "a"], proba[:2], classes=classes))


def test_metric_direction_reuses_the_spec_table():
    for name, (_, higher) in METRICS.items():
        assert metric_direction(name) is higher
    assert metric_direction("p99_latency_ms") is False
    with pytest.raises(ValueError, match="unknown metric"):
        metric_direction("auc")


def test_label_types_and_shapes():
    y_bool = np.array([True, False, True, False])
    p = np.array([0.9, 0.2, 0.4, 0.6])
    assert score("accuracy", y_bool, p) == score("accuracy", y_bool.astype(int), p)
    assert score("f1", y_bool, p, classes=[0, 1]) == score("f1", y_bool.astype(int), p)
    two_columns = np.c_[1 - p, p]
    assert task_metrics("binary", y_bool, two_columns)["roc_auc"] == score("roc_auc", y_bool, p)
    series = pd.Series(["x", "y", "x", "y"], dtype="category")
    assert score("accuracy", series, p, classes=["x", "y"]) == 0.5
    # A 2-d prediction makes a shared metric multiclass; `task` overrides.
    assert score("accuracy", [0, 1, 1], np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])) == (
        pytest.approx(2 / 3)
    )
    assert score("mae", [1, 2], [2, 2]) == 0.5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: score("f1", [0, 1, 2], [0.1, 0.2, 0.3]), "two classes"),
        (lambda: score("f1", [0, 1], [0.1, 0.2, 0.3]), "shape"),
        (lambda: score("f1", [0, 1], [0.1, 1.2]), "between 0 and 1"),
        (lambda: score("f1", [0, 1], [0.1, np.nan]), "missing"),
        (lambda: score("f1", ["a", "b"], [0.1, 0.2], classes=["a", "c"]), "'b'"),
        (lambda: score("rmse", [1.0, 2.0], [1.0]), "shape"),
        (lambda: score("nope", [1.0], [1.0]), "unknown metric"),
        (lambda: score("rmse", [1.0], [1.0], task="binary"), "does not apply"),
        (lambda: task_metrics("ranking", [1], [1]), "unknown task"),
        (lambda: score("log_loss", [0, 1], np.ones((2, 3)) / 3, classes=[0, 1]), "columns"),
        (lambda: score("accuracy", [], []), "empty"),
    ],
)
def test_bad_input_raises_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
