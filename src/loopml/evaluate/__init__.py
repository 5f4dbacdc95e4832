"""Evaluation: metrics, bootstrap intervals, thresholds, business value, goals, baseline.

Plain functions over numpy arrays returning plain data; see each module's docstring for
its conventions (positive class = `classes[1]`, positive when probability >= threshold).
"""

from loopml.evaluate.baseline import (
    BASELINE_STRATEGIES,
    baseline_prediction,
    default_baseline_strategy,
)
from loopml.evaluate.goals import check_goals
from loopml.evaluate.intervals import (
    bootstrap_distribution,
    bootstrap_indices,
    bootstrap_intervals,
    paired_improvement,
)
from loopml.evaluate.metrics import (
    THRESHOLDED_METRICS,
    metric_direction,
    metrics_for,
    score,
    task_metrics,
)
from loopml.evaluate.thresholds import best_threshold, business_threshold, expected_value

__all__ = [
    "BASELINE_STRATEGIES",
    "THRESHOLDED_METRICS",
    "baseline_prediction",
    "best_threshold",
    "bootstrap_distribution",
    "bootstrap_indices",
    "bootstrap_intervals",
    "business_threshold",
    "check_goals",
    "default_baseline_strategy",
    "expected_value",
    "metric_direction",
    "metrics_for",
    "paired_improvement",
    "score",
    "task_metrics",
]
