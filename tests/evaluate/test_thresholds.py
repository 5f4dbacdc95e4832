"""Decision thresholds against brute-force scans and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from loopml.evaluate import best_threshold, business_threshold, expected_value, score


def _candidates(p):
    """Every distinct probability, plus one above the highest (nothing called positive)."""
    values = np.unique(p)[::-1]  # descending: the first maximum is the highest threshold
    return np.r_[np.nextafter(values[0], np.inf), values]


def _brute_force(y, p, fn):
    values = np.array([fn(y, (p >= t).astype(int)) for t in _candidates(p)])
    return _candidates(p), values


SKLEARN = {
    "f1": lambda y, hard: skm.f1_score(y, hard, zero_division=0),
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
}


def test_best_f1_threshold_beats_half_on_imbalanced_data(imbalanced_case):
    y, p = imbalanced_case
    threshold = best_threshold(y, p, "f1")
    at_best = skm.f1_score(y, p >= threshold)
    at_half = skm.f1_score(y, p >= 0.5)
    assert at_best > at_half  # 0.714 against 0.676 with ~10 % positives
    assert threshold < 0.5


@pytest.mark.parametrize("metric", ["f1", "accuracy", "balanced_accuracy"])
def test_best_threshold_equals_brute_force(imbalanced_case, binary_oof, metric):
    for y, p in (imbalanced_case, binary_oof):
        threshold = best_threshold(y, p, metric)
        thresholds, values = _brute_force(y, p, SKLEARN[metric])
        best = values.max()
        assert SKLEARN[metric](y, (p >= threshold).astype(int)) == pytest.approx(best, abs=1e-12)
        winners = thresholds[np.isclose(values, best, rtol=0, atol=1e-12)]
        assert threshold == winners.max()  # ties: the highest threshold
        assert score(metric, y, p, threshold=threshold) == pytest.approx(best, abs=1e-12)


def test_precision_is_guarded_by_min_recall(binary_oof):
    y, p = binary_oof
    thresholds = _candidates(p)
    called = p[None, :] >= thresholds[:, None]  # one row per candidate
    tp = (called & (y == 1)).sum(axis=1)
    precision = np.divide(tp, called.sum(axis=1), out=np.zeros(len(tp)), where=tp > 0)
    recall = tp / (y == 1).sum()
    for min_recall in (0.5, 0.9):
        threshold = best_threshold(y, p, "precision", min_recall=min_recall)
        assert skm.recall_score(y, p >= threshold) >= min_recall
        allowed = recall >= min_recall
        best = precision[allowed].max()
        assert skm.precision_score(y, p >= threshold) == pytest.approx(best, abs=1e-12)
        assert threshold == thresholds[allowed & np.isclose(precision, best, atol=1e-12)].max()
    # Without the guard, the surest rows alone would do.
    unguarded = best_threshold(y, p, "precision", min_recall=0.0)
    assert skm.precision_score(y, p >= unguarded) == 1.0
    assert skm.recall_score(y, p >= unguarded) < 0.5


def test_recall_is_the_lowest_positive_probability(binary_oof):
    y, p = binary_oof
    assert best_threshold(y, p, "recall") == p[y == 1].min()


def test_ties_pick_the_highest_threshold():
    # Thresholds 0.8 and 0.6 both give accuracy 3/4; 0.8 is kept.
    y = [1, 0, 1, 0]
    p = [0.9, 0.8, 0.7, 0.1]
    assert score("accuracy", y, p, threshold=0.9) == score("accuracy", y, p, threshold=0.7)
    assert best_threshold(y, p, "accuracy") == 0.9
    assert best_threshold(y, p, "f1") == 0.7


def test_expected_value_by_hand():
    y = [1, 0, 1, 0, 0]
    p = [0.9, 0.6, 0.4, 0.2, 0.7]
    values = {"tp": 100.0, "fp": -20.0, "tn": 0.0, "fn": -50.0}
    # threshold 0.5: TP row 0, FP rows 1 and 4, FN row 2, TN row 3.
    assert expected_value(y, p, 0.5, **values) == pytest.approx((100 - 40 - 50 + 0) / 5)
    # threshold 0.3: TP rows 0 and 2, FP rows 1 and 4, TN row 3.
    assert expected_value(y, p, 0.3, **values) == pytest.approx((200 - 40) / 5)
    assert business_threshold(y, p, **values) == (0.4, pytest.approx(32.0))


def test_business_threshold_equals_brute_force(imbalanced_case, binary_oof):
    for y, p in (imbalanced_case, binary_oof):
        for values in (
            {"tp": 500.0, "fp": -100.0, "tn": 0.0, "fn": -200.0},
            {"tp": 1.0, "fp": -1.0, "tn": 1.0, "fn": -1.0},
            {"tp": 10.0, "fp": -50.0, "tn": 0.0, "fn": 0.0},
        ):
            threshold, value = business_threshold(y, p, **values)
            thresholds = _candidates(p)
            evs = np.array([expected_value(y, p, t, **values) for t in thresholds])
            assert value == pytest.approx(evs.max(), abs=1e-12)
            assert threshold == thresholds[np.isclose(evs, evs.max(), rtol=0, atol=1e-12)].max()
            assert expected_value(y, p, threshold, **values) == pytest.approx(value, abs=1e-12)


def test_business_threshold_can_call_nothing_positive():
    y = [0, 1, 0, 1]
    p = [0.9, 0.8, 0.3, 0.2]
    threshold, value = business_threshold(y, p, tp=1.0, fp=-100.0, tn=0.0, fn=0.0)
    assert threshold > 0.9
    assert value == 0.0
    assert expected_value(y, p, threshold, tp=1.0, fp=-100.0, tn=0.0, fn=0.0) == 0.0


def test_threshold_bad_input():
    with pytest.raises(ValueError, match="both classes"):
        best_threshold([1, 1, 1], [0.2, 0.5, 0.9], "f1")
    with pytest.raises(ValueError, match="does not depend on a threshold"):
        best_threshold([0, 1], [0.2, 0.9], "roc_auc")
    with pytest.raises(ValueError, match="shape"):
        business_threshold([0, 1], [0.2], tp=1, fp=0, tn=0, fn=0)
    labelled = best_threshold(["no", "yes", "no", "yes"], [0.1, 0.8, 0.6, 0.7], "f1")
    assert labelled == 0.7
