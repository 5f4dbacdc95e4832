"""Mitigation on request: what per-group thresholds or reweighting would cost and gain.

Both are measured honestly on held-out rows. The version's test part (a logged access) or
the given labelled rows are cut in two halves, seeded and stratified by group and label:
- `thresholds` (binary): on the first half, each group of the sensitive column gets the
  decision threshold whose selection rate comes closest to the model's overall selection
  rate there (demographic parity by post-processing); both models are compared on the
  second half.
- `reweight`: the model's members are refit on the version's training rows with
  reweighing sample weights w(g, y) = P(g) P(y) / P(g, y) (Kamiran & Calders), which make
  group and label independent in the weighted data; both are compared on the second half.
Nothing is stored: the table informs a decision (retrain with other features, or accept
the trade-off). A per-group threshold would need the sensitive column at prediction time,
which a model that excludes it from its inputs must not ask for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError, UsageError
from loopml.spec import ProjectSpec
from loopml.store import Store

METHODS = ("thresholds", "reweight")


def mitigation_table(
    store: Store,
    spec: ProjectSpec,
    ref: str,
    method: str,
    *,
    sensitive: list[str] | None = None,
    data: str | Path | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The accuracy / fairness trade-off of `method` against the model as it is."""
    from loopml.explain.fairness_stage import _columns, open_rows, sensitive_frame
    from loopml.runs.records import jsonable

    if method not in METHODS:
        raise UsageError(f"unknown mitigation `{method}`; choose thresholds or reweight")
    column = _columns(spec, sensitive)[0]
    model, number, run, rows, where = open_rows(store, spec, ref, data, f"{method} mitigation")
    if method == "thresholds" and model.task != "binary":
        raise UsageError("per-group thresholds apply to binary models; use --mitigate reweight")
    target = run["spec"]["target"]
    groups = sensitive_frame(rows, [column], where)[column].astype(object).fillna("(missing)")
    fit, held = _halves(groups.astype(str) + "|" + rows[target].astype(str), spec.seed)
    notes = [f"Groups of `{column}`; {len(fit):,} rows choose, {len(held):,} held-out rows judge."]
    before = model.predict(rows.iloc[held])
    if method == "thresholds":
        after, how = _thresholds(model, rows, groups, fit, held)
    else:
        after, how = _reweighted(store, model, run, column, target, rows.iloc[held])
    table = [
        {"model": "before"} | _scores(spec, model, rows.iloc[held], groups.iloc[held], before),
        {"model": f"after {method}"}
        | _scores(spec, model, rows.iloc[held], groups.iloc[held], after),
    ]
    names = [k for k in table[0] if k != "model"]
    return jsonable(
        {
            "method": method,
            "column": column,
            "model_version": number,
            "rows": table,
            "columns": names,
            "how": how,
            "held_out_rows": len(held),
            "notes": notes,
        }
    )


def _halves(strata: pd.Series, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of two halves, each stratum split in two (seeded)."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for _, where in strata.groupby(strata, sort=True).indices.items():
        where = rng.permutation(where)
        cut = len(where) // 2
        first.append(where[:cut])
        second.append(where[cut:])
    fit, held = np.sort(np.concatenate(first)), np.sort(np.concatenate(second))
    if len(fit) == 0 or len(held) == 0:
        raise DataError("too few labelled rows to choose and judge a mitigation; give more rows")
    return fit, held


def _thresholds(
    model: Any, rows: pd.DataFrame, groups: pd.Series, fit: np.ndarray, held: np.ndarray
) -> tuple[np.ndarray, str]:
    score = model.predict_proba(rows)[:, 1]
    target_rate = float((score[fit] >= model.threshold).mean())
    chosen: dict[str, float] = {}
    for group in pd.unique(groups.iloc[fit]):
        mine = score[fit][(groups.iloc[fit] == group).to_numpy()]
        candidates = np.unique(np.r_[mine, np.inf])
        rates = (mine[None, :] >= candidates[:, None]).mean(axis=1)
        chosen[str(group)] = float(candidates[np.argmin(np.abs(rates - target_rate))])
    per_row = np.array([chosen.get(str(g), model.threshold) for g in groups.iloc[held]])
    labels = np.asarray(model.classes, dtype=object)
    after = labels[(score[held] >= per_row).astype(int)]
    shown = ", ".join(f"{g} {t:.3g}" for g, t in sorted(chosen.items()))
    return after, (
        f"per-group thresholds giving each group the overall selection rate "
        f"{target_rate:.3g} ({shown}; the model's own threshold is {model.threshold:.3g})"
    )


def _reweighted(
    store: Store, model: Any, run: dict[str, Any], column: str, target: str, held: pd.DataFrame
) -> tuple[np.ndarray, str]:
    from sklearn.base import clone

    from loopml.data.splits import load_split, open_split

    train = open_split(store, load_split(store, run["split_id"])).train_valid()
    if column not in train.columns:
        raise DataError(f"the training rows lack the sensitive column `{column}`")
    weights = reweighing(train[column], train[target])
    fitted = []
    for member in model.members:
        step = member.steps[-1][0]
        try:
            fitted.append(
                clone(member).fit(
                    train[model.columns], train[target], **{f"{step}__sample_weight": weights}
                )
            )
        except TypeError as exc:
            raise DataError(
                f"the model's `{type(member.steps[-1][1]).__name__}` takes no sample weights, "
                "so it cannot be reweighted; use --mitigate thresholds"
            ) from exc
    after = model.with_members(fitted, model.weights).predict(held)
    return after, (
        f"members refit on the {len(train):,} training rows with weights P(g)P(y)/P(g,y) "
        f"(from {weights.min():.3g} to {weights.max():.3g})"
    )


def reweighing(groups: pd.Series, labels: pd.Series) -> np.ndarray:
    """Kamiran & Calders weights: w(g, y) = P(g) P(y) / P(g, y) for each row."""
    g = groups.astype(object).fillna("(missing)").astype(str).to_numpy()
    y = labels.astype(str).to_numpy()
    frame = pd.DataFrame({"g": g, "y": y})
    p_g = frame["g"].map(frame["g"].value_counts(normalize=True))
    p_y = frame["y"].map(frame["y"].value_counts(normalize=True))
    p_gy = frame.groupby(["g", "y"])["g"].transform("size") / len(frame)
    return (p_g * p_y / p_gy).to_numpy(dtype=float)


def _scores(
    spec: ProjectSpec, model: Any, rows: pd.DataFrame, groups: pd.Series, decided: Any
) -> dict[str, float]:
    from loopml.explain.fairness import fairness_report

    y = rows[spec.target].to_numpy()
    report = fairness_report(
        model.task,
        y,
        np.asarray(decided),
        pd.DataFrame({"g": groups.to_numpy()}),
        classes=model.classes,
        min_group_size=spec.fairness.min_group_size if spec.fairness else 30,
        n_boot=1,
        seed=spec.seed,
    )
    gaps = report["columns"][0]["gaps"]
    if model.task == "regression":
        error = np.asarray(decided, dtype=float) - y.astype(float)
        return {"mae": float(np.abs(error).mean())} | gaps
    return {
        "accuracy": float((np.asarray(decided, dtype=object) == y.astype(object)).mean())
    } | gaps
