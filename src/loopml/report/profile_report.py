"""The data-profile report: one self-contained HTML page describing a profiled dataset version."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from loopml.data.findings import SEVERITY_RANK, Finding
from loopml.data.profile import ProfileResult
from loopml.data.stats import ColumnStats
from loopml.report.html import (
    draw_chart,
    format_count,
    format_number,
    format_percent,
    format_value,
    render,
    write_report,
)

log = logging.getLogger(__name__)

TEMPLATE = "profile.html.j2"
MAX_BARS = 30  # classes, top values, missing-rate and association bars drawn at most
TOP_PAIRS = 10  # strongest correlated pairs listed under the heatmap

# (attribute, label, formatter) of the per-column statistics, in the order shown
_STAT_FIELDS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("count", "count", format_count),
    ("missing", "missing", format_count),
    ("unique", "unique", format_count),
    ("mean", "mean", format_number),
    ("std", "std", format_number),
    ("min", "min", format_value),
    ("q25", "25%", format_value),
    ("median", "median", format_value),
    ("q75", "75%", format_value),
    ("max", "max", format_value),
    ("zeros", "zeros", format_count),
    ("outliers", "outliers", format_count),
    ("text_length_mean", "mean text length", format_number),
)


def write_profile_report(result: ProfileResult, path: Path) -> Path:
    """Write the profile report of `result` to `path` as one self-contained HTML page."""
    return write_report(Path(path), render_profile_report(result))


def render_profile_report(result: ProfileResult) -> str:
    """The profile report of `result` as HTML text."""
    from loopml.report import plots  # matplotlib is loaded only when a report is drawn

    findings = sorted_findings(result.findings)
    by_column: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        for name in dict.fromkeys(finding["columns"]):
            by_column.setdefault(name, []).append(finding)

    columns = [
        _column_view(index, stats, by_column.get(stats.name, []), plots)
        for index, stats in enumerate(result.column_stats)
    ]
    context = {
        "header": _header(result, findings),
        "findings": findings,
        "cleaning": _cleaning(result),
        "overview": _overview(result, plots),
        "target": _target(result, plots),
        "association": _association(result, plots),
        "correlations": _correlations(result, plots),
        "columns": columns,
    }
    context["toc"] = [
        {"id": "summary", "title": "Summary"},
        {"id": "findings", "title": f"Findings ({len(findings)})"},
        {"id": "cleaning", "title": "Cleaning"},
        {"id": "overview", "title": "Overview"},
        {"id": "target", "title": "Target"},
        {"id": "association", "title": "Association with target"},
        {"id": "correlations", "title": "Correlations"},
        {
            "id": "columns",
            "title": f"Columns ({len(columns)})",
            "children": [{"id": c["id"], "title": c["name"]} for c in columns],
        },
    ]
    return render(TEMPLATE, **context)


def sorted_findings(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Findings as plain dicts, errors first, then warnings, then infos (stable otherwise)."""
    views = [
        {
            "severity": str(f.severity),
            "check": f.check,
            "columns": [str(c) for c in f.columns],
            "message": f.message,
        }
        for f in findings
    ]
    return sorted(views, key=lambda v: -SEVERITY_RANK.get(v["severity"], -1))


def _histogram_parts(histogram: Any) -> tuple[list[Any], list[Any]] | None:
    """(edges, counts) of a `Histogram` or of a dict with those keys; None when absent."""
    if histogram is None:
        return None
    if isinstance(histogram, Mapping):
        edges, counts = histogram.get("edges"), histogram.get("counts")
    else:
        edges, counts = getattr(histogram, "edges", None), getattr(histogram, "counts", None)
    if not edges or not counts:
        return None
    return list(edges), list(counts)


def _is_number(value: Any) -> bool:
    try:
        return value is not None and not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _header(result: ProfileResult, findings: list[dict[str, Any]]) -> dict[str, Any]:
    severities = Counter(f["severity"] for f in findings)
    return {
        "version": result.version,
        "source": result.source,
        "rows": result.rows,
        "columns": result.columns,
        "target": result.target,
        "task": result.task,
        "duplicate_rows": result.duplicate_rows,
        "elapsed_s": result.elapsed_s,
        "errors": severities.get("error", 0),
        "warnings": severities.get("warning", 0),
        "infos": severities.get("info", 0),
    }


def _cleaning(result: ProfileResult) -> dict[str, Any]:
    operations = []
    for operation in result.cleaning:
        operation = dict(operation)
        columns = operation.pop("columns", None) or []
        if isinstance(columns, str):
            columns = [columns]
        operations.append(
            {
                "op": str(operation.pop("op", "?")),
                "columns": [str(c) for c in columns],
                "rows_removed": operation.pop("rows_removed", None),
                "details": [(str(k), format_value(v)) for k, v in operation.items()],
            }
        )
    return {
        "operations": operations,
        "version": result.cleaned_version,
        "rows": result.cleaned_rows,
        "columns": result.cleaned_columns,
    }


