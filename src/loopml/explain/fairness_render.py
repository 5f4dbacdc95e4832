"""How the CLI shows a fairness report and a mitigation trade-off (formatting only)."""

from __future__ import annotations

from typing import Any

from loopml.console import console, fitted_tables, table
from loopml.runs.render import fmt


def interval_text(value: Any, interval: Any) -> str:
    """`0.42 [0.31, 0.55]`, or the value alone without an interval."""
    if not interval:
        return fmt(value, 3)
    return f"{fmt(value, 3)} [{fmt(interval[0], 3)}, {fmt(interval[1], 3)}]"


def print_fairness(result: dict[str, Any]) -> None:
    """`loopml fairness`: per group of each column, the gaps, and the threshold checks."""
    version = result.get("model_version")
    console.print(
        f"Fairness of model version {version} on {result['rows']} ({result['n_rows']:,} rows; "
        f"{int(result['level'] * 100)}% bootstrap intervals, groups under "
        f"{result['min_group_size']} rows are small and left out of the gaps)"
    )
    for column in result["columns"]:
        names = list(column["groups"][0]["metrics"]) if column["groups"] else []
        rows = [
            [g["group"], f"{g['n']:,}" + (" small" if g["small"] else "")]
            + [interval_text(g["metrics"][n], g["intervals"].get(n)) for n in names]
            for g in column["groups"]
        ]
        title = f"Groups of `{column['column']}`"
        for part in fitted_tables(title, ["group", "rows"], names, rows):
            console.print(part)
        if column["note"]:
            console.print(f"  {column['note']}")
        gaps = [
            [name, interval_text(value, column["gap_intervals"].get(name))]
            for name, value in column["gaps"].items()
        ]
        if gaps:
            console.print(table(None, ["gap", "value [interval]"], gaps))
        if column.get("worst"):
            w = column["worst"]
            console.print(f"  Weakest group: {w['group']} ({w['metric']} {fmt(w['value'], 3)})")
    checks = result.get("checks") or []
    if checks:
        lines = [
            [
                c["column"],
                f"{c['gap']} {c['op']} {c['threshold']:g}",
                fmt(c["observed"], 3),
                c["status"],
            ]
            for c in checks
        ]
        console.print(
            table(
                "Thresholds (fairness.thresholds)", ["column", "check", "observed", "status"], lines
            )
        )


def print_mitigation(result: dict[str, Any]) -> None:
    """`loopml fairness --mitigate`: for each sensitive column, the accuracy / fairness
    trade-off before and after."""
    for mitigation in result["mitigations"]:
        console.print(
            f"Mitigation by {result['method']} for `{mitigation['column']}`, model version "
            f"{result['model_version']}: {mitigation['how']}"
        )
        before, after = mitigation["rows"]
        lines = [
            [name, fmt(before[name], 4), fmt(after[name], 4)] for name in mitigation["columns"]
        ]
        console.print(
            table("Trade-off on held-out rows", ["measure", "before", after["model"]], lines)
        )
        for note in mitigation.get("notes", []):
            console.print(f"  {note}")
