"""Model versions, references and aliases: every chosen model is a numbered version.

A model reference is a version number (`3`), an alias (`production`), or `latest` (the
newest version) — the same in the CLI, the Python API and the server. Every alias change is
written to an audit log (when, who, why). Moving `production` is gated: the version must
meet the spec's KPI goals and beat the current production version on the same test data,
unless forced with a reason.
"""

from __future__ import annotations

import getpass
import math
import os
import re
from typing import Any

from loopml.errors import NotFoundError, UsageError
from loopml.evaluate.metrics import metric_direction
from loopml.store import Store

GATED_ALIAS = "production"
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_RESERVED = ("latest",)


def actor() -> str:
    """Who is acting: `LOOPML_ACTOR`, else the login name."""
    name = os.environ.get("LOOPML_ACTOR")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register_run(store: Store, run: dict[str, Any]) -> int:
    """Record the chosen model of the complete run `run` as the project's next version."""
    chosen = run["chosen"]
    evaluation = run["test_metrics"] or {}
    artifact = chosen.get("model_all_rows") or chosen["model"]
    row = {
        "project": run["project"],
        "run_id": run["id"],
        "dataset_version": run["dataset_version"],
        "split_id": run["split_id"],
        "task": run["spec"]["task"],
        "metric": chosen["metric"],
        "name": chosen["name"],
        "refit_all": chosen.get("model_all_rows") is not None,
        "test_metrics": evaluation.get("metrics") or {},
        "baseline_metrics": run["baseline_test_metrics"] or {},
        "goals": evaluation.get("goals") or [],
        "signature": chosen["signature"],
        "reference": chosen.get("reference"),
        "card": model_card(run),
        **artifact,
    }
    return store.meta.add_model_version(row)


def model_card(run: dict[str, Any]) -> dict[str, Any]:
    """The facts a reader needs before using the model: what, on what data, how good, limits."""
    chosen = run["chosen"]
    evaluation = run["test_metrics"] or {}
    metrics = evaluation.get("metrics") or {}
    spec = run["spec"]
    return {
        "model": chosen["name"],
        "members": [{"name": m["name"], "weight": m["weight"]} for m in chosen["members"]],
        "task": spec["task"],
        "target": spec["target"],
        "primary_metric": chosen["metric"],
        "trained_on": {
            "dataset_version": run["dataset_version"],
            "split": run["split_id"],
            "seed": run["seed"],
            "rows": metrics.get("n_rows"),
            "refit_on_all_rows": chosen.get("model_all_rows") is not None,
        },
        "test": {
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float)},
            "intervals": evaluation.get("intervals"),
            "baseline": {
                k: v
                for k, v in (run["baseline_test_metrics"] or {}).items()
                if isinstance(v, int | float)
            },
            "improvement": evaluation.get("improvement"),
        },
        "goals": evaluation.get("goals") or [],
        "fairness": evaluation.get("fairness"),
        "decision": {"threshold": chosen.get("threshold"), "why": chosen.get("threshold_reason")},
        "inputs": [c["name"] for c in chosen["signature"]["columns"]],
        "environment": run["environment"].get("packages"),
        "run": run["id"],
        "trained_at": run["finished_at"],
    }


def resolve(store: Store, project: str, ref: str) -> dict[str, Any]:
    """The model version a reference names: a number, an alias, or `latest`."""
    ref = str(ref).strip()
    versions = store.meta.model_versions(project)
    if not versions:
        raise NotFoundError("no model versions yet; run `loopml train` first")
    if ref == "latest":
        return versions[0]
    if ref.isdigit():
        found = store.meta.model_version(project, int(ref))
        if found is None:
            raise NotFoundError(
                f"no model version {ref}; versions are 1 to {versions[0]['version']} "
                "(see `loopml models list`)"
            )
        return found
    named = store.meta.aliases(project)
    if ref in named:
        return store.meta.model_version(project, named[ref])
    known = ", ".join(sorted(named)) or "none yet"
    raise NotFoundError(
        f"unknown model reference `{ref}`: give a version number, `latest`, or an alias "
        f"(aliases: {known})"
    )


def check_alias(name: str) -> str:
    """`name` if it can be an alias; a UsageError saying why not otherwise."""
    if not _ALIAS.match(name or "") or name in _RESERVED or name.isdigit():
        raise UsageError(
            f"`{name}` cannot be an alias: use a letter then letters, digits, `-` or `_` "
            "(not `latest`)"
        )
    return name


def current_production(store: Store, project: str) -> tuple[dict[str, Any] | None, str]:
    """The version a new production version must beat, and how to name it.

    That is the production version; when the alias was removed, the version it last named:
    otherwise demoting production first would open the gate to any version.
    """
    named = store.meta.aliases(project)
    if GATED_ALIAS in named:
        return store.meta.model_version(project, named[GATED_ALIAS]), GATED_ALIAS
    events = store.meta.alias_events(project, GATED_ALIAS)
    if events and events[0]["action"] == "remove" and events[0]["from_version"] is not None:
        last = store.meta.model_version(project, events[0]["from_version"])
        return last, "the last production, removed since"
    return None, GATED_ALIAS


