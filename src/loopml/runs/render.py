"""How the CLI shows runs: tables and short summaries (no logic beyond formatting)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from loopml.console import console, table

if TYPE_CHECKING:
    from loopml.runs.records import TrainResult

SHOWN_METRICS = 6


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: 4 significant digits, `—` for none or NaN."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def _seconds(row: dict[str, Any]) -> float | None:
    from datetime import datetime

    if not row.get("finished_at"):
        return None
    start = datetime.fromisoformat(row["started_at"])
    end = datetime.fromisoformat(row["finished_at"])
    return (end - start).total_seconds()


def run_summary(row: dict[str, Any]) -> dict[str, Any]:
    """One line of `runs list`: id, status, data, metric and its test value, model, time."""
    spec = row["spec"] or {}
    metric = spec.get("metric")
    metrics = (row.get("test_metrics") or {}).get("metrics") or {}
    baseline = row.get("baseline_test_metrics") or {}
    return {
        "run_id": row["id"],
        "status": row["status"],
        "started_at": row["started_at"],
        "seconds": _seconds(row),
        "time_budget_s": row["time_budget_s"],
        "dataset_version": row["dataset_version"],
        "split_id": row["split_id"],
        "spec_hash": row["spec_hash"],
        "seed": row["seed"],
        "metric": metric,
        "test_score": metrics.get(metric),
        "baseline_score": baseline.get(metric),
        "model": (row.get("chosen") or {}).get("name"),
        "error": row.get("error"),
    }


def print_runs(rows: list[dict[str, Any]]) -> None:
    """The runs as a table, newest first."""
    if not rows:
        console.print("No training runs yet; run `loopml train`.")
        return
    lines = []
    for row in rows:
        s = run_summary(row)
        lines.append(
            [
                s["run_id"][:12],
                s["status"],
                s["started_at"][:19].replace("T", " "),
                fmt(s["seconds"], 3),
                s["dataset_version"][:12],
                s["spec_hash"][:8],
                f"{s['metric']} {fmt(s['test_score'])}" if s["test_score"] is not None else "",
                fmt(s["baseline_score"]),
                s["model"] or (s["error"] or "")[:60],
            ]
        )
    columns = ["run", "status", "started (UTC)", "s", "data", "spec", "test", "baseline", "model"]
    console.print(table("Training runs", columns, lines))


def _leaderboard_table(rows: list[dict[str, Any]], metric: str, limit: int = 15) -> Any:
    lines = [
        [
            fmt(r.get("rank")),
            r["name"],
            r["status"],
            fmt(r.get("cv_score")),
            fmt(r.get("cv_std"), 2),
            fmt(r.get("vs_baseline"), 3),
            fmt(r.get("fit_seconds"), 3),
        ]
        for r in rows[:limit]
    ]
    more = f" (best {limit} of {len(rows)})" if len(rows) > limit else ""
    columns = ["rank", "model", "status", f"cv {metric}", "± std", "vs baseline", "fit s"]
    return table(f"Leaderboard{more}", columns, lines)


def _metrics_table(evaluation: dict[str, Any], baseline: dict[str, Any], metric: str) -> Any:
    metrics = evaluation.get("metrics") or {}
    intervals = evaluation.get("intervals") or {}
    names = [metric] + [n for n in intervals if n != metric]
    lines = []
    for name in names:
        low, high = intervals.get(name, (None, None))
        lines.append(
            [
                name,
                fmt(metrics.get(name)),
                f"[{fmt(low)}, {fmt(high)}]",
                fmt(baseline.get(name)),
            ]
        )
    return table(
        "Test metrics (95% bootstrap interval)", ["metric", "model", "interval", "baseline"], lines
    )


def _print_outcome(evaluation: dict[str, Any], baseline: dict[str, Any], metric: str) -> None:
    console.print(_metrics_table(evaluation, baseline, metric))
    improvement = evaluation.get("improvement")
    if improvement:
        low, high = improvement["interval"]
        verdict = (
            "better than" if improvement["significantly_better"] else "not clearly better than"
        )
        console.print(
            f"Improvement over the baseline on {metric}: {fmt(improvement['improvement'])} "
            f"[{fmt(low)}, {fmt(high)}]: {verdict} the baseline."
        )
    business = evaluation.get("business")
    if business:
        console.print(
            f"Expected value per decision at threshold {fmt(business['threshold'])}: "
            f"{fmt(business['expected_value'])} (baseline {fmt(business['baseline_expected_value'])})."
        )
    for goal in evaluation.get("goals") or []:
        console.print(f"Goal {goal['goal']}: {goal['status']} (observed {fmt(goal['observed'])})")


def print_train_result(result: TrainResult) -> None:
    """What `loopml train` prints: leaderboard, chosen model, test metrics, goals, report."""
    metric = result.chosen["metric"]
    console.print(_leaderboard_table(result.leaderboard.to_dict(orient="records"), metric))
    _print_chosen(result.chosen)
    _print_outcome(result.evaluation, result.baseline_test_metrics, metric)
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(
        f"Run {result.run_id[:12]} in {result.wall_seconds:.1f} s of a {result.time_budget_s:g} s "
        f"budget. Report: {result.report_path}"
    )


def _print_chosen(chosen: dict[str, Any]) -> None:
    parts = [f"Chosen: {chosen['name']}"]
    if len(chosen.get("members") or []) > 1:
        parts.append(
            "(" + ", ".join(f"{m['name']} ×{m['weight']:.2f}" for m in chosen["members"]) + ")"
        )
    if chosen.get("calibration"):
        parts.append(f"calibrated ({chosen['calibration']['kind']})")
    if chosen.get("threshold") is not None:
        reason = f", {chosen['threshold_reason']}" if chosen.get("threshold_reason") else ""
        parts.append(f"threshold {fmt(chosen['threshold'])}{reason}")
    if chosen.get("model_all_rows"):
        parts.append("refitted on all rows for deployment")
    console.print(" ".join(parts))


def print_run(row: dict[str, Any]) -> None:
    """`runs show`: the run's inputs, leaderboard, chosen model and test metrics."""
    s = run_summary(row)
    console.print(f"Run {row['id']} ({row['status']})")
    console.print(
        f"Data {row['dataset_version'][:12]}, split {row['split_id'][:12]}, spec {row['spec_hash'][:12]}, "
        f"seed {row['seed']}, budget {fmt(row['time_budget_s'])} s, took {fmt(s['seconds'], 3)} s"
    )
    env = row.get("environment") or {}
    git = env.get("git")
    packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items())
    console.print(f"Python {env.get('python')}, {packages}")
    if git:
        console.print(
            f"Git commit {git['commit'][:12]}{' (uncommitted changes)' if git['dirty'] else ''}"
        )
    if row.get("error"):
        console.print(f"error: {row['error']}")
    metric = s["metric"]
    if row.get("leaderboard"):
        console.print(_leaderboard_table(row["leaderboard"], metric))
    trials = row.get("trials") or []
    failed = [t for t in trials if t["status"] == "failed"]
    console.print(
        f"{len(trials)} trials: {sum(t['status'] == 'complete' for t in trials)} complete, "
        f"{sum(t['status'] == 'pruned' for t in trials)} pruned, {len(failed)} failed"
    )
    for t in failed[:5]:
        console.print(f"  failed: {t['family']} #{t['number']}: {t['error']}")
    if row.get("chosen"):
        _print_chosen(row["chosen"])
    if row.get("test_metrics"):
        _print_outcome(row["test_metrics"], row.get("baseline_test_metrics") or {}, metric)
    if row.get("report_path"):
        console.print(f"Report: {row['report_path']}")


