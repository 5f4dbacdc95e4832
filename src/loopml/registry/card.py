"""The model card of a version, gathered from the store alone (nothing is typed by hand).

    data = model_card_data(store, "flights", "production")
    write_card(data, Path("card.md"), "md")

What it holds: intended use (the spec's `card:` section recorded with the run), training
and evaluation data with their versions, test metrics with intervals against the baseline,
goals, per-group fairness, the top global explanations, caveats found in the record
(drift sensitivity, weak segments, small groups, calibration, refit, missed goals), the
lineage dataset → split → run → version (and the retrain decision that made it), the latest
monitoring check and the approvals (the alias audit log of this version).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from loopml.store import Store

TOP_FEATURES = 10


def model_card_data(store: Store, project: str, ref: str) -> dict[str, Any]:
    """Everything the card says about model `ref`, as plain data."""
    from loopml.data.versions import get_version, lineage
    from loopml.registry.versions import resolve
    from loopml.runs.records import jsonable

    row = resolve(store, project, ref)
    number = row["version"]
    run = store.meta.run(row["run_id"])
    spec = run["spec"]
    card = row["card"]
    evaluation = run.get("test_metrics") or {}
    chain = lineage(store, get_version(store, row["dataset_version"]))
    split = store.meta.split(row["split_id"])
    accesses = store.meta.test_accesses(split["id"])
    made = store.meta.retrain_decisions(project, number)
    checks = store.meta.monitor_checks(project, number)
    approvals = [
        e
        for e in reversed(store.meta.alias_events(project))
        if number in (e["from_version"], e["to_version"])
    ]
    aliases = sorted(a for a, v in store.meta.aliases(project).items() if v == number)
    data = {
        "project": project,
        "version": number,
        "aliases": aliases,
        "model": row["name"],
        "members": card.get("members", []),
        "task": row["task"],
        "target": spec["target"],
        "created_at": row["created_at"],
        "sha256": row["artifact_sha256"],
        "use": spec.get("card") or {},
        "inputs": card.get("inputs", []),
        "training_data": {
            "dataset_version": row["dataset_version"],
            "rows": chain[0].n_rows,
            "columns": chain[0].n_columns,
            "source": chain[-1].source,
            "split": {
                "id": split["id"],
                "strategy": split["strategy"],
                "counts": split["counts"],
                "seed": split["seed"],
            },
            "refit_on_all_rows": row["refit_all"],
        },
        "evaluation_data": test_use(accesses) | {"rows": (split["counts"] or {}).get("test")},
        "metrics": _metrics(row, card),
        "primary_metric": row["metric"],
        "improvement": evaluation.get("improvement"),
        "goals": row["goals"],
        "decision": card.get("decision"),
        "fairness": card.get("fairness"),
        "explanation": _explanation(evaluation),
        "caveats": caveats(row, run, checks, accesses),
        "lineage": {
            "datasets": [
                {"version": v.version, "kind": v.kind, "rows": v.n_rows, "created_at": v.created_at}
                for v in chain
            ],
            "split": split["id"],
            "run": run["id"],
            "seed": run["seed"],
            "retrain": None if not made else _retrain(made[0]),
        },
        "monitoring": _monitoring(checks),
        "approvals": [
            {k: e[k] for k in ("at", "alias", "action", "from_version", "to_version", "actor")}
            | {"reason": e["reason"], "forced": bool(e["forced"])}
            for e in approvals
        ],
    }
    return jsonable(data)


def caveats(
    row: dict[str, Any],
    run: dict[str, Any],
    checks: list[dict[str, Any]],
    accesses: list[dict[str, Any]] | None = None,
) -> list[str]:
    """What a user should know before trusting the model, read from its record (and the
    test-access log of its split)."""
    from loopml.data.splits import FINAL_EVALUATION

    card = row["card"]
    evaluation = run.get("test_metrics") or {}
    notes = list((run["spec"].get("card") or {}).get("caveats") or [])
    ranked = _explanation(evaluation)
    if ranked:
        top = ", ".join(f"`{f['feature']}`" for f in ranked[:3])
        notes.append(
            f"Drift sensitivity: the model leans most on {top}; a shift in these columns "
            "moves its predictions most (watch them in `loopml monitor`)."
        )
    if evaluation.get("importance_note") and not evaluation.get("importance"):
        notes.append(f"Explanations: {evaluation['importance_note']}.")
    others = {a["purpose"] for a in accesses or [] if a["purpose"].startswith(FINAL_EVALUATION)} - {
        f"{FINAL_EVALUATION} {run['id']}"
    }
    if others:
        notes.append(
            f"The test part also evaluated {len(others)} other run(s); choosing among runs by "
            "their test scores makes these numbers optimistic."
        )
    for goal in row["goals"]:
        if goal["status"] == "fail":
            notes.append(f"It misses the goal {goal['goal']} on the test part.")
    fairness = card.get("fairness") or {}
    for column in fairness.get("columns", []):
        worst = column.get("worst")
        if worst and worst.get("value") is not None:
            notes.append(
                f"Weakest segment of `{column['column']}`: {worst['group']} ({worst['metric']} "
                f"{worst['value']:.3g} on {worst['n']:,} rows)."
            )
        small = [g["group"] for g in column["groups"] if g["small"]]
        if small:
            notes.append(
                f"Groups of `{column['column']}` with fewer than {fairness['min_group_size']} "
                f"test rows, whose numbers are uncertain: {', '.join(small[:10])}."
            )
    for check in fairness.get("checks", []):
        if check["status"] == "fail":
            notes.append(
                f"Fairness: {check['gap']} on `{check['column']}` is {check['observed']:.3g} "
                f"(the spec allows {check['op']} {check['threshold']:g})."
            )
    chosen = run.get("chosen") or {}
    if row["task"] != "regression":
        if chosen.get("calibration") is None:
            notes.append("Probabilities are not calibrated (calibration did not improve them).")
        else:
            notes.append(f"Probabilities are calibrated ({chosen['calibration']['kind']}).")
    if row["refit_all"]:
        notes.append(
            "The deployed model was refit on every row, the test part included; its test "
            "metrics are those of the model fit without the test part."
        )
    if checks and checks[0]["alerts"]:
        notes.append(f"The latest monitoring check raised {len(checks[0]['alerts'])} alert(s).")
    return notes


def test_use(accesses: list[dict[str, Any]]) -> dict[str, Any]:
    """The evaluation data's part, and how the split's test-access log says it was used:
    every opening (when, why) and a count per kind (final evaluation, fairness check, …)."""
    kinds: dict[str, int] = {}
    for access in accesses:
        kind = re.split(r" of |:", access["purpose"], maxsplit=1)[0].strip()
        kinds[kind] = kinds.get(kind, 0) + 1
    counted = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in kinds.items())
    times = "once" if len(accesses) == 1 else f"{len(accesses)} times"
    return {
        "part": "sealed test part",
        "opened": len(accesses),
        "use": f"opened {times}: {counted}" if accesses else "never opened",
        "accesses": [{"at": a["at"], "purpose": a["purpose"]} for a in accesses],
    }


def _metrics(row: dict[str, Any], card: dict[str, Any]) -> list[dict[str, Any]]:
    from loopml.spec import METRICS

    test = card.get("test") or {}
    intervals = test.get("intervals") or {}
    baseline = test.get("baseline") or {}
    return [
        {
            "metric": name,
            "value": value,
            "interval": intervals.get(name),
            "baseline": baseline.get(name),
        }
        for name, value in (test.get("metrics") or {}).items()
        if name in METRICS
    ]


def _explanation(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    shap = (evaluation.get("explanation") or {}).get("importance") or []
    permutation = {p["feature"]: p["importance"] for p in evaluation.get("importance") or []}
    return [
        {
            "feature": f["feature"],
            "mean_abs_shap": f.get("mean_abs"),
            "permutation": permutation.get(f["feature"]),
        }
        for f in shap[:TOP_FEATURES]
    ]


def _retrain(decision: dict[str, Any]) -> dict[str, Any]:
    return {
        k: decision[k]
        for k in ("trigger", "champion_version", "decision", "metric", "champion_score")
        if k in decision
    } | {"challenger_score": decision.get("challenger_score"), "at": decision.get("at")}


def _monitoring(checks: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not checks:
        return None
    latest = checks[0]
    return {
        "checks": len(checks),
        "checked_at": latest["checked_at"],
        "rows": latest["rows"],
        "dataset_drift": bool(latest["dataset_drift"]),
        "alerts": [
            a.get("message") or a.get("rule") or str(a) if isinstance(a, dict) else str(a)
            for a in latest["alerts"]
        ],
    }


def write_card(data: dict[str, Any], path: Path, fmt: str = "html") -> Path:
    """Write the card as an HTML page or a Markdown file; returns the path."""
    from loopml.report.html import render, write_report

    if fmt == "md":
        from loopml.registry.card_markdown import card_markdown

        return write_report(path, card_markdown(data))
    return write_report(path, render("card.html.j2", card=data))
