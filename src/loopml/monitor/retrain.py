"""`loopml retrain`: a challenger on new data, promoted only if it beats the champion.

    result = retrain_model(spec, root, store, RetrainOptions(), folders=...)
    result.decision        # promoted | kept | dry-run
    result.reasons         # why it was kept (empty when promoted)

The flow: the new rows of the spec's `retrain.data` policy become a dataset version whose
split holds the fresh holdout as its sealed test part (monitor/retrain_data.py); a run
trains the challenger on the rest — the champion's chosen families and parameters refitted
(`search: reuse`) or a new search (`fresh`) — and registers it as a version; both versions
are scored on the holdout rows by the registry's scorer; the challenger becomes
`production` through the registry's gated promotion only when it beats the champion by
`retrain.margin` and passes the gate (goals, baseline); the decision, its reasons and its
lineage (trigger, data, run, versions) are recorded either way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loopml.errors import NotFoundError, UsageError
from loopml.evaluate.metrics import metric_direction
from loopml.progress import NoProgress, Progress
from loopml.registry.versions import (
    GATED_ALIAS,
    current_production,
    promote,
    promotion_gate,
    quality_problems,
    resolve,
)
from loopml.spec import ProjectSpec, RetrainData
from loopml.store import Store
from loopml.store.metadata import utcnow

SEARCHES = ("reuse", "fresh")


@dataclass
class RetrainOptions:
    """Settings of one retrain; None takes the spec's `retrain:` value."""

    ref: str | None = None  # the champion (default: production)
    data: str | None = None  # a file to retrain on instead of `retrain.data`
    search: str | None = None  # reuse | fresh
    time_budget: float | None = None
    dry_run: bool = False
    check_id: int | None = None  # the monitoring check that triggered it
    started: float | None = None  # time.perf_counter() the budget counts from
    cwd: Path | None = None  # `data` is relative to it (default: the current folder)