def _overview(result: ProfileResult, plots: Any) -> dict[str, Any]:
    stats = result.column_stats
    missing = sorted(
        (s for s in stats if s.missing > 0), key=lambda s: s.missing_rate, reverse=True
    )
    shown = missing[:MAX_BARS]
    missing_chart = None
    if shown:
        missing_chart = draw_chart(
            plots.bar_chart,
            [s.name for s in shown],
            [round(s.missing_rate * 100, 2) for s in shown],
            title="Missing values per column",
            xlabel="missing (% of rows)",
        )
    roles: dict[str, dict[str, int]] = {}
    for s in stats:
        entry = roles.setdefault(s.role, {"count": 0, "spec": 0})
        entry["count"] += 1
        entry["spec"] += s.role_source == "spec"
    return {
        "rows": [
            {
                "name": s.name,
                "role": s.role,
                "role_source": s.role_source,
                "dtype": s.dtype,
                "missing_rate": s.missing_rate,
                "unique": s.unique,
                "association": s.target_association,
                "metric": s.association_metric,
                "is_target": s.name == result.target,
            }
            for s in stats
        ],
        "missing_columns": len(missing),
        "missing_more": len(missing) - len(shown),
        "missing_chart": missing_chart,
        "roles": sorted(roles.items(), key=lambda item: (-item[1]["count"], item[0])),
    }


def _target(result: ProfileResult, plots: Any) -> dict[str, Any]:
    summary = result.target_summary or {}
    kind = summary.get("kind")
    view: dict[str, Any] = {
        "kind": kind,
        "chart": None,
        "has_histogram": False,
        "classes": [],
        "more": 0,
        "extras": [],
    }
    if kind == "classes":
        counts = summary.get("counts") or summary.get("classes") or {}
        if not isinstance(counts, Mapping):
            counts = dict(counts)
        total = sum(int(n) for n in counts.values()) or 1
        ordered = sorted(counts.items(), key=lambda item: int(item[1]), reverse=True)
        view["classes"] = [(str(label), n, int(n) / total) for label, n in ordered]
        shown = ordered[:MAX_BARS]
        view["more"] = len(ordered) - len(shown)
        if shown:
            view["chart"] = draw_chart(
                plots.bar_chart,
                [label for label, _ in shown],
                [n for _, n in shown],
                title=f"Class balance of {result.target}",
                xlabel="rows",
            )
    elif kind == "numeric":
        parts = _histogram_parts(summary.get("histogram"))
        if parts:
            view["has_histogram"] = True
            view["chart"] = draw_chart(
                plots.histogram_chart, *parts, title=f"Distribution of {result.target}"
            )
    view["extras"] = [
        (str(key), format_value(value))
        for key, value in summary.items()
        if key not in {"kind", "counts", "classes", "histogram"}
        and (value is None or isinstance(value, str | int | float))
    ]
    return view


def _association(result: ProfileResult, plots: Any) -> dict[str, Any]:
    items = [
        (s.name, float(s.target_association), s.association_metric)
        for s in result.column_stats
        if _is_number(s.target_association)
    ]
    items.sort(key=lambda item: abs(item[1]), reverse=True)
    metrics = list(dict.fromkeys(m for _, _, m in items if m))
    shown = items[:MAX_BARS]
    chart = None
    if shown:
        title = f"Association with {result.target}"
        if metrics:
            title += f" ({', '.join(metrics)})"
        chart = draw_chart(
            plots.bar_chart,
            [name for name, _, _ in shown],
            [value for _, value, _ in shown],
            title=title,
            xlabel=" / ".join(metrics) or "association",
        )
    return {"entries": items, "metrics": metrics, "chart": chart, "more": len(items) - len(shown)}


def _correlations(result: ProfileResult, plots: Any) -> dict[str, Any]:
    correlations = result.correlations or {}
    names = [str(c) for c in correlations.get("columns") or []]
    matrix = correlations.get("matrix") or []
    method = str(correlations.get("method") or "correlation")
    view: dict[str, Any] = {"method": method, "columns": names, "chart": None, "pairs": []}
    if len(names) < 2:
        return view
    view["chart"] = draw_chart(
        plots.heatmap_chart, names, matrix, title=f"{method.capitalize()} correlation"
    )
    pairs = []
    for i, row in enumerate(matrix[: len(names)]):
        for j in range(i + 1, min(len(row), len(names))):
            if _is_number(row[j]):
                pairs.append((names[i], names[j], float(row[j])))
    pairs.sort(key=lambda pair: abs(pair[2]), reverse=True)
    view["pairs"] = pairs[:TOP_PAIRS]
    return view


def _column_view(
    index: int, stats: ColumnStats, findings: list[dict[str, Any]], plots: Any
) -> dict[str, Any]:
    rows = []
    for attribute, label, formatter in _STAT_FIELDS:
        value = getattr(stats, attribute)
        if value is None:
            continue
        text = formatter(value)
        if attribute == "missing" and value:
            text += f" ({format_percent(stats.missing_rate)})"
        rows.append((label, text))
    chart = None
    parts = _histogram_parts(stats.histogram)
    top_values = [(pair[0], pair[1]) for pair in stats.top_values or []]
    if parts:
        chart = draw_chart(plots.histogram_chart, *parts, title=f"Distribution of {stats.name}")
    elif top_values:
        shown = top_values[:MAX_BARS]
        chart = draw_chart(
            plots.bar_chart,
            ["(missing)" if value is None else value for value, _ in shown],
            [count for _, count in shown],
            title=f"Top values of {stats.name}",
            xlabel="rows",
        )
    return {
        "id": f"col-{index}",
        "name": stats.name,
        "role": stats.role,
        "role_source": stats.role_source,
        "dtype": stats.dtype,
        "missing_rate": stats.missing_rate,
        "stats": rows,
        "chart": chart,
        "plotted": bool(parts or top_values),
        "findings": findings,
    }
