"""Mitigation on request: what per-group thresholds or reweighting would cost and gain.

Both are measured honestly on held-out rows, for each sensitive column in turn (the spec's,
or those given). The version's test part (a logged access) or the given labelled rows are
cut in two halves, seeded and stratified by group and label (a regression's target cut
into TARGET_BINS quantile bins):
- `thresholds` (binary): on the first half, each group of the sensitive column gets the
  decision threshold whose selection rate comes closest to the model's overall selection
  rate there (demographic parity by post-processing); both models are compared on the
  second half.
- `reweight`: the model's members are refit on the version's training rows with
  reweighing sample weights w(g, y) = P(g) P(y) / P(g, y) (Kamiran & Calders), which make
  group and label independent in the weighted data (for regression, y is the target's
  quantile bin); both are compared on the second half. Every member must take sample
  weights (kNN does not: refused before any row is read).
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
TARGET_BINS = 5  # quantile bins of a regression target, for strata and reweighing


def mitigation_table(
    store: Store,
    spec: ProjectSpec,
    ref: str,
    method: str,
    *,
    sensitive: list[str] | None = None,
    data: str | Path | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The accuracy / fairness trade-off of `method` against the model as it is, for each
    sensitive column (`sensitive`, else the spec's)."""
    from loopml.explain.fairness import MISSING
    from loopml.explain.fairness_stage import open_rows
    from loopml.runs.records import jsonable

    if method not in METHODS:
        raise UsageError(f"unknown mitigation `{method}`; choose thresholds or reweight")
    model, number, run, rows, _, columns = open_rows(
        store,
        spec,
        ref,
        data,
        f"{method} mitigation",
        sensitive,
        check=lambda model, run: _refuse(method, model, run),
    )
    target = run["spec"]["target"]
    labels = label_strata(rows[target], model.task)
    decided = model.predict(rows)
    tables = []
    for column in columns:
        groups = rows[column].astype(object).fillna(MISSING)
        fit, held = _halves(groups.astype(str) + "|" + labels, spec.seed)
        notes = [
            f"Groups of `{column}`; {len(fit):,} rows choose, {len(held):,} held-out rows judge."
        ]
        if method == "thresholds":
            after, how = _thresholds(model, rows, groups, fit, held)
        else:
            after, how = _reweighted(store, model, run, column, target, rows.iloc[held])
        if model.task == "regression":
            notes.append(
                f"The target is cut into {TARGET_BINS} quantile bins for the strata"
                + (" and the weights." if method == "reweight" else ".")
            )
        y, held_groups = rows[target].to_numpy()[held], groups.iloc[held]
        table = [
            {"model": "before"} | _scores(spec, model, y, held_groups, decided[held]),
            {"model": f"after {method}"} | _scores(spec, model, y, held_groups, after),
        ]
        if len(table[0]) == 2:  # the model's name and its accuracy (or MAE): no gap
            notes.append(
                f"Fewer than two groups of `{column}` have {_min_group_size(spec)} held-out "
                "rows or more, so no gap is compared; give more labelled rows (--data) or "
                "lower `fairness.min_group_size`."
            )
        tables.append(
            {
                "column": column,
                "rows": table,
                "columns": [k for k in table[0] if k != "model"],
                "how": how,
                "held_out_rows": len(held),
                "notes": notes,
            }
        )
    return jsonable({"method": method, "model_version": number, "mitigations": tables})


def _refuse(method: str, model: Any, run: dict[str, Any]) -> None:
    """Refuse a mitigation the model cannot take, before any row is read."""
    if method == "thresholds" and model.task != "binary":
        raise UsageError("per-group thresholds apply to binary models; use --mitigate reweight")
    if method != "reweight":
        return
    from sklearn.utils.validation import has_fit_parameter

    families = [m.get("family") for m in (run.get("chosen") or {}).get("members") or []]
    for i, member in enumerate(model.members):
        estimator = member.steps[-1][1]
        if not has_fit_parameter(estimator, "sample_weight"):
            family = families[i] if i < len(families) else type(estimator).__name__
            instead = "use --mitigate thresholds, or " if model.task == "binary" else ""
            raise UsageError(
                f"reweighing refits every member of the model with sample weights, and its "
                f"{family} member ({type(estimator).__name__}) takes none; {instead}train a "
                f"model without {family} (`loopml train --families ...` leaving it out) and "
                "reweight that one"
            )


def label_strata(y: pd.Series, task: str) -> pd.Series:
    """The label of each row as text; for regression its quantile bin (TARGET_BINS bins of
    equal size, ties broken by row order)."""
    if task != "regression":
        return y.astype(str)
    bins = min(TARGET_BINS, int(y.notna().sum()))
    codes = pd.qcut(y.rank(method="first"), bins, labels=False)
    return pd.Series(codes, index=y.index).astype(str)


def _halves(strata: pd.Series, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of two halves, each stratum split in two (seeded); the odd row of odd
    strata goes to either half in turn, so the halves differ by one row at most."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    odd = 0
    for _, where in strata.groupby(strata, sort=True).indices.items():
        where = rng.permutation(where)
        cut = len(where) // 2 + (odd if len(where) % 2 else 0)
        odd ^= len(where) % 2
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
        raise DataError(
            f"the training rows lack the sensitive column `{column}`, so they cannot be "
            "reweighted for it; use --mitigate thresholds"
        )
    weights = reweighing(train[column], label_strata(train[target], model.task))
    fitted = [
        clone(member).fit(
            train[model.columns],
            train[target],
            **{f"{member.steps[-1][0]}__sample_weight": weights},
        )
        for member in model.members
    ]
    after = model.with_members(fitted, model.weights).predict(held)
    binned = ", y the target's quantile bin" if model.task == "regression" else ""
    return after, (
        f"members refit on the {len(train):,} training rows with weights P(g)P(y)/P(g,y)"
        f"{binned} (from {weights.min():.3g} to {weights.max():.3g})"
    )


def reweighing(groups: pd.Series, labels: pd.Series) -> np.ndarray:
    """Kamiran & Calders weights: w(g, y) = P(g) P(y) / P(g, y) for each row (`labels`:
    classes, or the bins of a continuous target)."""
    from loopml.explain.fairness import MISSING

    g = groups.astype(object).fillna(MISSING).astype(str).to_numpy()
    y = labels.astype(str).to_numpy()
    frame = pd.DataFrame({"g": g, "y": y})
    p_g = frame["g"].map(frame["g"].value_counts(normalize=True))
    p_y = frame["y"].map(frame["y"].value_counts(normalize=True))
    p_gy = frame.groupby(["g", "y"])["g"].transform("size") / len(frame)
    return (p_g * p_y / p_gy).to_numpy(dtype=float)


def _scores(
    spec: ProjectSpec,
    model: Any,
    y: np.ndarray,
    groups: pd.Series,
    decided: Any,
) -> dict[str, float]:
    """Accuracy (or MAE) and the gaps between the groups of these rows' decisions."""
    from loopml.explain.fairness import fairness_report

    report = fairness_report(
        model.task,
        y,
        np.asarray(decided),
        pd.DataFrame({"g": groups.to_numpy()}),
        classes=model.classes,
        min_group_size=_min_group_size(spec),
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


def _min_group_size(spec: ProjectSpec) -> int:
    return spec.fairness.min_group_size if spec.fairness else 30