@dataclass
class RetrainResult:
    """One retrain: what triggered it, both versions' holdout scores and the decision."""

    decision: str  # promoted | kept | dry-run
    champion: int
    metric: str
    margin: float
    search: str
    trigger: dict[str, Any]
    data: dict[str, Any]
    id: int | None = None
    challenger: int | None = None
    champion_score: float | None = None
    challenger_score: float | None = None
    baseline_score: float | None = None
    reasons: list[str] = field(default_factory=list)
    dataset_version: str | None = None
    split_id: str | None = None
    run_id: str | None = None
    at: str | None = None
    repeated: bool = False  # an alert's retrain found these rows already decided: not rerun

    @property
    def improvement(self) -> float | None:
        """How much better the challenger scored, in the metric's direction."""
        if self.champion_score is None or self.challenger_score is None:
            return None
        sign = 1.0 if metric_direction(self.metric) else -1.0
        return sign * (self.challenger_score - self.champion_score)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (what `loopml retrain --json` prints)."""
        return asdict(self) | {"improvement": self.improvement}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RetrainResult:
        """Build from a `retrain_decisions` row."""
        details = row["details"]
        trigger = {"kind": row["trigger"], "check_id": row["monitor_check_id"]}
        return cls(
            decision=row["decision"],
            champion=row["champion_version"],
            metric=row["metric"],
            margin=row["margin"],
            search=details["search"],
            trigger=trigger | {"alerts": row["alerts"]},
            data=details["data"],
            id=row["id"],
            challenger=row["challenger_version"],
            champion_score=row["champion_score"],
            challenger_score=row["challenger_score"],
            baseline_score=details.get("baseline_score"),
            reasons=list(row["reasons"]),
            dataset_version=row["dataset_version"],
            split_id=row["split_id"],
            run_id=row["run_id"],
            at=row["at"],
        )


def retrain_model(
    spec: ProjectSpec,
    root: Path,
    store: Store,
    options: RetrainOptions,
    *,
    log_folder: Path,
    feedback_folder: Path,
    progress: Progress | None = None,
) -> RetrainResult:
    """Train a challenger on new data and promote it only if it wins; the decision is recorded."""
    from loopml.monitor.retrain_data import collect_rows, record_rows

    progress = progress or NoProgress()
    settings = spec.retrain
    search = options.search or settings.search
    if search not in SEARCHES:
        raise UsageError(f"--search must be reuse or fresh, not {search!r}")
    champion = _champion(store, spec.name, options.ref)
    _comparable(spec, champion)
    trigger = _trigger(store, spec.name, options.check_id)
    policy = settings.data
    if options.data is not None:
        path = Path(options.data)
        path = path if path.is_absolute() else (options.cwd or Path.cwd()) / path
        if not path.is_file():
            raise UsageError(f"--data {options.data}: no such file; give a CSV, Parquet or JSONL")
        policy = RetrainData(path=str(path))
    progress.phase("Reading the new data")
    rows = collect_rows(
        spec,
        root,
        store,
        champion,
        policy,
        holdout=settings.holdout,
        min_rows=settings.min_rows,
        log_folder=log_folder,
        feedback_folder=feedback_folder,
        now=datetime.now(UTC),
    )
    result = RetrainResult(
        decision="dry-run",
        champion=champion["version"],
        metric=spec.primary_metric,
        margin=settings.margin,
        search=search,
        trigger=trigger,
        data=rows.to_dict(),
    )
    if options.dry_run:
        return result
    version, split = record_rows(store, spec, rows)
    result.dataset_version, result.split_id = version.version, split.id
    if options.check_id is not None and (earlier := _decided(spec, store, result)):
        return earlier  # an alert that persists must not register a challenger per check
    trained = _train(spec, root, store, champion, rows, version, split, search, options, progress)
    challenger = store.meta.model_version(spec.name, trained.version)
    result.run_id, result.challenger = trained.run_id, trained.version
    result.baseline_score = _number(challenger["baseline_metrics"].get(result.metric))
    progress.phase("Scoring champion and challenger on the holdout", total=2)
    result.champion_score, result.challenger_score = _scores(store, spec, champion, challenger)
    progress.advance(2)
    result.reasons = _reasons(store, spec, champion, challenger, result)
    result.decision = "kept" if result.reasons else "promoted"
    result.at = utcnow()
    result.id = store.meta.add_retrain_decision(_row(spec, result, rows.counts["holdout"]))
    if result.decision == "promoted":
        _promote(store, spec, result, rows.counts["holdout"])
    return result


def retrain_skipped(alerts: list[dict[str, Any]], on: list[str]) -> dict[str, Any] | None:
    """Why `monitor --retrain` does not retrain after a check raising `alerts`, or None when an
    alert of a rule in `retrain.on` fired."""
    fired = list(dict.fromkeys(alert["rule"] for alert in alerts))
    if not fired:
        return {"decision": "skipped", "reason": "no alert fired", "alerts": []}
    if any(rule in on for rule in fired):
        return None
    return {
        "decision": "skipped",
        "reason": f"the alerts that fired ({', '.join(fired)}) are not in retrain.on "
        f"({', '.join(on) or 'empty'})",
        "alerts": fired,
    }


def _decided(spec: ProjectSpec, store: Store, result: RetrainResult) -> RetrainResult | None:
    """The earlier decision on the same champion, rows, holdout and settings, if any."""
    settings = spec.retrain.model_dump(mode="json")
    for row in store.meta.retrain_decisions(spec.name):
        same = (row["champion_version"], row["dataset_version"], row["split_id"]) == (
            result.champion,
            result.dataset_version,
            result.split_id,
        )
        details = row["details"]
        if same and (details["search"], details["settings"]) == (result.search, settings):
            earlier = RetrainResult.from_row(row)
            earlier.repeated = True
            return earlier
    return None


def _champion(store: Store, project: str, ref: str | None) -> dict[str, Any]:
    if ref is not None:
        return resolve(store, project, ref)
    if GATED_ALIAS not in store.meta.aliases(project):
        if not store.meta.model_versions(project):
            raise NotFoundError("no model versions yet; run `loopml train` first")
        raise NotFoundError(
            "no production model to challenge; promote one (`loopml models promote N "
            "production`) or name the champion (`loopml retrain N`)"
        )
    return resolve(store, project, GATED_ALIAS)


def _comparable(spec: ProjectSpec, champion: dict[str, Any]) -> None:
    """A challenger trained by the spec must be comparable with the champion."""
    number = champion["version"]
    if champion["task"] != spec.task:
        raise UsageError(
            f"version {number} is a {champion['task']} model but loopml.yaml's task is "
            f"{spec.task}; name a champion of the same task"
        )
    if champion["metric"] != spec.primary_metric:
        raise UsageError(
            f"version {number} was chosen by {champion['metric']} but loopml.yaml's metric is "
            f"{spec.primary_metric}, so the two cannot be compared; set `metric: "
            f"{champion['metric']}` or name a champion chosen by {spec.primary_metric}"
        )


def _trigger(store: Store, project: str, check_id: int | None) -> dict[str, Any]:
    if check_id is None:
        return {"kind": "manual", "check_id": None, "alerts": []}
    check = store.meta.monitor_check(check_id)
    if check["project"] != project:
        raise NotFoundError(f"monitoring check {check_id} belongs to project {check['project']}")
    alerts = [{"rule": a["rule"], "message": a["message"]} for a in check["alerts"]]
    return {"kind": "monitor", "check_id": check_id, "alerts": alerts}


def _train(
    spec: ProjectSpec,
    root: Path,
    store: Store,
    champion: dict[str, Any],
    rows: Any,
    version: Any,
    split: Any,
    search: str,
    options: RetrainOptions,
    progress: Progress,
) -> Any:
    from loopml.runs.prepare import TrainInputs
    from loopml.runs.train import TrainOptions, train_model

    roles = {name: rows.roles[name] for name in rows.features}
    train = TrainOptions(
        time_budget=options.time_budget or spec.retrain.time_budget,
        refit_all=False,  # the holdout is the test part: a refit on every row would learn it
        started=options.started,
        inputs=TrainInputs(version, split, roles),
    )
    if search == "reuse":
        train.replay = _champion_trials(store, champion)
    return train_model(spec, root, store, train, progress=progress)


def _champion_trials(store: Store, champion: dict[str, Any]) -> list[dict[str, Any]]:
    """The baseline and the trials of the champion's chosen model, to refit on the new rows."""
    run = store.meta.run(champion["run_id"])
    chosen = {m["trial"] for m in (run["chosen"] or {}).get("members", [])}
    trials = [t for t in store.meta.trials(run["id"]) if t["number"] == 0 or t["number"] in chosen]
    if not any(t["number"] in chosen for t in trials):
        raise NotFoundError(
            f"version {champion['version']}'s run recorded no trials to reuse; retrain with "
            "`--search fresh`"
        )
    return trials


