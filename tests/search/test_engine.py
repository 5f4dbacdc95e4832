"""The search: baseline first, defaults cheapest first, tuning, pruning, budgets, grids."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from loopml.models import families_for, get_family
from loopml.search.budget import Budget
from loopml.search.engine import search_models, space_grid
from loopml.search.trials import TrialData, run_trial
from tests.search.conftest import trial_data


def test_baseline_then_defaults_then_tuning(cancer: TrialData) -> None:
    families = families_for("binary", ["logistic", "decision_tree"])
    seen = []
    result = search_models(cancer, families, Budget(120), max_trials=6, on_trial=seen.append)
    numbers = [c.number for c in result.candidates]
    assert numbers == list(range(7)) and [c.number for c in seen] == numbers
    assert result.baseline.family == "baseline" and result.baseline.score == pytest.approx(
        0.5, abs=0.05
    )
    assert [c.family for c in result.candidates[1:3]] == ["logistic", "decision_tree"]
    best = result.ranked(cancer)[0]
    assert best.score > 0.95 and best.oof.shape == (569, 2)
    # The better family gets the larger share of the tuning trials.
    tuned = [c.family for c in result.candidates[3:]]
    assert tuned.count(best.family) >= tuned.count("decision_tree")


def test_same_seed_same_trials(cancer: TrialData) -> None:
    families = families_for("binary", ["decision_tree"])
    runs = [search_models(cancer, families, Budget(120), max_trials=5) for _ in range(2)]
    a, b = ([(c.params, c.score, c.status) for c in r.candidates] for r in runs)
    assert a == b


def test_pruned_trials_are_recorded(cancer: TrialData) -> None:
    families = families_for("binary", ["decision_tree"])
    result = search_models(cancer, families, Budget(300), max_trials=25)
    statuses = {c.status for c in result.candidates}
    assert "pruned" in statuses  # the median pruner stops trials behind after a fold
    pruned = next(c for c in result.candidates if c.status == "pruned")
    assert pruned.score is None and pruned.oof is None and pruned.fold_scores


def test_search_stops_within_the_budget() -> None:
    frame = load_diabetes(as_frame=True).frame
    data = trial_data(frame, "target", "regression", "rmse")
    families = families_for("regression", None)
    started = time.perf_counter()
    result = search_models(data, families, Budget(4.0, reserve_s=1.0))
    assert time.perf_counter() - started < 4.5
    assert len(result.ranked(data)) >= 1
    assert result.ranked(data)[0].score < result.baseline.score  # rmse: lower is better


def test_grid_search_covers_a_finite_grid(cancer: TrialData) -> None:
    grid = space_grid(get_family("logistic"), "binary")
    assert list(grid) == ["C"] and len(grid["C"]) == 3
    assert grid["C"][0] == pytest.approx(1e-3) and grid["C"][-1] == pytest.approx(1e3)
    families = families_for("binary", ["logistic"])
    result = search_models(cancer, families, Budget(120), method="grid", max_trials=20)
    tuned = [c.params["C"] for c in result.candidates[2:]]
    assert sorted(tuned) == pytest.approx(sorted(grid["C"]))  # each point once, then stop


def test_unknown_method_is_refused(cancer: TrialData) -> None:
    with pytest.raises(ValueError, match="unknown search method"):
        search_models(cancer, [], Budget(10), method="anneal")


def test_a_failing_trial_is_recorded(cancer: TrialData) -> None:
    candidate = run_trial(cancer, 1, get_family("logistic"), {"C": -1.0})
    assert candidate.status == "failed" and "C" in candidate.error and candidate.oof is None


def test_boosters_remember_their_rounds(cancer: TrialData) -> None:
    candidate = run_trial(
        cancer, 1, get_family("lightgbm"), {"n_estimators": 1000, "learning_rate": 0.3}
    )
    assert candidate.complete and 1 <= candidate.rounds < 1000


def test_thresholded_metric_is_scored_at_its_best_threshold() -> None:
    frame = pd.DataFrame(
        {"x": np.linspace(0, 1, 200), "y": (np.linspace(0, 1, 200) > 0.8).astype(int)}
    )
    data = trial_data(frame, "y", "binary", "f1")
    proba = np.column_stack([1 - frame["x"] / 2, frame["x"] / 2])  # never above 0.5
    assert data.score_of(frame["y"], proba) == pytest.approx(1.0)


def test_tuning_tries_the_portfolio_first(cancer: TrialData) -> None:
    family = get_family("lightgbm")
    assert family.portfolio
    result = search_models(cancer, [family], Budget(120), max_trials=3)
    tuned = result.candidates[2:]
    for candidate, point in zip(tuned, family.portfolio, strict=True):
        assert {k: candidate.params[k] for k in point} == point
