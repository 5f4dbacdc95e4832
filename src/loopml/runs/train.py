"""`train`: search, ensemble, calibrate, pick a threshold, refit, evaluate once on test, record.

The whole of it — reading the data, the search, the final refit, the test evaluation and the
report — runs inside the time budget (design invariant 6): the search stops early enough to
leave what the final steps are expected to need.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.data.splits import FINAL_EVALUATION
from loopml.errors import DataError, LoopmlError
from loopml.models import Family, families_for, get_family
from loopml.models.custom import custom_family
from loopml.models.trained import TrainedModel
from loopml.monitor.reference import reference_statistics
from loopml.progress import NoProgress, Progress
from loopml.registry.signature import infer_signature
from loopml.registry.versions import register_run
from loopml.runs.choose import choose_model, choose_threshold, final_reserve, trim_to_time
from loopml.runs.environment import environment
from loopml.runs.final import (
    chosen_record,
    evaluate_model,
    explain_test,
    fit_members,
    refit_on_all_rows,
    write_train_report,
)
from loopml.runs.prepare import Prepared, TrainInputs, default_jobs, prepare_training
from loopml.runs.records import (
    TrainResult,
    jsonable,
    leaderboard_frame,
    leaderboard_rows,
    trial_row,
)
from loopml.search.budget import Budget
from loopml.search.calibrate import choose_calibration
from loopml.search.engine import SearchResult, search_models
from loopml.search.trials import Candidate, TrialData
from loopml.search.worker import TrialWorker
from loopml.spec import ProjectSpec
from loopml.store import Store
from loopml.store.metadata import utcnow


@dataclass
class TrainOptions:
    """Settings of one `train` call; None takes the spec's `train:` value."""

    time_budget: float | None = None
    families: list[str] | None = None
    jobs: int | None = None
    refit_all: bool | None = None
    max_trials: int | None = None
    method: str | None = None
    replay: list[dict[str, Any]] | None = None  # trials to run instead of a search (reproduce)
    started: float | None = None  # time.perf_counter() the budget counts from (default: now)
    inputs: TrainInputs | None = None  # data, split and roles to use instead of the spec's data


def train_model(
    spec: ProjectSpec,
    root: Path,
    store: Store,
    options: TrainOptions | None = None,
    *,
    progress: Progress | None = None,
) -> TrainResult:
    """Run the whole training stage for `spec`; returns the recorded result."""
    options = options or TrainOptions()
    progress = progress or NoProgress()
    total = options.time_budget if options.time_budget is not None else spec.train.time_budget
    if total <= 0:
        raise DataError(f"the time budget must be positive, got {total:g} s")
    budget = Budget(total, started=options.started or time.perf_counter())
    jobs = options.jobs or spec.train.jobs or default_jobs()
    families = _families(spec, options)
    worker = TrialWorker(custom_families=spec.train.custom_families).start()
    try:
        prepared = prepare_training(spec, root, store, jobs, progress, options.inputs)
        worker.data = prepared.data
        run_id = store.meta.add_run(
            {
                "project": spec.name,
                "spec": spec.model_dump(mode="json"),
                "spec_hash": spec.fingerprint(),
                "dataset_version": prepared.version.version,
                "split_id": prepared.split.id,
                "seed": spec.seed,
                "time_budget_s": total,
                "environment": environment(root, jobs),
            }
        )
        try:
            return _train(
                spec, root, store, run_id, prepared, families, budget, options, progress, worker
            )
        except BaseException as exc:
            message = str(exc) if isinstance(exc, LoopmlError) else f"{type(exc).__name__}: {exc}"
            store.meta.update_run(run_id, status="failed", error=message, finished_at=utcnow())
            raise
    finally:
        worker.close()


def _families(spec: ProjectSpec, options: TrainOptions) -> list[Family]:
    from loopml.models import FAMILIES, register_family

    for declared in spec.train.custom_families:
        family = custom_family(declared)
        if declared.name in FAMILIES and FAMILIES[declared.name].description != family.description:
            raise DataError(
                f"`train.custom_families` declares `{declared.name}`, the name of a built-in "
                "family; rename it"
            )
        register_family(family, replace=True)
    names = options.families if options.families is not None else spec.train.families
    return families_for(spec.task, names)


