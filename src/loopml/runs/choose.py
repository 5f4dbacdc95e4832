"""The decisions after the search: ensemble or single model, what the time left can refit,
the decision threshold, and how much time those final steps are expected to take."""

from __future__ import annotations

import numpy as np

from loopml.evaluate import best_threshold, business_threshold
from loopml.evaluate.importance import MAX_ROWS, importance_predictions
from loopml.evaluate.metrics import THRESHOLDED_METRICS
from loopml.explain.stage import TRAINING_SECONDS
from loopml.search.budget import FIXED_RESERVE_S, Budget
from loopml.search.ensemble import Ensemble, greedy_ensemble
from loopml.search.trials import Candidate, TrialData
from loopml.spec import ProjectSpec

REPORT_SECONDS = 1.5  # drawing and writing the evaluation report


def refit_seconds(data: TrialData, candidate: Candidate) -> float:
    train_rows = np.mean([len(t) for t, _ in data.folds])
    per_fold = candidate.fit_s / max(1, len(candidate.fold_scores))
    return per_fold * len(data.X) / max(1.0, train_rows) * 1.15


def final_reserve(
    data: TrialData, ranked: list[Candidate], n_test: int, ensemble: bool, refits: float
) -> float:
    """Seconds the steps after the search are expected to take with the best candidates."""
    top = ranked[: 4 if ensemble else 1]
    refit = refits * sum(refit_seconds(data, c) for c in top)
    return refit + _evaluation_seconds(data, top, n_test) + FIXED_RESERVE_S + REPORT_SECONDS


def _evaluation_seconds(data: TrialData, members: list[Candidate], n_test: int) -> float:
    """Seconds the test evaluation of a model of `members` is expected to take: its test
    predictions and the permutation importance's, and the SHAP explanation."""
    return sum(_predict_seconds(data, c, n_test) for c in members) + TRAINING_SECONDS


def _predict_seconds(data: TrialData, candidate: Candidate, n_test: int) -> float:
    """A member's share of the test evaluation: 3 predictions of the test rows and the
    permutation importance's 1 + repeats × columns of at most MAX_ROWS of them, at the time
    per row measured in its trial."""
    valid_rows = max(1.0, np.mean([len(v) for _, v in data.folds]))
    per_row = candidate.predict_s / max(1, len(candidate.fold_scores)) / valid_rows
    importance = importance_predictions(data.X.shape[1]) * min(n_test, MAX_ROWS)
    return per_row * (3 * n_test + importance)


def choose_model(
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


def choose_threshold(
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


def trim_to_time(
    data: TrialData,
    chosen: Ensemble,
    best: Candidate,
    budget: Budget,
    notes: list[str],
    refits: float,
    n_test: int,
) -> Ensemble:
    """`chosen`, or as many of its heaviest-weighted members as the time left can refit and
    evaluate on the test part."""
    if len(chosen.members) == 1:
        return chosen
    left = budget.remaining() - FIXED_RESERVE_S - REPORT_SECONDS - TRAINING_SECONDS
    order = sorted(range(len(chosen.members)), key=lambda i: -chosen.weights[i])
    kept, needed = [], 0.0
    for i in order:
        member = chosen.members[i]
        seconds = refits * refit_seconds(data, member) + _predict_seconds(data, member, n_test)
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
        f"refitting and evaluating all {len(chosen.members)} members of the ensemble would not "
        f"fit the time left; {reduced.name} was refitted instead"
    )
    return reduced
