"""The model evaluation report: one self-contained HTML page on the chosen model's test results.

The page is built from an `EvaluationView`, plain data gathered after the sealed test set has
been scored once: the header of the run, the KPI goals, the test metrics with their bootstrap
intervals next to the baseline's, the business value, the task's diagnostic charts, the
feature importance, the leaderboard with the spread of the cross-validation scores, and notes.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.evaluate.metrics import metric_direction, metrics_for
from loopml.report.html import (
    DASH,
    draw_chart,
    format_count,
    format_number,
    format_percent,
    format_seconds,
    format_value,
    render,
    write_report,
)

log = logging.getLogger(__name__)

__all__ = ["EvaluationView", "render_evaluation_report", "write_evaluation_report"]

TEMPLATE = "evaluation.html.j2"
UNDEFINED = "undefined"
_RESIDUAL_FIELDS = (
    ("mean", "mean"),
    ("std", "standard deviation"),
    ("q05", "5th percentile"),
    ("q25", "25th percentile"),
    ("q50", "median"),
    ("q75", "75th percentile"),
    ("q95", "95th percentile"),
    ("max_abs_error", "largest absolute error"),
)
_GOAL_BADGE = {"pass": "ok", "fail": "error", "undefined": "warning", "not measured": "info"}


@dataclass(frozen=True, eq=False, kw_only=True)
class EvaluationView:
    """Everything the evaluation report shows, as plain data (no loopml objects).

    Run: `project`, `run_id`, `task` ("binary", "multiclass" or "regression"), `metric` (the
    primary metric) and `higher_is_better`, `classes` (class labels, positive class second
    for binary; None for regression), `seed`, `time_budget_s` (None: no budget),
    `wall_seconds`, `dataset_version`, `split_id`, `started_at` (text), `refit_all`
    (whether a copy refit on every row, test included, was saved for deployment; the
    metrics shown are those measured before it) and `notes` (warnings).

    Chosen model: `chosen` = {"name", "family", "params": dict, "description", optional
    "members": [{"name", "weight"}], "calibration", "threshold", "threshold_reason"}.

    Search: `leaderboard` (a DataFrame, one row per trial; every column is shown) and
    `cv_scores` (family -> every trial's CV score, the baseline included).

    Test: `y_test`; `test_prediction` and `baseline_prediction` (binary: P(positive), 1-d;
    multiclass: (n x k) probabilities in `classes` order; regression: values);
    `test_metrics` and `baseline_metrics` (`loopml.evaluate.task_metrics` results);
    `intervals` (metric -> (low, high) bootstrap interval); `improvement` (a
    `paired_improvement` result for the primary metric, or None); `goals` (`check_goals`
    results); `business` ({"tp", "fp", "tn", "fn", "threshold", "expected_value",
    "baseline_expected_value"}, or None); `feature_importance` ([{"feature", "importance",
    "std"}] permutation importance on the test rows, or None, and `importance_note`: why
    not); `shap` (a
    `loopml.explain.GlobalExplanation` of the test rows, or None).
    """

    project: str
    run_id: str
    task: str
    metric: str
    higher_is_better: bool
    classes: list[Any] | None = None
    seed: int = 0
    time_budget_s: float | None = None
    wall_seconds: float | None = None
    dataset_version: str = ""
    split_id: str = ""
    started_at: str = ""
    chosen: Mapping[str, Any] = field(default_factory=dict)
    leaderboard: pd.DataFrame | None = None
    cv_scores: Mapping[str, Sequence[float]] = field(default_factory=dict)
    y_test: Any
    test_prediction: Any
    baseline_prediction: Any = None
    test_metrics: Mapping[str, Any]
    baseline_metrics: Mapping[str, Any] | None = None
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    improvement: Mapping[str, Any] | None = None
    goals: list[dict[str, Any]] = field(default_factory=list)
    business: Mapping[str, Any] | None = None
    feature_importance: list[dict[str, Any]] | None = None
    importance_note: str | None = None  # why no permutation importance was computed
    shap: Any = None  # a loopml.explain GlobalExplanation of the test rows, or None
    refit_all: bool = False
    notes: list[str] = field(default_factory=list)


def write_evaluation_report(view: EvaluationView, path: Path) -> Path:
    """Write the evaluation report of `view` to `path` as one self-contained HTML page."""
    return write_report(Path(path), render_evaluation_report(view))


def render_evaluation_report(view: EvaluationView) -> str:
    """The evaluation report of `view` as HTML text."""
    from loopml.report import eval_plots  # matplotlib is loaded only when a report is drawn

    context: dict[str, Any] = {
        "header": _header(view),
        "model": _model(view),
        "goals": _goals(view.goals),
        "metrics": _metrics(view),
        "improvement": _improvement(view.improvement),
        "business": _business(view.business),
        "diagnostics": _diagnostics(view, eval_plots),
        "importance": _importance(view, eval_plots),
        "importance_note": view.importance_note,
        "shap": _shap(view),
        "leaderboard": _leaderboard(view, eval_plots),
        "notes": [str(note) for note in view.notes],
    }
    context["toc"] = _toc(context)
    return render(TEMPLATE, **context)


def _toc(context: Mapping[str, Any]) -> list[dict[str, str]]:
    entries = [
        ("summary", "Summary"),
        ("goals", "KPI goals"),
        ("model", "Chosen model"),
        ("metrics", "Test metrics"),
        ("business", "Business value"),
        ("diagnostics", "Diagnostics"),
        ("importance", "Feature importance"),
        ("leaderboard", "Leaderboard"),
        ("notes", f"Notes ({len(context['notes'])})"),
    ]
    return [
        {"id": key, "title": title}
        for key, title in entries
        if key != "business" or context["business"] is not None
    ]


# ----- formatting ----------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """`value` as a float; None when missing, not a number or NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def metric_text(value: Any) -> str:
    """A metric value: 4 significant digits, "undefined" for NaN, a dash when missing."""
    if value is None:
        return DASH
    number = _number(value)
    return UNDEFINED if number is None else format_number(number)


def interval_text(interval: Any) -> str:
    """A (low, high) interval as "low – high"; a dash when missing or undefined."""
    if interval is None or len(interval) != 2:
        return DASH
    low, high = (_number(v) for v in interval)
    if low is None or high is None:
        return DASH
    return f"{format_number(low)} – {format_number(high)}"


def signed_text(value: Any) -> str:
    """A difference with its sign ("+0.12", "-0.3"); a dash when missing or NaN."""
    number = _number(value)
    if number is None:
        return DASH
    if number == 0:
        return "0"
    return ("+" if number > 0 else "-") + format_number(abs(number))


def param_text(value: Any) -> str:
    """A hyperparameter exactly as set ("0.001", "500", "None"), not rounded for reading."""
    if isinstance(value, numbers.Number | str | bool) or value is None:
        return str(value)
    return format_value(value)


# ----- header, model and goals ---------------------------------------------------------
def _time_text(wall_seconds: Any, budget: Any) -> str:
    wall = format_seconds(wall_seconds) if _number(wall_seconds) is not None else DASH
    if _number(budget) is None:
        return f"{wall} (no budget)"
    return f"{wall} of {format_seconds(budget)}"


def _n_rows(view: EvaluationView) -> int:
    if "n_rows" in view.test_metrics:
        return int(view.test_metrics["n_rows"])
    return int(np.shape(view.y_test)[0])


def _header(view: EvaluationView) -> dict[str, Any]:
    primary = view.test_metrics.get(view.metric)
    return {
        "project": str(view.project),
        "run_id": str(view.run_id),
        "task": str(view.task),
        "metric": str(view.metric),
        "direction": "higher is better" if view.higher_is_better else "lower is better",
        "score": metric_text(primary),
        "interval": interval_text(view.intervals.get(view.metric)),
        "chosen": str(view.chosen.get("name") or DASH),
        "rows": format_count(_n_rows(view)),
        "dataset_version": str(view.dataset_version or ""),
        "split_id": str(view.split_id or ""),
        "seed": format_value(view.seed),
        "time": _time_text(view.wall_seconds, view.time_budget_s),
        "started_at": str(view.started_at or DASH),
        "refit_all": bool(view.refit_all),
    }


def _model(view: EvaluationView) -> dict[str, Any]:
    chosen = view.chosen
    params = chosen.get("params") or {}
    members = [
        {"name": str(m.get("name", "?")), "weight": format_number(m.get("weight"))}
        for m in chosen.get("members") or []
    ]
    threshold = chosen.get("threshold")
    return {
        "name": str(chosen.get("name") or DASH),
        "family": str(chosen.get("family") or DASH),
        "description": str(chosen.get("description") or ""),
        "params": [(str(k), param_text(v)) for k, v in sorted(params.items(), key=str)],
        "members": members,
        "calibration": str(chosen.get("calibration") or "none"),
        "threshold": None if threshold is None else format_number(threshold),
        "threshold_reason": str(chosen.get("threshold_reason") or ""),
        "refit_all": bool(view.refit_all),
    }


def _goals(goals: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    rows = [
        {
            "goal": str(g.get("goal") or f"{g.get('metric')} {g.get('op')} {g.get('target')}"),
            "observed": metric_text(g.get("observed")),
            "status": str(g.get("status") or "not measured"),
            "badge": _GOAL_BADGE.get(str(g.get("status")), "warning"),
        }
        for g in goals
    ]
    failed = sum(row["status"] == "fail" for row in rows)
    passed = sum(row["status"] == "pass" for row in rows)
    if not rows:
        verdict, badge = "No KPI goal was set.", None
    elif failed:
        verdict, badge = f"{failed} of {len(rows)} goals missed.", "error"
    elif passed == len(rows):
        verdict, badge = f"All {len(rows)} goals met.", "ok"
    else:
        verdict, badge = (
            f"{passed} of {len(rows)} goals met; the others could not be checked.",
            "warning",
        )
    return {"rows": rows, "verdict": verdict, "badge": badge, "passed": passed, "failed": failed}


# ----- metrics, improvement, business --------------------------------------------------
def _metric_names(view: EvaluationView) -> list[str]:
    try:
        known = metrics_for(view.task)
    except ValueError:
        known = []
    names = [name for name in known if name in view.test_metrics]
    if view.metric in names:
        names.remove(view.metric)
    return [view.metric, *names]


def _better(name: str, difference: float | None) -> str | None:
    """How the model compares with the baseline ("better", "worse", "same"); None if unknown."""
    if difference is None:
        return None
    try:
        higher = metric_direction(name)
    except ValueError:
        return None
    if difference == 0:
        return "same"
    return "better" if (difference > 0) == higher else "worse"


def _metric_row(view: EvaluationView, name: str) -> dict[str, Any]:
    value = view.test_metrics.get(name)
    baseline = (view.baseline_metrics or {}).get(name)
    model_number, base_number = _number(value), _number(baseline)
    difference = None
    if model_number is not None and base_number is not None:
        difference = model_number - base_number
    try:
        arrow = "↑" if metric_direction(name) else "↓"
    except ValueError:
        arrow = ""
    return {
        "name": name,
        "arrow": arrow,
        "primary": name == view.metric,
        "value": metric_text(value),
        "interval": interval_text(view.intervals.get(name)),
        "baseline": metric_text(baseline) if view.baseline_metrics is not None else DASH,
        "difference": signed_text(difference),
        "better": _better(name, difference),
    }


def _metrics(view: EvaluationView) -> dict[str, Any]:
    rows = [_metric_row(view, name) for name in _metric_names(view)]
    threshold_note = None
    if view.task == "binary" and "threshold" in view.test_metrics:
        threshold_note = (
            format_number(view.test_metrics["threshold"]),
            format_value(view.test_metrics.get("positive_class")),
        )
    return {"rows": rows, "threshold": threshold_note, "n_rows": format_count(_n_rows(view))}


def _improvement(improvement: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not improvement:
        return None
    low_high = improvement.get("interval")
    if improvement.get("significantly_better"):
        verdict, badge = "significantly better than the baseline", "ok"
    elif improvement.get("excludes_zero"):
        verdict, badge = "significantly worse than the baseline", "error"
    else:
        verdict, badge = "not significantly different from the baseline", "warning"
    if _number(improvement.get("improvement")) is None:
        verdict, badge = "not comparable with the baseline (undefined metric)", "warning"
    return {
        "metric": str(improvement.get("metric", "")),
        "model": metric_text(improvement.get("model")),
        "baseline": metric_text(improvement.get("baseline")),
        "value": signed_text(improvement.get("improvement")),
        "interval": interval_text(low_high),
        "level": format_percent(improvement.get("level", 0.95), 0),
        "n_boot": format_count(improvement.get("n_boot")),
        "verdict": verdict,
        "badge": badge,
    }


def _business(business: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if business is None:
        return None
    model, base = (
        _number(business.get("expected_value")),
        _number(business.get("baseline_expected_value")),
    )
    gain = None if model is None or base is None else model - base
    outcomes = [
        ("true positive", business.get("tp")),
        ("false positive", business.get("fp")),
        ("true negative", business.get("tn")),
        ("false negative", business.get("fn")),
    ]
    return {
        "outcomes": [(label, metric_text(value)) for label, value in outcomes],
        "threshold": metric_text(business.get("threshold")),
        "expected_value": metric_text(business.get("expected_value")),
        "baseline_expected_value": metric_text(business.get("baseline_expected_value")),
        "gain": signed_text(gain),
    }


# ----- diagnostics by task -------------------------------------------------------------
def _positive_label(view: EvaluationView) -> Any:
    if "positive_class" in view.test_metrics:
        return view.test_metrics["positive_class"]
    if view.classes and len(view.classes) == 2:
        return view.classes[1]
    return 1


def _confusion_chart(view: EvaluationView, plots: Any) -> str | None:
    confusion = view.test_metrics.get("confusion_matrix") or {}
    if not confusion.get("labels"):
        return None
    return draw_chart(plots.confusion_matrix_chart, confusion["labels"], confusion["matrix"])


def _binary_charts(view: EvaluationView, plots: Any) -> list[dict[str, Any]]:
    y = np.asarray(view.y_test)
    p, base = view.test_prediction, view.baseline_prediction
    label = _positive_label(view)
    return [
        {"title": "ROC curve", "uri": draw_chart(plots.roc_curve_chart, y, p, label, base)},
        {
            "title": "Precision-recall curve",
            "uri": draw_chart(plots.pr_curve_chart, y, p, label, base),
        },
        {"title": "Calibration", "uri": draw_chart(plots.calibration_chart, y, p, label)},
        {"title": "Confusion matrix", "uri": _confusion_chart(view, plots)},
    ]


def top_class_correctness(
    y_true: Any, proba: Any, classes: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray]:
    """(highest probability, whether its class is the true one) of each row."""
    p = np.asarray(proba, dtype=np.float64)
    labels = np.empty(len(classes), dtype=object)
    labels[:] = list(classes)
    predicted = labels[np.argmax(p, axis=1)]
    truth = np.asarray(y_true, dtype=object).reshape(-1)
    correct = np.asarray([a == b for a, b in zip(predicted, truth, strict=True)], dtype=bool)
    return p.max(axis=1), correct


def _multiclass_calibration(view: EvaluationView, plots: Any) -> str:
    classes = view.classes or view.test_metrics["confusion_matrix"]["labels"]
    confidence, correct = top_class_correctness(view.y_test, view.test_prediction, classes)
    return plots.calibration_chart(
        correct,
        confidence,
        True,
        title="Calibration of the top-class confidence",
        xlabel="mean top-class probability",
        ylabel="observed share correct",
    )


def _multiclass_charts(view: EvaluationView, plots: Any) -> list[dict[str, Any]]:
    return [
        {"title": "Confusion matrix", "uri": _confusion_chart(view, plots)},
        {
            "title": "Calibration of the top-class confidence",
            "uri": draw_chart(_multiclass_calibration, view, plots),
        },
    ]


def _per_class(view: EvaluationView) -> list[dict[str, str]]:
    per_class = view.test_metrics.get("per_class") or {}
    return [
        {
            "label": format_value(label),
            "precision": metric_text(entry.get("precision")),
            "recall": metric_text(entry.get("recall")),
            "f1": metric_text(entry.get("f1")),
            "support": format_count(entry.get("support")),
            "predicted": format_count(entry.get("predicted")),
        }
        for label, entry in per_class.items()
    ]


def _regression_charts(view: EvaluationView, plots: Any) -> list[dict[str, Any]]:
    y, p = view.y_test, view.test_prediction
    return [
        {"title": "Predicted vs actual", "uri": draw_chart(plots.predicted_vs_actual_chart, y, p)},
        {"title": "Residuals", "uri": draw_chart(plots.residuals_chart, y, p), "wide": True},
    ]


def _residual_rows(view: EvaluationView) -> list[tuple[str, str]]:
    residuals = view.test_metrics.get("residuals") or {}
    return [
        (label, metric_text(residuals[key])) for key, label in _RESIDUAL_FIELDS if key in residuals
    ]


def _diagnostics(view: EvaluationView, plots: Any) -> dict[str, Any]:
    builders = {
        "binary": _binary_charts,
        "multiclass": _multiclass_charts,
        "regression": _regression_charts,
    }
    charts = builders[view.task](view, plots) if view.task in builders else []
    for chart in charts:
        chart.setdefault("wide", False)
    return {
        "task": view.task,
        "charts": charts,
        "per_class": _per_class(view) if view.task == "multiclass" else [],
        "residuals": _residual_rows(view) if view.task == "regression" else [],
        "mape_rows_skipped": int(view.test_metrics.get("mape_rows_skipped") or 0),
    }


# ----- importance and leaderboard ------------------------------------------------------
def _importance_key(entry: Mapping[str, Any]) -> float:
    value = _number(entry.get("importance"))
    return -math.inf if value is None else value


def _importance(view: EvaluationView, plots: Any) -> dict[str, Any] | None:
    if not view.feature_importance:
        return None
    entries = sorted(view.feature_importance, key=_importance_key, reverse=True)
    names = [str(e.get("feature")) for e in entries]
    values = [_number(e.get("importance")) for e in entries]
    errors = [_number(e.get("std")) or 0.0 for e in entries]
    chart = draw_chart(
        plots.importance_chart,
        names,
        [math.nan if v is None else v for v in values],
        errors,
        xlabel=f"loss of {view.metric} when the feature is shuffled",
    )
    rows = [
        (name, metric_text(e.get("importance")), metric_text(e.get("std")))
        for name, e in zip(names, entries, strict=True)
    ]
    return {"chart": chart, "rows": rows, "top": min(len(rows), plots.TOP_FEATURES)}


def _shap(view: EvaluationView) -> dict[str, Any] | None:
    if view.shap is None:
        return None
    from loopml.explain.render import explanation_section

    return explanation_section(view.shap)


def _cell(value: Any, column: str) -> str:
    """One leaderboard cell for people: durations, counts and scores formatted."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return DASH
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if column.endswith(("seconds", "_s")):
            return format_seconds(value)
        if isinstance(value, numbers.Integral):
            return format_count(value)
        return format_number(value)
    return format_value(value)


def _leaderboard_table(frame: pd.DataFrame, chosen: str) -> dict[str, Any]:
    columns = [str(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = [_cell(v, c) for v, c in zip(record, columns, strict=True)]
        named = dict(zip(columns, record, strict=True))
        rows.append({"cells": cells, "chosen": str(named.get("name")) == chosen})
    headers = [
        {"title": c.replace("_", " "), "num": bool(n)}
        for c, n in zip(columns, numeric, strict=True)
    ]
    return {"headers": headers, "rows": rows}


def _leaderboard(view: EvaluationView, plots: Any) -> dict[str, Any]:
    frame = view.leaderboard
    table = None
    if frame is not None and len(frame.columns):
        table = _leaderboard_table(frame, str(view.chosen.get("name")))
    chart = None
    if view.cv_scores:
        chart = draw_chart(
            plots.cv_spread_chart, view.cv_scores, view.metric, view.higher_is_better
        )
    trials = sum(len(scores) for scores in view.cv_scores.values())
    return {"table": table, "chart": chart, "families": len(view.cv_scores), "trials": trials}
