"""Greedy ensembles and calibration on predictions with known structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.evaluate import score
from loopml.search.calibrate import choose_calibration
from loopml.search.ensemble import greedy_ensemble
from loopml.search.trials import Candidate, TrialData
from tests.search.conftest import trial_data

ROWS = 4000


def _binary_truth(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, ROWS)
    y = (rng.uniform(size=ROWS) < p).astype(int)
    return pd.DataFrame({"x": p, "y": y}), p


def _candidate(number: int, data: TrialData, proba: np.ndarray) -> Candidate:
    oof = np.column_stack([1 - proba, proba])
    return Candidate(number, "custom", {}, oof=oof, score=data.oof_score(oof))


def test_averaging_independent_noise_wins() -> None:
    frame, p = _binary_truth()
    data = trial_data(frame, "y", "binary", "log_loss")
    rng = np.random.default_rng(1)
    logit = np.log(p / (1 - p))
    noisy = [1 / (1 + np.exp(-(logit + rng.normal(0, 1.5, ROWS)))) for _ in range(3)]
    candidates = sorted(
        (_candidate(i, data, q) for i, q in enumerate(noisy)), key=lambda c: c.score
    )
    ensemble = greedy_ensemble(data, candidates)
    assert len(ensemble.members) >= 2
    assert sum(ensemble.weights) == pytest.approx(1.0)
    assert ensemble.score < candidates[0].score  # log loss: lower is better


def test_one_dominant_model_stays_alone() -> None:
    frame, p = _binary_truth()
    data = trial_data(frame, "y", "binary", "roc_auc")
    good = _candidate(0, data, p)
    bad = _candidate(1, data, np.full(ROWS, 0.5))
    ensemble = greedy_ensemble(data, [good, bad])
    assert [m.number for m in ensemble.members] == [0]


def test_overconfident_probabilities_are_calibrated() -> None:
    frame, p = _binary_truth()
    data = trial_data(frame, "y", "binary", "roc_auc")
    logit = np.log(p / (1 - p))
    sharp = 1 / (1 + np.exp(-3 * logit))  # far too sure of itself
    oof = np.column_stack([1 - sharp, sharp])
    calibration, report = choose_calibration(data, oof)
    assert calibration is not None and report["chosen"] in ("sigmoid", "isotonic")
    fixed = calibration.transform(oof)[:, 1]
    before = score("log_loss", frame["y"], sharp, task="binary")
    after = score("log_loss", frame["y"], fixed, task="binary")
    assert after < before * 0.9
    assert report["cross_fitted_log_loss"][report["chosen"]] < report["raw_log_loss"]


def test_calibrated_probabilities_are_left_alone() -> None:
    frame, p = _binary_truth()
    data = trial_data(frame, "y", "binary", "roc_auc")
    calibration, report = choose_calibration(data, np.column_stack([1 - p, p]))
    assert calibration is None and report["chosen"] is None


def test_multiclass_temperature_scaling() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 1, (ROWS, 3))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in true])
    frame = pd.DataFrame({"x": logits[:, 0], "y": y})
    data = trial_data(frame, "y", "multiclass", "log_loss")
    hot = np.exp(4 * logits)
    hot /= hot.sum(axis=1, keepdims=True)
    calibration, _ = choose_calibration(data, hot)
    assert calibration is not None and calibration.kind == "temperature"
    assert calibration.params["t"] == pytest.approx(4.0, rel=0.25)