def promotion_gate(
    store: Store,
    project: str,
    candidate: dict[str, Any],
    current: dict[str, Any] | None,
    *,
    goals: list[Any] | None = None,
    label: str = GATED_ALIAS,
) -> list[str]:
    """Why `candidate` may not become production (empty when it may); `goals` are the spec's
    KPI goals now (default: those recorded when the candidate was trained)."""
    problems = quality_problems(candidate, goals=goals)
    if current is None or current["version"] == candidate["version"]:
        return problems
    metric = candidate["metric"]
    mine, theirs = candidate["test_metrics"].get(metric), current["test_metrics"].get(metric)
    rows = "the same test rows"
    if current["metric"] != metric:
        problems.append(
            f"version {current['version']} ({label}) was chosen by {current['metric']}, not "
            f"{metric}, so the two cannot be compared; retrain with one metric, or force with "
            "a reason"
        )
        return problems
    if current["split_id"] != candidate["split_id"]:
        theirs = _rescored(store, project, current, candidate)
        rows = f"version {candidate['version']}'s test rows (rescored; they may overlap its training rows)"
        if theirs is None:
            problems.append(
                f"version {current['version']} ({label}) could not be scored on version "
                f"{candidate['version']}'s test rows to compare them; force with a reason"
            )
            return problems
    if mine is None or theirs is None or math.isnan(mine) or math.isnan(theirs):
        problems.append(f"{metric} is undefined for one of the two versions")
    else:
        better = mine > theirs if metric_direction(metric) else mine < theirs
        if not better:
            problems.append(
                f"it does not beat version {current['version']} ({label}) on {rows}: "
                f"{metric} {mine:.4g} vs {theirs:.4g}"
            )
    return problems


def quality_problems(candidate: dict[str, Any], *, goals: list[Any] | None = None) -> list[str]:
    """The goals `candidate` misses on its test rows, the fairness thresholds it exceeds
    there, and whether it fails to beat the non-model baseline (design invariant 4); empty
    when none. `goals` (the spec's now) replace the goals recorded at training."""
    from loopml.evaluate.goals import check_goals
    from loopml.explain.fairness import fairness_problems

    problems = []
    checked = candidate["goals"] if goals is None else check_goals(goals, candidate["test_metrics"])
    for goal in checked:
        if goal["status"] == "fail":
            problems.append(f"it misses the goal {goal['goal']} (observed {goal['observed']:.4g})")
    problems.extend(fairness_problems((candidate.get("card") or {}).get("fairness")))
    metric = candidate["metric"]
    mine = candidate["test_metrics"].get(metric)
    baseline = (candidate.get("baseline_metrics") or {}).get(metric)
    if all(isinstance(v, int | float) and not math.isnan(v) for v in (mine, baseline)):
        better = mine > baseline if metric_direction(metric) else mine < baseline
        if not better:
            problems.append(
                f"it does not beat the non-model baseline on its test rows: {metric} "
                f"{mine:.4g} vs {baseline:.4g}"
            )
    return problems


def _rescored(
    store: Store, project: str, current: dict[str, Any], candidate: dict[str, Any]
) -> float | None:
    """The current version's metric on the candidate's test rows; None if it cannot be had."""
    from loopml.errors import LoopmlError
    from loopml.registry.compare import score_on_split

    purpose = (
        f"promotion gate: version {current['version']} rescored to compare with "
        f"version {candidate['version']}"
    )
    try:
        return score_on_split(store, project, current, candidate["split_id"], purpose=purpose)
    except (LoopmlError, ValueError, KeyError):
        return None


def promote(
    store: Store,
    project: str,
    ref: str,
    alias: str,
    *,
    force: bool = False,
    reason: str | None = None,
    goals: list[Any] | None = None,
) -> dict[str, Any]:
    """Point `alias` at the version `ref` names; gated for production (against `goals`, the
    spec's KPI goals, when given). Returns the event."""
    check_alias(alias)
    candidate = resolve(store, project, ref)
    if force and not (reason or "").strip():
        raise UsageError("--force needs --reason: say why the gate is overridden")
    named = store.meta.aliases(project)
    if named.get(alias) == candidate["version"]:
        raise UsageError(f"alias `{alias}` already points at version {candidate['version']}")
    if alias == GATED_ALIAS and not force:
        current, label = current_production(store, project)
        problems = promotion_gate(store, project, candidate, current, goals=goals, label=label)
        if problems:
            raise UsageError(
                f"version {candidate['version']} cannot become {alias}: "
                + "; ".join(problems)
                + '. To override, add --force --reason "…"'
            )
    return store.meta.move_alias(
        project, alias, candidate["version"], actor=actor(), reason=reason, forced=force
    )


def demote(store: Store, project: str, alias: str, *, reason: str | None = None) -> dict[str, Any]:
    """Remove `alias` (logged with `reason`)."""
    check_alias(alias)
    return store.meta.move_alias(project, alias, None, actor=actor(), reason=reason)
