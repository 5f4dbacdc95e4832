"""How the CLI shows an experiment report (formatting only)."""

from __future__ import annotations

from typing import Any

from loopml.console import console, table
from loopml.runs.render import fmt


def print_report(report: dict[str, Any]) -> None:
    """`loopml experiments report`: each variant's metric, then each comparison's verdict."""
    window = f"since {report['since'][:19]}" if report["since"] else "all logged time"
    better = "higher" if report["higher_is_better"] else "lower"
    console.print(
        f"Experiment on labelled traffic ({window}); metric {report['metric']} ({better} is "
        f"better), α = {report['alpha']:g}, power {report['power']:g}"
    )
    rows = []
    for item in report["variants"]:
        interval = item["interval"]
        rows.append(
            [
                item["variant"],
                ", ".join(map(str, item["versions"])),
                f"{item['requests']:,}",
                f"{item['labelled']:,}",
                fmt(item["value"]),
                "—" if not interval else f"{fmt(interval[0])}–{fmt(interval[1])}",
                fmt(item["test"]),
            ]
        )
    columns = ["variant", "version", "requests", "labelled", report["metric"], "95% interval"]
    console.print(table("Variants", [*columns, "test part"], rows))
    for item in report["comparisons"]:
        console.print(f"{item['variant']} vs champion ({item['design']}):")
        if "p_value" in item:
            low_high = item["interval"]
            shown = "" if not low_high else f" [{fmt(low_high[0])}, {fmt(low_high[1])}]"
            console.print(
                f"  difference {fmt(item['difference'])}{shown}, {item['test']} "
                f"statistic {fmt(item['statistic'])}, p = {fmt(item['p_value'], 3)}"
            )
            if item["needed"]:
                needed = ", ".join(f"{k} {v:,}" for k, v in item["needed"].items())
                more = ", ".join(f"{k} {v:,}" for k, v in item["more"].items())
                console.print(
                    f"  labelled rows needed to detect {fmt(item['effect'], 3)}: {needed} "
                    f"(still to come: {more})"
                )
        console.print(f"  verdict: {item['verdict']} — {item['message']}")
    for note in report["notes"]:
        console.print(f"note: {note}")
