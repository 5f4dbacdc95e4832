"""How the CLI shows a monitoring check (formatting only)."""

from __future__ import annotations

from typing import Any

from loopml.console import console, table
from loopml.runs.render import fmt


def print_check(result: dict[str, Any]) -> None:
    """`loopml monitor`: drift per feature, the dataset verdict, service health, alerts."""
    window = f"since {result['since'][:19]}" if result["since"] else "all time"
    console.print(
        f"Model version {result['model_version']}: {result['rows']:,} logged predictions, "
        f"{result['requests']:,} requests served ({window})"
    )
    for note in result["notes"]:
        console.print(f"note: {note}")
    rows = [_row(f) for f in result["features"]]
    if result["prediction"] is not None:
        rows.append(_row(result["prediction"]))
    if rows:
        columns = ["feature", "method", "score", "threshold", "drifted", "PSI", "missing", "was"]
        console.print(table("Drift", columns, rows))
    verdict = result["dataset_drift"]
    weighted = " (weighted by importance)" if verdict.get("weighted") else ""
    console.print(
        f"Dataset drift: {'YES' if verdict['drifted'] else 'no'} — {verdict['share']:.0%} of "
        f"the features drifted{weighted}"
    )
    performance = result["performance"]
    if performance and performance.get("value") is not None:
        low, high = performance["interval"]
        console.print(
            f"Performance: {performance['metric']} {fmt(performance['value'])} "
            f"({fmt(low)}–{fmt(high)}) on {performance['labelled']:,} labelled predictions; "
            f"test {fmt(performance['test'])}"
        )
    elif performance:
        console.print(f"Performance: {performance.get('note')}")
    service = result["service"]
    if service.get("latency_p50_ms") is not None:
        console.print(
            f"Service: {service['rate_per_s']:.3g} requests/s, latency p50 "
            f"{service['latency_p50_ms']:.3g} ms, p99 {service['latency_p99_ms']:.3g} ms"
        )
    for alert in result["alerts"]:
        console.print(f"ALERT {alert['rule']}: {alert['message']}")
    if not result["alerts"]:
        console.print("No alerts.")


def _row(drift: dict[str, Any]) -> list[Any]:
    return [
        drift["name"],
        drift["method"],
        fmt(drift["score"]),
        fmt(drift["threshold"]),
        "DRIFT" if drift["drifted"] else "",
        fmt(drift["psi"]),
        f"{drift['missing_rate']:.1%}",
        f"{drift['missing_rate_reference']:.1%}",
    ]
