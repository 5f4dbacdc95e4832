"""Trials in a worker process: same results as in process, stopped at the deadline."""

from __future__ import annotations

import time

import pytest

from loopml.models import get_family
from loopml.search.budget import Budget
from loopml.search.trials import TrialData, run_trial
from loopml.search.worker import TrialWorker
from loopml.spec import CustomFamily


def test_worker_gives_the_in_process_result(cancer: TrialData) -> None:
    with TrialWorker(cancer) as worker:
        remote = worker.run(1, "logistic", {"C": 0.5})
    local = run_trial(cancer, 1, get_family("logistic"), {"C": 0.5})
    assert remote.complete and remote.score == local.score
    assert remote.fold_scores == local.fold_scores


def test_a_trial_past_its_deadline_is_stopped(cancer: TrialData) -> None:
    slow = CustomFamily(
        name="slow",
        estimator="tests.search.slow.SlowClassifier",
        tasks=["binary"],
        params={"seconds": 30},
    )
    with TrialWorker(cancer, [slow]) as worker:
        assert worker.run(1, "logistic", {}).complete  # the worker is up and holds the data
        budget = Budget(2.0, reserve_s=0.5)
        started = time.perf_counter()
        candidate = worker.run(1, "slow", {"seconds": 30}, budget=budget)
        took = time.perf_counter() - started
        assert candidate.status == "pruned" and "time" in candidate.error
        assert took < 5
        # The worker is replaced: the next trial runs.
        after = worker.run(2, "logistic", {})
    assert after.complete


def test_pruning_questions_reach_the_search(cancer: TrialData) -> None:
    asked = []

    def after_fold(step: int, running: float) -> bool:
        asked.append(step)
        return True

    with TrialWorker(cancer) as worker:
        candidate = worker.run(1, "logistic", {}, after_fold=after_fold)
    assert asked == [0] and candidate.status == "pruned"


@pytest.mark.parametrize("family", ["decision_tree"])
def test_worker_without_data_refuses(family: str) -> None:
    with TrialWorker() as worker, pytest.raises(ValueError, match="no data"):
        worker.run(1, family, {})
