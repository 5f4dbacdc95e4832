"""The final steps of a run: refit the chosen model, evaluate it once on test, describe it."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError
from loopml.evaluate.final import evaluate_on_test
from loopml.evaluate.importance import MAX_ROWS as IMPORTANCE_ROWS
from loopml.evaluate.importance import importance_predictions, permutation_importance
from loopml.models import get_family
from loopml.models.trained import Calibration, TrainedModel
from loopml.progress import Progress
from loopml.runs.choose import REPORT_SECONDS
from loopml.runs.prepare import Prepared
from loopml.runs.records import leaderboard_frame
from loopml.search.budget import FIXED_RESERVE_S, Budget
from loopml.search.engine import SearchResult
from loopml.search.ensemble import Ensemble
from loopml.search.trials import TrialData, refit_pipeline
from loopml.spec import ProjectSpec
from loopml.store.metadata import utcnow


def fit_members(
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


def refit_on_all_rows(
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
    return model.with_members(fitted, weights)


def evaluate_model(
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

    def predict(frame: pd.DataFrame) -> np.ndarray:
        """What the metrics take: P(positive) for binary, (n, k) for multiclass, values."""
        if data.classes is None:
            return model.predict(frame)
        p = model.predict_proba(frame)
        return p[:, 1] if data.task == "binary" else p

    started = time.perf_counter()
    prediction = predict(test)
    predict_s = time.perf_counter() - started
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
    evaluation["importance"], evaluation["importance_note"] = _importance(
        spec, data, model, test, predict, threshold, budget, predict_s
    )
    return evaluation, prediction


def _importance(
    spec: ProjectSpec,
    data: TrialData,
    model: TrainedModel,
    test: pd.DataFrame,
    predict: Any,
    threshold: float,
    budget: Budget,
    predict_s: float,
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The permutation importance on the test rows, or None and why it was not computed: its
    predictions (timed from the one just made) must fit in the time budget."""
    deadline = time.perf_counter() + budget.remaining() - REPORT_SECONDS - FIXED_RESERVE_S
    rows = min(len(test), IMPORTANCE_ROWS)
    predictions = importance_predictions(len(model.columns))
    needed = predict_s * rows / len(test) * predictions
    importance = None
    if time.perf_counter() + needed <= deadline:
        importance = permutation_importance(
            predict,
            test[model.columns],
            test[spec.target],
            data.metric,
            task=data.task,
            classes=data.classes,
            threshold=threshold,
            seed=spec.seed,
            deadline=deadline,
        )
    if importance is not None:
        return importance, None
    left = max(0.0, deadline - time.perf_counter())
    return None, (
        f"no permutation importance: its {predictions} predictions of {rows:,} test rows "
        f"need about {needed:.1f} s and {left:.1f} s of the time budget were left; a larger "
        "--time-budget computes it"
    )


def explain_test(
    spec: ProjectSpec, data: TrialData, model: TrainedModel, test: pd.DataFrame, budget: Budget
) -> tuple[Any, str | None]:
    """SHAP values on (a time-budgeted sample of) the test rows, or None and why not."""
    from loopml.explain.stage import explain_at_training

    deadline = time.perf_counter() + budget.remaining() - REPORT_SECONDS - FIXED_RESERVE_S
    try:
        explanation = explain_at_training(model, data.X, test, seed=spec.seed, deadline=deadline)
    except Exception as exc:  # an explanation must not cost the trained model
        return None, f"the SHAP explanation failed ({type(exc).__name__}: {exc})"
    if explanation is None:
        return None, "no SHAP explanation: the time budget was spent"
    return explanation, None


def chosen_record(
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


def write_train_report(
    spec: ProjectSpec,
    root: Path,
    run_id: str,
    prepared: Prepared,
    search: SearchResult,
    leaderboard: list[dict[str, Any]],
    chosen: dict[str, Any],
    test: pd.DataFrame,
    prediction: np.ndarray,
    evaluation: dict[str, Any],
    budget: Budget,
    notes: list[str],
    refit_all: bool,
    explanation: Any = None,
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
        importance_note=evaluation.get("importance_note"),
        shap=explanation,
        refit_all=refit_all,
        notes=notes,
    )
    path = root / "reports" / f"train-{run_id[:12]}.html"
    return write_evaluation_report(view, path)