def _train(
    spec: ProjectSpec,
    root: Path,
    store: Store,
    run_id: str,
    prepared: Prepared,
    families: list[Family],
    budget: Budget,
    options: TrainOptions,
    progress: Progress,
    worker: TrialWorker,
) -> TrainResult:
    data = prepared.data
    n_test = int(prepared.split.counts.get("test", 0))
    progress.phase("Searching", total=max(1.0, round(budget.search_remaining())))
    before_search = budget.elapsed()
    try:
        search = _search(
            spec, store, run_id, data, families, budget, options, progress, worker, n_test
        )
    finally:
        worker.close()  # its cores are the refit's now
    ranked = search.ranked(data)
    if not ranked:
        raise DataError(_nothing_fitted(search, budget, len(prepared.frame), before_search))
    progress.phase("Choosing: ensemble, calibration, threshold")
    chosen, ensemble = choose_model(data, ranked, spec)
    refits = _refits(options, spec, data, n_test)
    chosen = trim_to_time(data, chosen, ranked[0], budget, search.notes, refits, n_test)
    if ensemble is not None and chosen is not ensemble:
        ensemble = chosen if len(chosen.members) > 1 else None
    calibration, calibration_report = None, None
    oof = chosen.oof
    if data.task != "regression" and spec.train.calibrate:
        calibration, calibration_report = choose_calibration(data, oof)
        if calibration is not None:
            oof = oof.copy()
            rows = data.validated_rows
            oof[rows] = calibration.transform(oof[rows])
    threshold, threshold_reason, oof_value = choose_threshold(data, oof, spec)
    members, weights = fit_members(data, chosen, progress)
    model = TrainedModel(
        members,
        weights,
        task=data.task,
        columns=prepared.features,
        classes=data.classes,
        calibration=calibration,
        threshold=threshold,
        names=[m.name for m in chosen.members][: len(members)],
    )
    progress.phase("Evaluating on the test part")
    test = prepared.view.unseal_test(f"{FINAL_EVALUATION} {run_id}")
    evaluation, test_prediction = evaluate_model(spec, data, model, test, threshold, budget)
    explanation, explain_note = explain_test(spec, data, model, test, budget)
    if spec.fairness is not None:
        from loopml.explain.fairness_stage import fairness_at_training

        evaluation["fairness"] = fairness_at_training(
            spec, data.classes, threshold, test_prediction, test
        )
    if explanation is not None:
        evaluation["explanation"] = explanation.to_dict()
    from loopml.models.persist import dump_model

    blob = dump_model(model)
    ref = store.artifacts.put_bytes(blob, suffix=".skops")
    all_rows_ref = None
    refit_all = options.refit_all if options.refit_all is not None else spec.train.refit_all
    if refit_all:
        progress.phase("Refitting on every row (test included) for deployment")
        everything = pd.concat([prepared.frame, test], ignore_index=True)
        deploy = refit_on_all_rows(data, chosen, weights, everything, spec, model)
        all_rows_ref = store.artifacts.put_bytes(dump_model(deploy), suffix=".skops")
    leaderboard = leaderboard_rows(data, search.candidates, ensemble)
    record = chosen_record(
        chosen,
        weights,
        calibration,
        calibration_report,
        threshold,
        threshold_reason,
        oof_value,
        ref,
        all_rows_ref,
        model,
        data.metric,
    )
    # What the model expects of its input, from the rows it learned from (issue 4 enforces it).
    record["signature"] = infer_signature(data.X, data.roles).to_dict()
    # What training data and test predictions looked like, for drift checks (issue 5).
    record["reference"] = reference_statistics(
        data.X, data.roles, test_prediction, task=data.task, classes=data.classes
    )
    notes = list(search.notes)
    if prepared.data.folds.note:
        notes.append(prepared.data.folds.note)
    if evaluation["importance_note"]:
        notes.append(evaluation["importance_note"])
    if explain_note:
        notes.append(explain_note)
    report_path = write_train_report(
        spec,
        root,
        run_id,
        prepared,
        search,
        leaderboard,
        record,
        test,
        test_prediction,
        evaluation,
        budget,
        notes,
        refit_all,
        explanation,
    )
    public = {k: v for k, v in evaluation.items() if k not in ("baseline_prediction",)}
    store.meta.update_run(
        run_id,
        status="complete",
        chosen=jsonable(record),
        leaderboard=jsonable(leaderboard),
        test_metrics=jsonable(public),
        baseline_test_metrics=jsonable(evaluation["baseline_metrics"]),
        report_path=None if report_path is None else str(report_path),
        finished_at=utcnow(),
    )
    version = register_run(store, store.meta.run(run_id))
    return TrainResult(
        run_id=run_id,
        version=version,
        model=model,
        model_sha256=ref.sha256,
        leaderboard=leaderboard_frame(leaderboard),
        chosen=jsonable(record),
        test_metrics=jsonable(evaluation["metrics"]),
        baseline_test_metrics=jsonable(evaluation["baseline_metrics"]),
        evaluation=jsonable(public),
        report_path=report_path,
        wall_seconds=budget.elapsed(),
        time_budget_s=budget.total_s,
        notes=notes,
    )