def _scores(
    store: Store, spec: ProjectSpec, champion: dict[str, Any], challenger: dict[str, Any]
) -> tuple[float | None, float | None]:
    """Both versions' metric on the challenger's test part (the holdout), by one scorer."""
    from loopml.registry.compare import score_on_split

    split_id = challenger["split_id"]
    scores = []
    for role, version in (("champion", champion), ("challenger", challenger)):
        purpose = (
            f"retrain: {role} version {version['version']} on the fresh holdout of version "
            f"{challenger['version']}"
        )
        scores.append(_number(score_on_split(store, spec.name, version, split_id, purpose=purpose)))
    return scores[0], scores[1]


def _reasons(
    store: Store,
    spec: ProjectSpec,
    champion: dict[str, Any],
    challenger: dict[str, Any],
    result: RetrainResult,
) -> list[str]:
    """Why the challenger stays out of production (empty when it wins)."""
    metric, rows = result.metric, f"the {result.data['rows']['holdout']:,} fresh holdout rows"
    gain = result.improvement
    reasons = []
    if gain is None:
        reasons.append(f"{metric} is undefined on {rows} for one of the two versions")
    elif gain <= 0:
        reasons.append(
            f"challenger v{result.challenger} does not beat v{result.champion} on {rows}: "
            f"{metric} {result.challenger_score:.4g} vs {result.champion_score:.4g}"
        )
    elif gain < result.margin:
        reasons.append(
            f"challenger v{result.challenger} beats v{result.champion} by {gain:.4g} {metric} on "
            f"{rows}, less than `retrain.margin` ({result.margin:g})"
        )
    current, label = current_production(store, spec.name)
    if current is None or current["version"] == champion["version"]:
        # the champion is production: compared as above
        return reasons + quality_problems(challenger, goals=spec.goals)
    return reasons + promotion_gate(
        store, spec.name, challenger, current, goals=spec.goals, label=label
    )


def _promote(store: Store, spec: ProjectSpec, result: RetrainResult, holdout: int) -> None:
    reason = (
        f"retrain #{result.id}: challenger v{result.challenger} beat v{result.champion} by "
        f"{result.improvement:.4g} {result.metric} ({result.challenger_score:.4g} vs "
        f"{result.champion_score:.4g}) on {holdout:,} fresh holdout rows"
    )
    try:
        promote(
            store, spec.name, str(result.challenger), GATED_ALIAS, reason=reason, goals=spec.goals
        )
    except UsageError as exc:  # production moved since the decision: keep the record honest
        result.decision, result.reasons = "kept", [exc.message]
        store.meta.update_retrain_decision(result.id, decision="kept", reasons=result.reasons)


def _row(spec: ProjectSpec, result: RetrainResult, holdout: int) -> dict[str, Any]:
    return {
        "project": spec.name,
        "trigger": result.trigger["kind"],
        "monitor_check_id": result.trigger["check_id"],
        "alerts": result.trigger["alerts"],
        "champion_version": result.champion,
        "challenger_version": result.challenger,
        "dataset_version": result.dataset_version,
        "split_id": result.split_id,
        "run_id": result.run_id,
        "metric": result.metric,
        "champion_score": result.champion_score,
        "challenger_score": result.challenger_score,
        "margin": result.margin,
        "holdout_rows": holdout,
        "decision": result.decision,
        "reasons": result.reasons,
        "at": result.at,
        "details": {
            "search": result.search,
            "data": result.data,
            "baseline_score": result.baseline_score,
            "settings": spec.retrain.model_dump(mode="json"),
        },
    }


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value
