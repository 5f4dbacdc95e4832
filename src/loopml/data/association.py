"""How well one column alone predicts the target: out-of-fold scores of a binned model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BINS = 32
_TOP_CATEGORIES = 64
_SMOOTHING = 10.0


@dataclass(frozen=True)
class Association:
    """A column's univariate predictive power: `score` for display, `leak_score` for leakage."""

    score: float  # roc_auc (binary), macro one-vs-rest roc_auc (multiclass) or r2 (regression)
    leak_score: float  # the weakest per-class roc_auc for multiclass; else equal to score
    metric: str


def bin_numeric(values: np.ndarray) -> np.ndarray:
    """Quantile bins (up to 32) of float values; NaN gets its own bin."""
    finite = np.isfinite(values)
    bins = np.full(len(values), _BINS + 1, dtype=np.int64)
    if finite.any():
        edges = np.unique(np.quantile(values[finite], np.linspace(0, 1, _BINS + 1)[1:-1]))
        bins[finite] = np.searchsorted(edges, values[finite], side="right")
    return bins


def bin_codes(codes: np.ndarray) -> np.ndarray:
    """Keep the 64 most frequent category codes; the rest share one bin."""
    counts = np.bincount(codes)
    if len(counts) <= _TOP_CATEGORIES:
        return codes.astype(np.int64)
    keep = np.argsort(-counts, kind="stable")[:_TOP_CATEGORIES]
    mapping = np.full(len(counts), _TOP_CATEGORIES, dtype=np.int64)
    mapping[keep] = np.arange(_TOP_CATEGORIES)
    return mapping[codes]


def association(bins: np.ndarray, target: np.ndarray, task: str, seed: int) -> Association:
    """Out-of-fold (2 folds) score of predicting `target` from per-bin target statistics."""
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, 2, size=len(bins))
    if task == "regression":
        y = target.astype(float)
        predicted = np.empty(len(y))
        for k in (0, 1):
            fit, held = fold != k, fold == k
            predicted[held] = _bin_means(bins[fit], y[fit], bins[held], y[fit].mean())
        sst = ((y - y.mean()) ** 2).sum()
        r2 = 1 - ((y - predicted) ** 2).sum() / sst if sst > 0 else 0.0
        r2 = max(0.0, float(r2))
        return Association(r2, r2, "r2")
    classes, y = np.unique(target, return_inverse=True)
    onehot = np.eye(len(classes))[y]
    proba = np.empty_like(onehot)
    for k in (0, 1):
        fit, held = fold != k, fold == k
        prior = onehot[fit].mean(axis=0)
        for c in range(len(classes)):
            proba[held, c] = _bin_means(bins[fit], onehot[fit, c], bins[held], prior[c])
    aucs = [_auc(onehot[:, c], proba[:, c]) for c in range(len(classes))]
    if len(classes) == 2:
        return Association(aucs[1], aucs[1], "roc_auc")
    return Association(float(np.mean(aucs)), float(np.min(aucs)), "roc_auc_ovr")


def _bin_means(
    fit_bins: np.ndarray, fit_y: np.ndarray, held_bins: np.ndarray, prior: float
) -> np.ndarray:
    size = max(int(fit_bins.max(initial=0)), int(held_bins.max(initial=0))) + 1
    sums = np.bincount(fit_bins, weights=fit_y, minlength=size)
    counts = np.bincount(fit_bins, minlength=size)
    smoothed = (sums + _SMOOTHING * prior) / (counts + _SMOOTHING)
    return smoothed[held_bins]


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged); 0.5 when one class is absent."""
    positives = y.sum()
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return 0.5
    from scipy.stats import rankdata

    ranks = rankdata(score)
    auc = (ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    return max(float(auc), 0.5)
