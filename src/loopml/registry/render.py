"""How the CLI shows model versions and alias changes (formatting only)."""

from __future__ import annotations

from typing import Any

from loopml.console import console, table
from loopml.runs.render import fmt


def version_summary(row: dict[str, Any]) -> dict[str, Any]:
    """One model version as plain data for `models list --json`."""
    return {
        "version": row["version"],
        "aliases": row.get("aliases", []),
        "name": row["name"],
        "metric": row["metric"],
        "test_score": row["test_metrics"].get(row["metric"]),
        "baseline_score": row["baseline_metrics"].get(row["metric"]),
        "goals": {g["goal"]: g["status"] for g in row["goals"]},
        "run_id": row["run_id"],
        "dataset_version": row["dataset_version"],
        "split_id": row["split_id"],
        "refit_all": row["refit_all"],
        "sha256": row["artifact_sha256"],
        "created_at": row["created_at"],
    }


def print_versions(rows: list[dict[str, Any]]) -> None:
    """`models list`: versions, aliases, test score vs baseline, goals, lineage."""
    if not rows:
        console.print("No model versions yet; run `loopml train`.")
        return
    lines = []
    for row in rows:
        s = version_summary(row)
        goals = ", ".join(f"{g} {status}" for g, status in s["goals"].items())
        lines.append(
            [
                str(s["version"]),
                ", ".join(s["aliases"]),
                s["name"],
                f"{s['metric']} {fmt(s['test_score'])}",
                fmt(s["baseline_score"]),
                goals,
                s["run_id"][:12],
                s["dataset_version"][:12],
                s["created_at"][:19].replace("T", " "),
            ]
        )
    columns = [
        "version",
        "aliases",
        "model",
        "test",
        "baseline",
        "goals",
        "run",
        "data",
        "created (UTC)",
    ]
    console.print(table("Model versions", columns, lines))


def print_version(row: dict[str, Any]) -> None:
    """`models show`: one version's card."""
    card = row["card"]
    console.print(f"Model version {row['version']}: {row['name']} ({row['task']})")
    console.print(
        f"Run {row['run_id'][:12]}, data {row['dataset_version'][:12]}, split {row['split_id'][:12]}, "
        f"sha256 {row['artifact_sha256'][:12]}{', refit on all rows' if row['refit_all'] else ''}"
    )
    metrics = card["test"]["metrics"]
    baseline = card["test"]["baseline"]
    lines = [
        [name, fmt(value), fmt(baseline.get(name))]
        for name, value in metrics.items()
        if name != "n_rows"
    ]
    console.print(table("Test metrics", ["metric", "model", "baseline"], lines))
    for goal in row["goals"]:
        console.print(f"Goal {goal['goal']}: {goal['status']}")
    columns = (row.get("signature") or {}).get("columns")
    if columns:
        lines = [
            [c["name"], c["role"], "yes" if c["nullable"] else "no", _seen(c)] for c in columns
        ]
        console.print(table("Input signature", ["input", "role", "may be missing", "seen"], lines))
    else:
        console.print("Inputs: " + ", ".join(card["inputs"]))


def _seen(column: dict[str, Any]) -> str:
    """What training saw of a column: its range, span or categories."""
    if column.get("min") is not None:
        return f"{fmt(column['min'])} to {fmt(column['max'])}"
    if column.get("earliest") is not None:
        return f"{column['earliest'][:10]} to {column['latest'][:10]}"
    categories = column.get("categories")
    if categories:
        shown = ", ".join(categories[:5]) + (", …" if len(categories) > 5 else "")
        more = "" if column.get("complete", True) else "+"  # more seen than recorded
        return f"{len(categories):,}{more} categories: {shown}"
    return ""


def print_event(event: dict[str, Any]) -> None:
    """One alias change."""
    if event["action"] == "remove":
        text = f"Removed alias `{event['alias']}` (was version {event['from_version']})."
    elif event["action"] == "set":
        text = f"Alias `{event['alias']}` now points at version {event['to_version']}."
    else:
        text = (
            f"Moved alias `{event['alias']}` from version {event['from_version']} to "
            f"{event['to_version']}."
        )
    if event["forced"]:
        text += f" Forced: {event['reason']}"
    console.print(text)


def print_history(events: list[dict[str, Any]], alias: str | None = None) -> None:
    """`models history`: the audit log of alias changes (of `alias` when given)."""
    if not events:
        console.print(
            "No alias changes yet." if alias is None else f"No changes of alias `{alias}`."
        )
        return
    lines = [
        [
            e["at"][:19].replace("T", " "),
            e["alias"],
            e["action"],
            fmt(e["from_version"]),
            fmt(e["to_version"]),
            e["actor"],
            "yes" if e["forced"] else "",
            e["reason"] or "",
        ]
        for e in events
    ]
    columns = ["when (UTC)", "alias", "action", "from", "to", "who", "forced", "why"]
    console.print(table("Alias changes", columns, lines))
