"""How the CLI shows a retrain decision (formatting only)."""

from __future__ import annotations

from typing import Any

from loopml.console import console, table
from loopml.runs.render import fmt


def print_retrain(result: dict[str, Any]) -> None:
    """`loopml retrain`: the data, both holdout scores side by side, the decision and why."""
    trigger = result["trigger"]
    cause = "manual"
    if trigger["kind"] == "monitor":
        rules = ", ".join(a["rule"] for a in trigger["alerts"]) or "no alerts"
        cause = f"monitoring check #{trigger['check_id']}: {rules}"
    number = f"Retrain #{result['id']}" if result["id"] is not None else "Retrain (dry run)"
    if result.get("repeated"):
        console.print(
            f"Not retrained: {number} already decided on the same champion, rows and holdout."
        )
    console.print(f"{number} ({cause}), champion version {result['champion']}")
    data, rows = result["data"], result["data"]["rows"]
    console.print(f"New data: {data['source'].get('description', data['policy'])}")
    parts = [f"{rows['new']:,} rows"]
    for key, text in (
        ("unlabelled", "without a label"),
        ("seen", f"already in version {result['champion']}'s training data"),
        ("duplicates", "duplicates"),
    ):
        if rows.get(key):
            parts.append(f"{rows[key]:,} {text}")
    if rows.get("old"):
        parts.append(f"{rows['old']:,} earlier rows added")
    console.print("Rows: " + ", ".join(parts))
    console.print(
        f"Holdout: {rows['holdout']:,} rows, {data['holdout']}; training: {rows['train']:,} rows"
    )
    if result["decision"] == "dry-run":
        how = "the champion's model refitted" if result["search"] == "reuse" else "a new search"
        console.print(f"Dry run: would train a challenger ({how}) and compare on the holdout.")
        return
    metric = result["metric"]
    lines = [
        [f"champion v{result['champion']}", fmt(result["champion_score"])],
        [f"challenger v{result['challenger']}", fmt(result["challenger_score"])],
        ["baseline", fmt(result["baseline_score"])],
    ]
    console.print(table(f"{metric} on the holdout", ["model", metric], lines))
    console.print(
        f"Data {result['dataset_version'][:12]}, split {result['split_id'][:12]}, "
        f"run {result['run_id'][:12]} ({result['search']})"
    )
    if result["decision"] == "promoted":
        gain = result["improvement"]
        console.print(
            f"PROMOTED: version {result['challenger']} is production — it beat version "
            f"{result['champion']} by {gain:.4g} {metric} (margin {result['margin']:g})."
        )
        return
    console.print(
        f"KEPT: version {result['champion']} stays; version {result['challenger']} is "
        "registered but not promoted, because:"
    )
    for reason in result["reasons"]:
        console.print(f"  - {reason}")


def print_made_by(retrain: dict[str, Any]) -> None:
    """`models show`: the retrain that made a version (its trigger, data and decision)."""
    trigger = retrain["trigger"]
    cause = "run by hand"
    if trigger["kind"] == "monitor":
        rules = ", ".join(a["rule"] for a in trigger["alerts"])
        cause = f"triggered by monitoring check #{trigger['check_id']} ({rules})"
    console.print(
        f"Made by retrain #{retrain['id']}, {cause}, challenging version {retrain['champion']} "
        f"on {retrain['data']['source'].get('description', retrain['data']['policy'])}: "
        f"{retrain['metric']} {fmt(retrain['challenger_score'])} vs "
        f"{fmt(retrain['champion_score'])} on the holdout — {retrain['decision']}"
    )
