"""The one evaluation of the chosen model on the sealed test part, next to the baseline."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from loopml.evaluate.baseline import baseline_prediction, default_baseline_strategy
from loopml.evaluate.goals import check_goals
from loopml.evaluate.intervals import bootstrap_intervals, paired_improvement
from loopml.evaluate.metrics import metrics_for, task_metrics
from loopml.evaluate.thresholds import expected_value
from loopml.spec import Goal, Outcomes

N_BOOT = 1000


def evaluate_on_test(
    task: str,
    metric: str,
    y_test: Any,
    prediction: np.ndarray,
    y_train: Any,
    *,
    classes: list[Any] | None,
    threshold: float = 0.5,
    goals: list[Goal] | None = None,
    value: Outcomes | None = None,
    seed: int = 0,
    n_boot: int = N_BOOT,
) -> dict[str, Any]:
    """Test metrics with bootstrap intervals, the baseline's, the improvement, goals, value.

    `prediction` is P(classes[1]) for binary, (n, k) probabilities for multiclass, values for
    regression; the baseline is fitted on `y_train` (prior or mean/median, see `baseline`).
    Returns {metrics, intervals, baseline_prediction, baseline_metrics, improvement, goals,
    business}.
    """
    strategy = default_baseline_strategy(task, metric)
    baseline = baseline_prediction(task, y_train, len(y_test), classes=classes, strategy=strategy)
    metrics = task_metrics(task, y_test, prediction, classes=classes, threshold=threshold)
    baseline_metrics = task_metrics(task, y_test, baseline, classes=classes, threshold=threshold)
    names = metrics_for(task)
    intervals = bootstrap_intervals(
        task,
        y_test,
        prediction,
        names,
        classes=classes,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
    )
    improvement = None
    if not math.isnan(metrics[metric]) and not math.isnan(baseline_metrics[metric]):
        improvement = paired_improvement(
            task,
            y_test,
            prediction,
            baseline,
            metric,
            classes=classes,
            threshold=threshold,
            n_boot=n_boot,
            seed=seed,
        )
    business = None
    if value is not None and task == "binary":
        outcome = value.model_dump()
        business = {
            **outcome,
            "threshold": threshold,
            "expected_value": expected_value(
                y_test, prediction, threshold, classes=classes, **outcome
            ),
            # The baseline decides the same way for every row: all positive or all negative.
            "baseline_expected_value": max(
                expected_value(y_test, np.ones(len(y_test)), 0.5, classes=classes, **outcome),
                expected_value(y_test, np.zeros(len(y_test)), 0.5, classes=classes, **outcome),
            ),
        }
    return {
        "metrics": metrics,
        "intervals": {name: [float(low), float(high)] for name, (low, high) in intervals.items()},
        "baseline_prediction": baseline,
        "baseline_metrics": baseline_metrics,
        "improvement": improvement,
        "goals": check_goals(goals or [], metrics),
        "business": business,
    }