def _search(
    spec: ProjectSpec,
    store: Store,
    run_id: str,
    data: TrialData,
    families: list[Family],
    budget: Budget,
    options: TrainOptions,
    progress: Progress,
    worker: TrialWorker,
    n_test: int,
) -> SearchResult:
    if options.replay is not None:
        search = _replay(options.replay, progress, _runner(worker, data, spec))
        for candidate in search.candidates:
            store.meta.add_trial(trial_row(run_id, candidate))
        return search
    max_trials = options.max_trials if options.max_trials is not None else spec.train.max_trials
    return search_models(
        data,
        families,
        budget,
        method=options.method or spec.train.search,
        max_trials=max_trials,
        progress=progress,
        on_trial=lambda c: store.meta.add_trial(trial_row(run_id, c)),
        update_reserve=lambda ranked: final_reserve(
            data, ranked, n_test, spec.train.ensemble, _refits(options, spec, data, n_test)
        ),
        runner=_runner(worker, data, spec),
    )


def _runner(worker: TrialWorker, data: TrialData, spec: ProjectSpec) -> Any:
    """Run trials in the worker, except those of families registered from Python in this
    process (the worker cannot import them): those run here, without a hard time limit."""
    from loopml.models.catalog import is_built_in
    from loopml.search.trials import run_trial

    declared = {f.name for f in spec.train.custom_families}

    def run(number: int, name: str, params: dict[str, Any], **kwargs: Any) -> Candidate:
        if name in declared or is_built_in(get_family(name)):
            return worker.run(number, name, params, **kwargs)
        return run_trial(data, number, get_family(name), params, **kwargs)

    return run


def _replay(trials: list[dict[str, Any]], progress: Progress, runner: Any) -> SearchResult:
    result = SearchResult([])
    for row in trials:
        params = {k: v for k, v in row["params"].items() if k != "refit_rounds"}
        progress.describe(f"replaying {row['family']} #{row['number']}")
        candidate = runner(row["number"], row["family"], params)
        if row["status"] != "complete" and candidate.complete:
            # It was pruned or stopped by time in the original run: keep it out of the choice.
            candidate.status, candidate.score, candidate.oof = row["status"], None, None
            candidate.error = row.get("error")
        result.candidates.append(candidate)
    return result


def _refits(options: TrainOptions, spec: ProjectSpec, data: TrialData, n_test: int) -> float:
    """How many refits the final steps make, in units of one refit on train + validation."""
    refit_all = options.refit_all if options.refit_all is not None else spec.train.refit_all
    return 1.0 + (1.0 + n_test / max(1, len(data.X)) if refit_all else 0.0)


def _nothing_fitted(search: SearchResult, budget: Budget, rows: int, before: float) -> str:
    tried = search.candidates[1:]
    failed = [c for c in tried if c.status == "failed"]
    if failed and len(failed) == len(tried):
        return f"every model failed to fit; the first error was: {failed[0].error}"
    return (
        f"the {budget.total_s:g} s time budget was too small to fit any model on {rows:,} "
        f"training rows (reading and preparing the data took {before:.1f} s of it, the baseline "
        f"{search.baseline.seconds:.2f} s); give a larger `--time-budget`"
    )
