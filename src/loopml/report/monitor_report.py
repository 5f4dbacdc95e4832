"""The monitoring report: one `loopml monitor` check as an HTML page.

Alerts first, then drift per feature (now and over time), performance (observed on labelled
predictions and estimated without labels) over time against the test score, and service
health over time. Written to `reports/monitor-v<version>-<time>.html` unless told otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loopml.report.evaluation_report import interval_text, metric_text, signed_text
from loopml.report.html import draw_chart, render, write_report
from loopml.report.monitor_plots import drift_over_time_chart, series_chart
from loopml.spec import ProjectSpec

_TOC = [
    {"id": "summary", "title": "Summary"},
    {"id": "alerts", "title": "Alerts"},
    {"id": "drift", "title": "Drift"},
    {"id": "performance", "title": "Performance"},
    {"id": "service", "title": "Service"},
]


def write_monitor_report(
    spec: ProjectSpec, root: Path, result: Any, path: Path | None = None
) -> Path:
    """Write the report of `result` (a `MonitorResult`) and return its path."""
    if path is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = root / "reports" / f"monitor-v{result.version}-{stamp}.html"
    return write_report(Path(path), render_monitor_report(spec, result.to_dict()))


def render_monitor_report(spec: ProjectSpec, data: dict[str, Any]) -> str:
    """The report's HTML from a check's plain data (`MonitorResult.to_dict()`)."""
    timeline = data["timeline"]
    starts = [datetime.fromisoformat(period["start"]) for period in timeline]
    return render(
        "monitor.html.j2",
        toc=_TOC,
        project=spec.name,
        data=data,
        window=_window(data),
        features=[_feature_row(f) for f in data["features"]]
        + ([_feature_row(data["prediction"])] if data["prediction"] else []),
        performance=_performance(data),
        every_metric=_every_metric(data["performance"]),
        drift_chart=draw_chart(drift_over_time_chart, *_drift_grid(data, starts)),
        share_chart=draw_chart(
            series_chart,
            "Share of drifted features",
            starts,
            {"share": [p["dataset_share"] for p in timeline]},
            lines={"threshold": data["dataset_drift"].get("threshold")},
        ),
        performance_chart=_performance_chart(data, starts),
        latency_chart=draw_chart(
            series_chart,
            "Latency (ms)",
            starts,
            {
                "p50": [p["service"]["latency_p50_ms"] for p in timeline],
                "p99": [p["service"]["latency_p99_ms"] for p in timeline],
            },
        ),
        errors_chart=draw_chart(
            series_chart,
            "Error rate",
            starts,
            {"refused or failed": [p["service"]["error_rate"] for p in timeline]},
        ),
    )


def _window(data: dict[str, Any]) -> str:
    since = (data["since"] or "the start")[:19].replace("T", " ")
    until = (data["until"] or "now")[:19].replace("T", " ")
    return f"{since} to {until} (UTC)"


def _feature_row(drift: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": drift["name"],
        "method": drift["method"],
        "score": metric_text(drift["score"]),
        "threshold": metric_text(drift["threshold"]),
        "drifted": drift["drifted"],
        "psi": metric_text(drift["psi"]),
        "psi_shift": bool(drift["details"].get("psi_shift")),
        "missing": f"{drift['missing_rate']:.1%}",
        "missing_reference": f"{drift['missing_rate_reference']:.1%}",
        "rows": drift["rows"],
    }


def _performance(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for kind, figure in (("observed", data["performance"]), ("estimated", data["estimated"])):
        if not figure:
            continue
        rows.append(
            {
                "kind": kind,
                "metric": figure["metric"],
                "value": metric_text(figure.get("value")),
                "interval": interval_text(figure.get("interval")),
                "rows": figure.get("labelled", figure.get("rows")),
                "test": metric_text(figure.get("test")),
                "reference": metric_text(figure.get("reference")),
                "note": figure.get("note"),
            }
        )
    return rows


def _every_metric(performance: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each metric of the task on the labelled predictions, next to its test value."""
    rows = []
    for name, figure in ((performance or {}).get("metrics") or {}).items():
        value, test = figure["value"], figure["test"]  # NaN - x is NaN: shown as a dash
        rows.append(
            {
                "metric": name,
                "primary": name == performance["metric"],
                "value": metric_text(figure["value"]),
                "interval": interval_text(figure["interval"]),
                "test": metric_text(figure["test"]),
                "change": signed_text(None if value is None or test is None else value - test),
            }
        )
    return rows


def _drift_grid(data: dict[str, Any], starts: list[datetime]) -> tuple[Any, ...]:
    names = [f["name"] for f in data["features"]]
    periods = data["timeline"]
    psi = [[p["features"].get(name, {}).get("psi") for p in periods] for name in names]
    drifted = [
        [p["features"].get(name, {}).get("drifted", False) for p in periods] for name in names
    ]
    return names, starts, psi, drifted


def _performance_chart(data: dict[str, Any], starts: list[datetime]) -> str | None:
    timeline = data["timeline"]
    series, bands = {}, {}
    metric = None
    for kind in ("performance", "estimated"):
        figures = [p[kind] for p in timeline]
        if any(figures):
            name = "observed" if kind == "performance" else "estimated"
            series[name] = [f and f["value"] for f in figures]
            bands[name] = (
                [f and f["interval"][0] for f in figures],
                [f and f["interval"][1] for f in figures],
            )
        metric = metric or (data[kind] or {}).get("metric")
    test = (data["performance"] or data["estimated"] or {}).get("test")
    return draw_chart(
        series_chart,
        f"{metric or 'metric'} over time",
        starts,
        series,
        bands=bands,
        lines={"test": test, "test (estimated)": (data["estimated"] or {}).get("reference")},
    )
