"""How the CLI shows a monitoring check (formatting only)."""

from __future__ import annotations

from typing import Any

from loopml.console import console, table
from loopml.runs.render import fmt


def print_check(result: dict[str, Any]) -> None:
    """`loopml monitor`: drift per feature, the dataset verdict, service health, alerts."""
    window = f"since {result['since'][:19]}" if result["since"] else "all time"
    if result["until"]:
        window += f" until {result['until'][:19]}"
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
        if any(str(row[5]).endswith("*") for row in rows):
            console.print("* PSI at or above monitor.drift.psi (marked; it does not decide)")
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
        others = [
            f"{name} {fmt(figure['value'])} ({fmt(figure['test'])})"
            for name, figure in (performance.get("metrics") or {}).items()
            if name != performance["metric"]
        ]
        if others:
            console.print("  other metrics (test): " + ", ".join(others))
    elif performance:
        console.print(f"Performance: {performance.get('note')}")
    estimated = result["estimated"]
    if estimated and estimated.get("value") is not None:
        low, high = estimated["interval"]
        against = (
            f"the same estimate on the test part {fmt(estimated['reference'])}"
            if estimated.get("reference") is not None
            else f"test {fmt(estimated['test'])}"
        )
        console.print(
            f"Estimated without labels: {estimated['metric']} {fmt(estimated['value'])} "
            f"({fmt(low)}–{fmt(high)}) on {estimated['rows']:,} predictions; {against}"
        )
    service = result["service"]
    if service.get("rate_per_s") is not None:
        latency = (
            f", latency p50 {service['latency_p50_ms']:.3g} ms, p99 "
            f"{service['latency_p99_ms']:.3g} ms"
            if service.get("latency_p50_ms") is not None
            else ""
        )
        console.print(
            f"Service: {service['rate_per_s']:.3g} requests/s{latency}, "
            f"{service['errors']:,} refused or failed ({service['error_rate']:.1%})"
        )
    if service.get("dropped_rows"):
        console.print(f"The prediction log dropped {service['dropped_rows']:,} rows.")
    for alert in result["alerts"]:
        console.print(f"ALERT {alert['rule']}: {alert['message']}")
    if not result["alerts"]:
        console.print("No alerts.")
    webhook = result.get("webhook")
    if webhook is not None:
        console.print(
            "Alerts posted to the webhook."
            if webhook["delivered"]
            else f"Could not post the alerts to the webhook ({webhook['error']}, "
            f"{webhook['attempts']} attempts); the check itself is recorded."
        )
    if result.get("report_path"):
        console.print(f"Report: {result['report_path']}")


def _row(drift: dict[str, Any]) -> list[Any]:
    return [
        drift["name"],
        drift["method"],
        fmt(drift["score"]),
        fmt(drift["threshold"]),
        "DRIFT" if drift["drifted"] else "",
        fmt(drift["psi"]) + (" *" if drift["details"].get("psi_shift") else ""),
        f"{drift['missing_rate']:.1%}",
        f"{drift['missing_rate_reference']:.1%}",
    ]
