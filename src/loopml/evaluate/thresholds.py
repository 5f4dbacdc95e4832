"""Decision thresholds of a binary classifier: for a metric, or for business value.

A row is predicted positive (`classes[1]`) when its probability is >= the threshold. The
candidates are the distinct probabilities (each one makes every row at or above it
positive) plus one just above the highest probability (`numpy.nextafter(max, inf)`, which
may exceed 1 by one ulp) that predicts no row positive. The scan sorts the probabilities
once and reads the confusion counts of every candidate from cumulative sums: O(n log n).
Ties are broken toward the **highest** threshold (the fewest positive predictions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loopml.evaluate._inputs import binary_classes, encode, labels_array
from loopml.evaluate.metrics import THRESHOLDED_METRICS, binary_scores

__all__ = ["best_threshold", "business_threshold", "expected_value"]


def _binary_inputs(y_true: Any, proba: Any, classes: Any) -> tuple[np.ndarray, np.ndarray]:
    y = labels_array(y_true)
    positive = encode(y, binary_classes(y, classes)) == 1
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    if p.shape != positive.shape:
        raise ValueError(
            f"proba must be the positive-class probability with shape {positive.shape}, "
            f"got {p.shape}"
        )
    if not np.isfinite(p).all():
        raise ValueError("proba holds missing or infinite values")
    return positive, p


def _candidates(
    positive: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds (descending) with TP, FP, TN, FN counts at each."""
    order = np.argsort(-p, kind="stable")
    sorted_p = p[order]
    hits = positive[order]
    # Last position of each run of equal probabilities: everything up to it is positive.
    last = np.flatnonzero(np.r_[sorted_p[1:] != sorted_p[:-1], True])
    tp = np.r_[0, np.cumsum(hits)[last]]
    called = np.r_[0, last + 1]
    fp = called - tp
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    thresholds = np.r_[np.nextafter(sorted_p[0], np.inf), sorted_p[last]]
    return thresholds, tp, fp, n_neg - fp, n_pos - tp


def best_threshold(
    y_true: Any,
    proba: Any,
    metric: str,
    *,
    classes: Any = None,
    min_recall: float = 0.5,
) -> float:
    """The threshold that maximises a thresholded binary metric on (y_true, proba).

    metric: f1, accuracy, balanced_accuracy, precision or recall.
    - precision alone would pick the threshold that calls only the surest row positive;
      it is maximised among the thresholds whose recall is at least `min_recall`.
    - recall is maximised trivially by calling everything positive; the tie rule (highest
      threshold) makes the answer the lowest probability of a positive row, where recall
      first reaches 1.
    Needs both classes in y_true.
    """
    if metric not in THRESHOLDED_METRICS:
        raise ValueError(
            f"metric {metric!r} does not depend on a threshold; "
            f"choose one of {', '.join(THRESHOLDED_METRICS)}"
        )
    if not 0.0 <= min_recall <= 1.0:
        raise ValueError(f"min_recall must lie between 0 and 1, got {min_recall}")
    positive, p = _binary_inputs(y_true, proba, classes)
    if positive.all() or not positive.any():
        raise ValueError("choosing a threshold needs both classes in y_true")
    thresholds, tp, fp, tn, fn = _candidates(positive, p)
    scores = binary_scores(tp, fp, tn, fn)
    values = scores[metric]
    if metric == "precision":
        values = np.where(scores["recall"] >= min_recall, values, -np.inf)
    return float(thresholds[int(np.argmax(values))])


def _value(tp: Any, fp: Any, tn: Any, fn: Any, values: tuple[float, float, float, float]):
    v_tp, v_fp, v_tn, v_fn = values
    n = tp + fp + tn + fn
    return (tp * v_tp + fp * v_fp + tn * v_tn + fn * v_fn) / n


def expected_value(
    y_true: Any,
    proba: Any,
    threshold: float,
    *,
    tp: float,
    fp: float,
    tn: float,
    fn: float,
    classes: Any = None,
) -> float:
    """Mean value per decision at `threshold`, given the value of each outcome.

    tp, fp, tn, fn: the value of one true positive, false positive, true negative and false
    negative (benefits positive, costs negative). Returns
    (TP*tp + FP*fp + TN*tn + FN*fn) / n.
    """
    positive, p = _binary_inputs(y_true, proba, classes)
    called = p >= threshold
    counts = (
        int((called & positive).sum()),
        int((called & ~positive).sum()),
        int((~called & ~positive).sum()),
        int((~called & positive).sum()),
    )
    return float(_value(*(np.float64(c) for c in counts), (tp, fp, tn, fn)))


def business_threshold(
    y_true: Any,
    proba: Any,
    *,
    tp: float,
    fp: float,
    tn: float,
    fn: float,
    classes: Any = None,
) -> tuple[float, float]:
    """(threshold, expected value per decision) maximising the expected value.

    The outcome values are as in `expected_value`. Calling no row positive is a candidate
    (threshold just above the highest probability), so is calling every row positive.
    """
    positive, p = _binary_inputs(y_true, proba, classes)
    thresholds, c_tp, c_fp, c_tn, c_fn = _candidates(positive, p)
    values = _value(*(c.astype(np.float64) for c in (c_tp, c_fp, c_tn, c_fn)), (tp, fp, tn, fn))
    best = int(np.argmax(values))
    return float(thresholds[best]), float(values[best])