def comparison(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two runs side by side: summaries and the differences."""
    from loopml.runs.reproduce import compare_runs

    return {"runs": [run_summary(a), run_summary(b)], **compare_runs(a, b, [], [])}


def print_comparison(a: dict[str, Any], b: dict[str, Any]) -> None:
    """`runs compare`: inputs, chosen model and test metrics of two runs side by side."""
    sa, sb = run_summary(a), run_summary(b)
    lines = [
        ["run", sa["run_id"][:12], sb["run_id"][:12]],
        ["status", sa["status"], sb["status"]],
        ["data", sa["dataset_version"][:12], sb["dataset_version"][:12]],
        ["split", sa["split_id"][:12], sb["split_id"][:12]],
        ["spec", sa["spec_hash"][:12], sb["spec_hash"][:12]],
        ["seed", str(sa["seed"]), str(sb["seed"])],
        ["budget s", fmt(sa["time_budget_s"]), fmt(sb["time_budget_s"])],
        ["took s", fmt(sa["seconds"], 3), fmt(sb["seconds"], 3)],
        ["model", sa["model"] or "", sb["model"] or ""],
    ]
    ma = (a.get("test_metrics") or {}).get("metrics") or {}
    mb = (b.get("test_metrics") or {}).get("metrics") or {}
    for name in [n for n in ma if not isinstance(ma[n], dict | list | str)]:
        if name in ("n_rows", "threshold"):
            continue
        lines.append([f"test {name}", fmt(ma.get(name)), fmt(mb.get(name))])
    console.print(table("Run comparison", ["", "A", "B"], lines))


def print_reproduction(result: TrainResult, differences: dict[str, Any]) -> None:
    """`reproduce`: same or not, and each difference."""
    if differences["same"]:
        console.print(
            f"Reproduced run {differences['a'][:12]} as run {result.run_id[:12]}: same trial "
            "scores, same chosen model, same test metrics."
        )
        return
    console.print(f"Run {result.run_id[:12]} differs from run {differences['a'][:12]}:")
    lines = [[d["what"], fmt(d["a"]), fmt(d["b"])] for d in differences["differences"]]
    console.print(table(None, ["what", "original", "reproduction"], lines))
