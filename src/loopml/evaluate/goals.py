"""KPI goals of the spec checked against observed figures."""

from __future__ import annotations

import math
from typing import Any

from loopml.spec import Goal

__all__ = ["check_goals"]


def check_goals(goals: list[Goal], observed: dict[str, Any]) -> list[dict[str, Any]]:
    """One result per goal, in the goals' order.

    Each result: {goal: "roc_auc >= 0.85", metric, op, target, observed, passed, status}.
    `observed` maps metric names to values (extra keys are ignored, so a `task_metrics`
    result can be passed as it is). A metric missing from `observed`, or None there (a
    latency goal before the model is served), gives observed None, passed None and status
    "not measured"; a NaN value (a metric undefined on this data) gives observed None,
    passed None and status "undefined"; otherwise status is "pass" or "fail".
    """
    results = []
    for goal in goals:
        value = observed.get(goal.metric)
        passed: bool | None = None
        if value is None:
            status, shown = "not measured", None
        else:
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"the observed value of {goal.metric} is {value!r}, not a number"
                ) from exc
            if math.isnan(number):
                status, shown = "undefined", None
            else:
                passed = bool(goal.met_by(number))
                status, shown = ("pass" if passed else "fail"), number
        results.append(
            {
                "goal": str(goal),
                "metric": goal.metric,
                "op": goal.op,
                "target": goal.value,
                "observed": shown,
                "passed": passed,
                "status": status,
            }
        )
    return results
