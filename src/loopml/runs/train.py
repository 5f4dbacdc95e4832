"""`train`: search, ensemble, calibrate, pick a threshold, refit, evaluate once on test, record.

The whole of it — reading the data, the search, the final refit, the test evaluation and the
report — runs inside the time budget (design invariant 6): the search stops early enough to
leave what the final steps are expected to need.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError, LoopmlError
from loopml.evaluate import best_threshold, business_threshold
from loopml.evaluate.final import evaluate_on_test
from loopml.evaluate.importance import permutation_importance
from loopml.evaluate.metrics import THRESHOLDED_METRICS
from loopml.models import Family, families_for, get_family
from loopml.models.custom import custom_family
from loopml.models.trained import Calibration, TrainedModel
from loopml.progress import NoProgress, Progress
from loopml.runs.environment import environment
from loopml.runs.records import (
    TrainResult,
    jsonable,
    leaderboard_frame,
    leaderboard_rows,
    trial_row,
)
from loopml.search.budget import FIXED_RESERVE_S, Budget
from loopml.search.calibrate import choose_calibration
from loopml.search.cv import join_valid, make_folds
from loopml.search.engine import SearchResult, search_models
from loopml.search.ensemble import Ensemble, greedy_ensemble
from loopml.search.trials import Candidate, TrialData, refit_pipeline
from loopml.search.worker import TrialWorker
from loopml.spec import ProjectSpec
from loopml.store import Store
from loopml.store.metadata import utcnow

REPORT_SECONDS = 1.5  # drawing and writing the evaluation report


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


@dataclass
class _Prepared:
    data: TrialData
    frame: pd.DataFrame
    version: Any
    split: Any
    view: Any
    features: list[str]


def default_jobs() -> int:
    """Every core this process may use."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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
        prepared = _prepare(spec, root, store, jobs, progress)
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


def _prepare(
    spec: ProjectSpec, root: Path, store: Store, jobs: int, progress: Progress
) -> _Prepared:
    from loopml.data.profile import column_roles, prepare_dataset
    from loopml.data.splits import open_split, resolve_strategy, split_dataset
    from loopml.features.preprocess import FEATURE_ROLES

    version = prepare_dataset(spec, root, store, progress=progress)
    progress.phase("Splitting")
    split = split_dataset(store, version, spec)
    view = open_split(store, split)
    roles = {k: v for k, v in column_roles(store, version).items() if k != spec.target}
    train, valid = view.train(), view.valid()
    strategy = resolve_strategy(spec)
    folds = make_folds(
        train,
        spec,
        strategy=strategy,
        n_splits=spec.train.folds,
        holdout_rows=spec.train.holdout_rows,
        seed=spec.seed,
        valid=valid,
    )
    frame = join_valid(train, valid) if valid is not None and len(valid) else train
    features = [c for c in frame.columns if roles.get(c) in FEATURE_ROLES]
    _check_inputs(spec, frame, features, roles)
    y = frame[spec.target]
    classes = None if spec.task == "regression" else sorted(pd.unique(y).tolist())
    data = TrialData(
        X=frame[features],
        y=y,
        folds=folds,
        task=spec.task,
        metric=spec.primary_metric,
        roles={name: roles[name] for name in features},
        classes=classes,
        seed=spec.seed,
        n_jobs=jobs,
    )
    return _Prepared(data, frame, version, split, view, features)


