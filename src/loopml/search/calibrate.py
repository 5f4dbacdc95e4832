"""Probability calibration, applied only when it lowers the out-of-fold log loss.

Candidates: Platt scaling of the log-odds ("sigmoid") and isotonic regression for binary
tasks, temperature scaling for multiclass. Each is judged cross-fitted: the out-of-fold rows
are cut into `CHUNKS` seeded chunks, each chunk calibrated by a calibration fitted on the
others, so the comparison with the raw probabilities is not flattered by fitting and scoring
on the same rows. The winner is then fitted on every out-of-fold row.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from loopml.evaluate import score
from loopml.models.trained import Calibration
from loopml.search.trials import TrialData

CHUNKS = 5
MIN_GAIN = 1e-4  # relative log-loss improvement a calibration must bring to be kept
_EPS = 1e-12


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _fit(kind: str, proba: np.ndarray, codes: np.ndarray) -> Calibration:
    if kind == "temperature":
        from scipy.optimize import minimize_scalar

        logs = np.log(np.clip(proba, _EPS, 1.0))
        picked = np.arange(len(codes))

        def loss(log_t: float) -> float:
            z = logs / np.exp(log_t)
            z -= z.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(z).sum(axis=1))
            return float(np.mean(log_norm - z[picked, codes]))

        found = minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded")
        return Calibration("temperature", {"t": float(np.exp(found.x))})
    p = proba[:, 1]
    if kind == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p)[:, None], codes)
        return Calibration(
            "sigmoid", {"a": float(model.coef_[0, 0]), "b": float(model.intercept_[0])}
        )
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, codes)
    return Calibration(
        "isotonic",
        {
            "x": [float(v) for v in model.X_thresholds_],
            "y": [float(v) for v in model.y_thresholds_],
        },
    )


def _log_loss(data: TrialData, y: Any, proba: np.ndarray) -> float:
    pred = proba[:, 1] if data.task == "binary" else proba
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return score("log_loss", y, pred, classes=data.classes, task=data.task)


def choose_calibration(
    data: TrialData, oof: np.ndarray
) -> tuple[Calibration | None, dict[str, Any]]:
    """The calibration that lowers the cross-fitted log loss most (None if none does), and why."""
    rows = data.validated_rows
    proba, y = oof[rows], data.y.iloc[rows]
    position = {value: j for j, value in enumerate(data.classes)}
    codes = np.array([position[value] for value in y])
    kinds = ["sigmoid", "isotonic"] if data.task == "binary" else ["temperature"]
    raw = _log_loss(data, y, proba)
    chunk = np.random.default_rng(data.seed).permutation(len(rows)) % CHUNKS
    losses = {}
    for kind in kinds:
        calibrated = np.empty_like(proba)
        for part in range(CHUNKS):
            held = chunk == part
            if held.all() or not held.any() or len(np.unique(codes[~held])) < 2:
                calibrated[held] = proba[held]
                continue
            calibrated[held] = _fit(kind, proba[~held], codes[~held]).transform(proba[held])
        losses[kind] = _log_loss(data, y, calibrated)
    best = min(kinds, key=lambda kind: losses[kind])
    report = {"raw_log_loss": raw, "cross_fitted_log_loss": losses, "chosen": None}
    if not np.isfinite(losses[best]) or losses[best] > raw * (1 - MIN_GAIN):
        return None, report
    report["chosen"] = best
    return _fit(best, proba, codes), report
