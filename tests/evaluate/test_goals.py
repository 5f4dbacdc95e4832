"""KPI goals: pass, fail, not measured, undefined."""

from __future__ import annotations

import pytest

from loopml.evaluate import check_goals
from loopml.spec import Goal, parse_goal


def _goals(*texts):
    return [Goal(**parse_goal(text)) for text in texts]


def test_pass_fail_and_not_measured():
    goals = _goals("roc_auc >= 0.85", "log_loss < 0.3", "p99_latency_ms <= 50", "f1 > 0.9")
    observed = {"roc_auc": 0.91, "log_loss": 0.35, "f1": float("nan"), "n_rows": 120}
    results = check_goals(goals, observed)
    assert [r["passed"] for r in results] == [True, False, None, None]
    assert [r["status"] for r in results] == ["pass", "fail", "not measured", "undefined"]
    assert results[0] == {
        "goal": "roc_auc >= 0.85",
        "metric": "roc_auc",
        "op": ">=",
        "target": 0.85,
        "observed": 0.91,
        "passed": True,
        "status": "pass",
    }
    assert results[2]["observed"] is None
    assert results[3]["observed"] is None


@pytest.mark.parametrize(
    ("text", "value", "passed"),
    [
        ("rmse <= 10", 10.0, True),
        ("rmse < 10", 10.0, False),
        ("r2 > 0.5", 0.5, False),
        ("r2 >= 0.5", 0.5, True),
    ],
)
def test_boundaries(text, value, passed):
    (result,) = check_goals(_goals(text), {text.split()[0]: value})
    assert result["passed"] is passed


def test_explicit_none_and_bad_values():
    (result,) = check_goals(_goals("throughput_rps >= 100"), {"throughput_rps": None})
    assert result["status"] == "not measured"
    with pytest.raises(ValueError, match="not a number"):
        check_goals(_goals("r2 >= 0.5"), {"r2": "high"})
    assert check_goals([], {"r2": 1.0}) == []