def _check_inputs(spec: ProjectSpec, frame: pd.DataFrame, features: list[str], roles: dict) -> None:
    y = frame[spec.target]
    if y.isna().any():
        raise DataError(
            f"target `{spec.target}` is missing in {int(y.isna().sum()):,} training rows; set "
            "`cleaning.drop_missing_target: true` in loopml.yaml"
        )
    if spec.task != "regression" and y.nunique() < 2:
        raise DataError(
            f"target `{spec.target}` has a single class ({y.iloc[0]!r}) in the training part; "
            "a classifier needs rows of at least two classes"
        )
    if spec.task == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise DataError(f"target `{spec.target}` is not numeric; a regression needs numbers")
    if not features:
        dropped = ", ".join(f"{name} ({role})" for name, role in list(roles.items())[:6])
        raise DataError(
            f"no column can be used as a feature (roles: {dropped or 'none'}); give some columns "
            "a feature role under `columns:` in loopml.yaml"
        )
    if frame[features].isna().all().all():
        raise DataError(
            "every feature column is missing in every training row; there is nothing to learn from"
        )


def _train(
    spec: ProjectSpec,
    root: Path,
    store: Store,
    run_id: str,
    prepared: _Prepared,
    families: list[Family],
    budget: Budget,
    options: TrainOptions,
    progress: Progress,
    worker: TrialWorker,
) -> TrainResult:
    data = prepared.data
    n_test = int(prepared.split.counts.get("test", 0))
    progress.phase("Searching", total=max(1.0, round(budget.search_remaining())))
    try:
        search = _search(
            spec, store, run_id, data, families, budget, options, progress, worker, n_test
        )
    finally:
        worker.close()  # its cores are the refit's now
    ranked = search.ranked(data)
    if not ranked:
        raise DataError(_nothing_fitted(search, budget, len(prepared.frame)))
    progress.phase("Choosing: ensemble, calibration, threshold")
    chosen, ensemble = _choose(data, ranked, spec)
    refits = _refits(options, spec, data, int(prepared.split.counts.get("test", 0)))
    chosen = _affordable(data, chosen, ranked[0], budget, search.notes, refits)
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
    threshold, threshold_reason, oof_value = _threshold(data, oof, spec)
    members, weights = _fit_members(data, chosen, progress)
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
    test = prepared.view.unseal_test(f"final evaluation of run {run_id}")
    evaluation, test_prediction = _evaluate(spec, data, model, test, threshold, budget)
    from loopml.models.persist import dump_model

    blob = dump_model(model)
    ref = store.artifacts.put_bytes(blob, suffix=".skops")
    all_rows_ref = None
    refit_all = options.refit_all if options.refit_all is not None else spec.train.refit_all
    if refit_all:
        progress.phase("Refitting on every row (test included) for deployment")
        everything = pd.concat([prepared.frame, test], ignore_index=True)
        deploy = _refit_all(data, chosen, weights, everything, spec, model)
        all_rows_ref = store.artifacts.put_bytes(dump_model(deploy), suffix=".skops")
    leaderboard = leaderboard_rows(data, search.candidates, ensemble)
    chosen_record = _chosen_record(
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
    notes = list(search.notes)
    if prepared.data.folds.note:
        notes.append(prepared.data.folds.note)
    report_path = _write_report(
        spec,
        root,
        run_id,
        prepared,
        search,
        leaderboard,
        chosen_record,
        test,
        test_prediction,
        evaluation,
        budget,
        notes,
        refit_all,
    )
    public = {k: v for k, v in evaluation.items() if k not in ("baseline_prediction",)}
    store.meta.update_run(
        run_id,
        status="complete",
        chosen=jsonable(chosen_record),
        leaderboard=jsonable(leaderboard),
        test_metrics=jsonable(public),
        baseline_test_metrics=jsonable(evaluation["baseline_metrics"]),
        report_path=None if report_path is None else str(report_path),
        finished_at=utcnow(),
    )
    return TrainResult(
        run_id=run_id,
        model=model,
        model_sha256=ref.sha256,
        leaderboard=leaderboard_frame(leaderboard),
        chosen=jsonable(chosen_record),
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
        update_reserve=lambda ranked: _final_reserve(
            data, ranked, n_test, spec.train.ensemble, _refits(options, spec, data, n_test)
        ),
        runner=_runner(worker, data, spec),
    )


def _runner(worker: TrialWorker, data: TrialData, spec: ProjectSpec) -> Any:
    """Run trials in the worker, except those of families registered from Python in this
    process (the worker cannot import them): those run here, without a hard time limit."""
    from loopml.models import FAMILIES
    from loopml.models.catalog import BUILT_IN, OPTIONAL
    from loopml.search.trials import run_trial

    known = {f.name: f for f in (*BUILT_IN, *OPTIONAL.values())}
    declared = {f.name for f in spec.train.custom_families}

    def run(number: int, name: str, params: dict[str, Any], **kwargs: Any) -> Candidate:
        if name in declared or FAMILIES.get(name) is known.get(name, object()):
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


def _refit_seconds(data: TrialData, candidate: Candidate) -> float:
    train_rows = np.mean([len(t) for t, _ in data.folds])
    per_fold = candidate.fit_s / max(1, len(candidate.fold_scores))
    return per_fold * len(data.X) / max(1.0, train_rows) * 1.15


def _refits(options: TrainOptions, spec: ProjectSpec, data: TrialData, n_test: int) -> float:
    """How many refits the final steps make, in units of one refit on train + validation."""
    refit_all = options.refit_all if options.refit_all is not None else spec.train.refit_all
    return 1.0 + (1.0 + n_test / max(1, len(data.X)) if refit_all else 0.0)


def _final_reserve(
    data: TrialData, ranked: list[Candidate], n_test: int, ensemble: bool, refits: float
) -> float:
    top = ranked[: 4 if ensemble else 1]
    refit = refits * sum(_refit_seconds(data, c) for c in top)
    valid_rows = max(1.0, np.mean([len(v) for _, v in data.folds]))
    predict = sum(c.predict_s / max(1, len(c.fold_scores)) * n_test / valid_rows for c in top)
    return refit + 3 * predict + FIXED_RESERVE_S + REPORT_SECONDS


def _nothing_fitted(search: SearchResult, budget: Budget, rows: int) -> str:
    tried = search.candidates[1:]
    failed = [c for c in tried if c.status == "failed"]
    if failed and len(failed) == len(tried):
        return f"every model failed to fit; the first error was: {failed[0].error}"
    return (
        f"the {budget.total_s:g} s time budget was too small to fit any model on {rows:,} "
        f"training rows (the baseline alone took {search.baseline.seconds:.2f} s); give a larger "
        "`--time-budget`"
    )


def _choose(
    data: TrialData, ranked: list[Candidate], spec: ProjectSpec
) -> tuple[Ensemble, Ensemble | None]:
    best = ranked[0]
    single = Ensemble([best], [1.0], float(best.score), best.oof)
    if not spec.train.ensemble or len(ranked) < 2:
        return single, None
    ensemble = greedy_ensemble(data, ranked)
    if len(ensemble.members) > 1 and data.better(ensemble.score, best.score):
        return ensemble, ensemble
    return single, None


def _threshold(
    data: TrialData, oof: np.ndarray, spec: ProjectSpec
) -> tuple[float, str | None, float | None]:
    if data.task != "binary":
        return 0.5, None, None
    rows = data.validated_rows
    y, p = data.y.iloc[rows], oof[rows, 1]
    if spec.train.value is not None:
        outcome = spec.train.value.model_dump()
        threshold, value = business_threshold(y, p, classes=data.classes, **outcome)
        return threshold, "highest expected value per decision out of fold", value
    if spec.train.threshold != "auto":
        return float(spec.train.threshold), "set in loopml.yaml", None
    if data.metric in THRESHOLDED_METRICS:
        return (
            best_threshold(y, p, data.metric, classes=data.classes),
            f"best {data.metric} out of fold",
            None,
        )
    return 0.5, None, None


def _affordable(
    data: TrialData,
    chosen: Ensemble,
    best: Candidate,
    budget: Budget,
    notes: list[str],
    refits: float,
) -> Ensemble:
    """`chosen`, or as many of its heaviest-weighted members as the time left can refit."""
    if len(chosen.members) == 1:
        return chosen
    left = budget.remaining() - FIXED_RESERVE_S - REPORT_SECONDS
    order = sorted(range(len(chosen.members)), key=lambda i: -chosen.weights[i])
    kept, needed = [], 0.0
    for i in order:
        seconds = refits * _refit_seconds(data, chosen.members[i])
        if kept and needed + seconds > left:
            break
        kept.append(i)
        needed += seconds
    if len(kept) == len(chosen.members):
        return chosen
    weights = np.array([chosen.weights[i] for i in kept])
    weights /= weights.sum()
    rows = data.validated_rows
    oof = np.full_like(chosen.oof, np.nan)
    oof[rows] = sum(w * chosen.members[i].oof[rows] for i, w in zip(kept, weights, strict=True))
    reduced = Ensemble(
        [chosen.members[i] for i in kept], [float(w) for w in weights], data.oof_score(oof), oof
    )
    if len(kept) == 1 or not data.better(reduced.score, best.score):
        reduced = Ensemble([best], [1.0], float(best.score), best.oof)
    notes.append(
        f"refitting all {len(chosen.members)} members of the ensemble would not fit the time "
        f"left; {reduced.name} was refitted instead"
    )
    return reduced


def _fit_members(
    data: TrialData, chosen: Ensemble, progress: Progress
) -> tuple[list[Any], list[float]]:
    progress.phase("Refitting the chosen model on train + validation", total=len(chosen.members))
    fitted = []
    for candidate in chosen.members:
        pipeline = refit_pipeline(candidate, get_family(candidate.family), data)
        pipeline.fit(data.X, data.y)
        fitted.append(_single_threaded(pipeline))
        progress.advance()
    return fitted, list(chosen.weights)


def _single_threaded(pipeline: Any) -> Any:
    """Forests predict with one thread: summing trees in parallel changes the last bits."""
    model = pipeline.steps[-1][1]
    if type(model).__name__ in (
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
    ):
        model.set_params(n_jobs=1)
    return pipeline


def _refit_all(
    data: TrialData,
    chosen: Ensemble,
    weights: list[float],
    frame: pd.DataFrame,
    spec: ProjectSpec,
    model: TrainedModel,
) -> TrainedModel:
    X, y = frame[model.columns], frame[spec.target]
    fitted = []
    for candidate in chosen.members[: len(model.members)]:
        pipeline = refit_pipeline(candidate, get_family(candidate.family), data)
        fitted.append(_single_threaded(pipeline.fit(X, y)))
    return TrainedModel(
        fitted,
        weights,
        task=model.task,
        columns=model.columns,
        classes=model.classes,
        calibration=model.calibration,
        threshold=model.threshold,
        names=model.names,
    )


def _evaluate(
    spec: ProjectSpec,
    data: TrialData,
    model: TrainedModel,
    test: pd.DataFrame,
    threshold: float,
    budget: Budget,
) -> tuple[dict[str, Any], np.ndarray]:
    if len(test) == 0:
        raise DataError("the test part is empty; raise `split.test_size` in loopml.yaml")
    y_test = test[spec.target]
    if data.classes is not None:
        unseen = sorted(set(pd.unique(y_test).tolist()) - set(data.classes), key=str)
        if unseen:
            raise DataError(
                f"the test part holds class(es) {unseen[:5]} of `{spec.target}` that training "
                "never saw; use a stratified split (`split.strategy: stratified`)"
            )
    proba = model.predict_proba(test) if data.classes is not None else None
    prediction = (
        model.predict(test) if proba is None else (proba[:, 1] if data.task == "binary" else proba)
    )
    evaluation = evaluate_on_test(
        data.task,
        data.metric,
        y_test,
        prediction,
        data.y,
        classes=data.classes,
        threshold=threshold,
        goals=spec.goals,
        value=spec.train.value,
        seed=spec.seed,
    )

    def predict(frame: pd.DataFrame) -> np.ndarray:
        if data.classes is None:
            return model.predict(frame)
        p = model.predict_proba(frame)
        return p[:, 1] if data.task == "binary" else p

    deadline = time.perf_counter() + budget.remaining() - REPORT_SECONDS - FIXED_RESERVE_S
    evaluation["importance"] = permutation_importance(
        predict,
        test[model.columns],
        y_test,
        data.metric,
        task=data.task,
        classes=data.classes,
        threshold=threshold,
        seed=spec.seed,
        deadline=deadline,
    )
    return evaluation, prediction


def _chosen_record(
    chosen: Ensemble,
    weights: list[float],
    calibration: Calibration | None,
    calibration_report: dict | None,
    threshold: float,
    threshold_reason: str | None,
    oof_value: float | None,
    ref: Any,
    all_rows_ref: Any,
    model: TrainedModel,
    metric: str,
) -> dict[str, Any]:
    members = chosen.members[: len(model.members)]
    name = members[0].name if len(members) == 1 else f"ensemble of {len(members)}"
    return {
        "name": name,
        "metric": metric,
        "family": members[0].family if len(members) == 1 else "ensemble",
        "params": members[0].params if len(members) == 1 else {},
        "members": [
            {
                "trial": m.number,
                "name": m.name,
                "family": m.family,
                "params": m.params,
                "rounds": m.rounds,
                "weight": w,
            }
            for m, w in zip(members, weights, strict=True)
        ],
        "cv_score": chosen.score if len(members) == len(chosen.members) else members[0].score,
        "calibration": None
        if calibration is None
        else {"kind": calibration.kind, "params": calibration.params},
        "calibration_check": calibration_report,
        "threshold": threshold if model.task == "binary" else None,
        "threshold_reason": threshold_reason,
        "oof_expected_value": oof_value,
        "columns": model.columns,
        "classes": model.classes,
        "model": ref.as_row(),
        "model_all_rows": None if all_rows_ref is None else all_rows_ref.as_row(),
    }


def _write_report(
    spec: ProjectSpec,
    root: Path,
    run_id: str,
    prepared: _Prepared,
    search: SearchResult,
    leaderboard: list[dict[str, Any]],
    chosen: dict[str, Any],
    test: pd.DataFrame,
    prediction: np.ndarray,
    evaluation: dict[str, Any],
    budget: Budget,
    notes: list[str],
    refit_all: bool,
) -> Path | None:
    from loopml.evaluate.metrics import metric_direction
    from loopml.report.evaluation_report import EvaluationView, write_evaluation_report

    cv_scores: dict[str, list[float]] = {}
    for c in search.candidates:
        if c.complete and c.score is not None and not math.isnan(c.score):
            cv_scores.setdefault(c.family, []).append(float(c.score))
    view = EvaluationView(
        project=spec.name,
        run_id=run_id,
        task=spec.task,
        metric=spec.primary_metric,
        higher_is_better=metric_direction(spec.primary_metric),
        classes=prepared.data.classes,
        seed=spec.seed,
        time_budget_s=budget.total_s,
        wall_seconds=budget.elapsed(),
        dataset_version=prepared.version.version,
        split_id=prepared.split.id,
        started_at=utcnow(),
        chosen=chosen,
        leaderboard=leaderboard_frame(leaderboard),
        cv_scores=cv_scores,
        y_test=test[spec.target].to_numpy(),
        test_prediction=prediction,
        baseline_prediction=evaluation["baseline_prediction"],
        test_metrics=evaluation["metrics"],
        baseline_metrics=evaluation["baseline_metrics"],
        intervals=evaluation["intervals"],
        improvement=evaluation["improvement"],
        goals=evaluation["goals"],
        business=evaluation["business"],
        feature_importance=evaluation.get("importance"),
        refit_all=refit_all,
        notes=notes,
    )
    path = root / "reports" / f"train-{run_id[:12]}.html"
    return write_evaluation_report(view, path)
