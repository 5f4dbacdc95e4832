"""Fairness: a model's metrics per group of each sensitive column, the gaps, and the gate.

    fairness_report("binary", y, y_pred, test[["sex"]], classes=[0, 1], thresholds={...})

Per group (one value of a sensitive column; missing values form the group `(missing)`):
size, then for classifiers selection rate, TPR, FPR, precision and accuracy of the positive
class (binary), or accuracy and the selection rate, TPR and FPR of every class (multiclass,
one class against the rest); for regression MAE, RMSE and the mean prediction. Point values
come from fairlearn's MetricFrame; each group's interval is a percentile bootstrap over its
own rows, so a small group gets the wide interval it deserves.

The gaps compare the groups of at least `min_group_size` rows (smaller ones are listed,
flagged `small`, and left out of the gaps: a handful of rows makes any gap):
- demographic_parity_difference: largest minus smallest selection rate (multiclass: the
  largest over the classes); demographic_parity_ratio: smallest over largest (the smallest
  over the classes);
- equalized_odds_difference: the larger of the TPR gap and the FPR gap (multiclass: the
  largest over the classes);
- accuracy_difference, and for regression mae_difference and rmse_difference: largest
  minus smallest.
Each gap has a bootstrap interval too (groups resampled independently, same draws).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError

MISSING = "(missing)"
N_BOOT = 200
LEVEL = 0.95
_BLOCK = 4_000_000  # resampled rows held at once per group

CLASSIFIER_GAPS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "accuracy_difference",
)
REGRESSION_GAPS = ("mae_difference", "rmse_difference")


def fairness_report(
    task: str,
    y_true: Any,
    y_pred: Any,
    sensitive: pd.DataFrame,
    *,
    classes: list[Any] | None = None,
    thresholds: dict[str, float] | None = None,
    min_group_size: int = 30,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Per-group metrics, gaps with intervals, and the threshold checks, for each column of
    `sensitive` (rows aligned with `y_true` and `y_pred`: labels, or values for regression)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred) or len(y_true) != len(sensitive):
        raise ValueError("y_true, y_pred and the sensitive columns must have the same rows")
    if len(y_true) == 0:
        raise DataError("there are no rows to check fairness on")
    if task != "regression" and not classes:
        classes = sorted(pd.unique(np.concatenate([y_true, y_pred])).tolist(), key=str)
    rng = np.random.default_rng(seed)
    columns = [
        _column_report(
            task,
            y_true,
            y_pred,
            sensitive[name],
            classes,
            min_group_size,
            n_boot,
            rng,
            level,
        )
        for name in sensitive.columns
    ]
    return {
        "task": task,
        "positive_class": _plain(classes[-1]) if task == "binary" else None,
        "min_group_size": min_group_size,
        "level": level,
        "n_boot": n_boot,
        "n_rows": len(y_true),
        "columns": columns,
        "checks": threshold_checks(columns, thresholds or {}),
    }


def threshold_checks(
    columns: list[dict[str, Any]], thresholds: dict[str, float]
) -> list[dict[str, Any]]:
    """One check per (sensitive column, threshold): pass, fail, or unknown (no gap)."""
    from loopml.spec import FAIRNESS_GAPS

    checks = []
    for column in columns:
        for gap, limit in thresholds.items():
            at_least = FAIRNESS_GAPS[gap][1]
            observed = column["gaps"].get(gap)
            if observed is None or (isinstance(observed, float) and math.isnan(observed)):
                status = "unknown"
            else:
                ok = observed >= limit if at_least else observed <= limit
                status = "pass" if ok else "fail"
            checks.append(
                {
                    "column": column["column"],
                    "gap": gap,
                    "op": ">=" if at_least else "<=",
                    "threshold": limit,
                    "observed": observed,
                    "interval": column["gap_intervals"].get(gap),
                    "status": status,
                }
            )
    return checks


def fairness_problems(report: dict[str, Any] | None) -> list[str]:
    """The promotion gate's sentences for every failed fairness check of `report`."""
    if not report:
        return []
    return [
        f"its {c['gap']} on `{c['column']}` is {c['observed']:.4g}, the spec allows "
        f"{c['op']} {c['threshold']:g} (fairness.thresholds)"
        for c in report.get("checks", [])
        if c["status"] == "fail"
    ]


def _column_report(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    column: pd.Series,
    classes: list[Any] | None,
    min_group_size: int,
    n_boot: int,
    rng: np.random.Generator,
    level: float,
) -> dict[str, Any]:
    labels = _group_labels(column)
    names, counts = np.unique(labels, return_counts=True)
    order = np.lexsort((names, -counts))
    groups = [str(names[i]) for i in order]
    points = _points(task, y_true, y_pred, labels, classes)
    large = [g for g in groups if (labels == g).sum() >= min_group_size]
    rows = []
    draws: dict[str, dict[str, np.ndarray]] = {}
    for group in groups:
        where = np.flatnonzero(labels == group)
        draws[group] = _draws(task, y_true[where], y_pred[where], classes, n_boot, rng)
        rows.append(
            {
                "group": group,
                "n": int(where.size),
                "small": bool(where.size < min_group_size),
                "metrics": points[group],
                "intervals": {
                    name: _interval(values, level)
                    for name, values in draws[group].items()
                    if name in points[group]
                },
            }
        )
    note = None
    if len(large) < 2:
        note = (
            f"fewer than two groups of `{column.name}` have {min_group_size} rows or more; "
            "no gap is computed"
        )
    gaps, gap_intervals = {}, {}
    if note is None:
        keep = np.isin(labels, large)
        gaps = _gaps(task, y_true[keep], y_pred[keep], labels[keep], classes)
        gap_draws = _gap_draws(task, {g: draws[g] for g in large}, classes)
        gap_intervals = {name: _interval(values, level) for name, values in gap_draws.items()}
    return {
        "column": str(column.name),
        "groups": rows,
        "gaps": gaps,
        "gap_intervals": gap_intervals,
        "worst": _worst(task, rows),
        "note": note,
    }


def _group_labels(column: pd.Series) -> np.ndarray:
    values = column.astype(object)
    missing = values.isna().to_numpy()
    labels = np.array([str(v) for v in values.to_numpy()], dtype=object)
    labels[missing] = MISSING
    return labels


def _points(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: np.ndarray,
    classes: list[Any] | None,
) -> dict[str, dict[str, float]]:
    """Group -> metric -> value, from fairlearn's MetricFrame."""
    from fairlearn.metrics import MetricFrame

    metrics = _metric_functions(task, classes)
    frame = MetricFrame(
        metrics=metrics,
        y_true=_as_float(task, y_true, classes),
        y_pred=_as_float(task, y_pred, classes),
        sensitive_features=pd.Series(labels, name="group"),
    ).by_group
    return {
        str(group): {name: _float(row[name]) for name in metrics} for group, row in frame.iterrows()
    }


def _metric_functions(task: str, classes: list[Any] | None) -> dict[str, Any]:
    from sklearn.metrics import (
        accuracy_score,
        mean_absolute_error,
        precision_score,
        root_mean_squared_error,
    )

    if task == "regression":
        return {
            "mae": mean_absolute_error,
            "rmse": root_mean_squared_error,
            "mean_prediction": lambda y, p: float(np.mean(p)),
            "mean_target": lambda y, p: float(np.mean(y)),
        }
    from fairlearn.metrics import false_positive_rate, selection_rate, true_positive_rate

    codes = range(len(classes)) if task == "multiclass" else [1]
    metrics: dict[str, Any] = {}
    for code in codes:
        suffix = "" if task == "binary" else f"[{_plain(classes[code])}]"
        metrics[f"selection_rate{suffix}"] = functools.partial(selection_rate, pos_label=code)
        metrics[f"tpr{suffix}"] = _rate(code, true_positive_rate, among_positives=True)
        metrics[f"fpr{suffix}"] = _rate(code, false_positive_rate, among_positives=False)
        if task == "binary":
            metrics["precision"] = functools.partial(
                precision_score, pos_label=code, zero_division=np.nan
            )
    metrics["accuracy"] = accuracy_score
    return metrics


def _rate(code: int, function: Any, *, among_positives: bool) -> Any:
    """fairlearn's TPR or FPR of class `code` against the rest; NaN without rows to rate."""

    def rate(y: np.ndarray, p: np.ndarray) -> float:
        if not ((y == code) == among_positives).any():
            return float("nan")
        return float(function(y == code, p == code, pos_label=True))

    return rate


def _as_float(task: str, values: np.ndarray, classes: list[Any] | None) -> np.ndarray:
    """Class codes (0..k-1) for classifiers, floats for regression."""
    if task == "regression":
        return values.astype(float)
    return _codes(values, classes)


def _codes(values: np.ndarray, classes: list[Any]) -> np.ndarray:
    index = {_plain(c): i for i, c in enumerate(classes)}
    try:
        return np.array([index[_plain(v)] for v in values], dtype=np.int64)
    except KeyError as exc:
        raise DataError(f"the label {exc.args[0]!r} is not one of the model's classes") from None


def _gaps(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: np.ndarray,
    classes: list[Any] | None,
) -> dict[str, float]:
    """The gaps between the (large) groups, by fairlearn."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
    )
    from sklearn.metrics import accuracy_score, mean_absolute_error, root_mean_squared_error

    if task == "regression":
        frame = MetricFrame(
            metrics={"mae": mean_absolute_error, "rmse": root_mean_squared_error},
            y_true=y_true.astype(float),
            y_pred=y_pred.astype(float),
            sensitive_features=labels,
        ).difference()
        return {"mae_difference": _float(frame["mae"]), "rmse_difference": _float(frame["rmse"])}
    yt, yp = _codes(y_true, classes), _codes(y_pred, classes)
    codes = [1] if task == "binary" else range(len(classes))
    dp_diff, dp_ratio, eo = [], [], []
    for code in codes:
        t, p = (yt == code).astype(int), (yp == code).astype(int)
        dp_diff.append(demographic_parity_difference(t, p, sensitive_features=labels))
        dp_ratio.append(demographic_parity_ratio(t, p, sensitive_features=labels))
        eo.append(equalized_odds_difference(t, p, sensitive_features=labels))
    accuracy = MetricFrame(
        metrics=accuracy_score, y_true=yt, y_pred=yp, sensitive_features=labels
    ).difference()
    return {
        "demographic_parity_difference": _float(max(dp_diff)),
        "demographic_parity_ratio": _float(min(dp_ratio)),
        "equalized_odds_difference": _float(max(eo)),
        "accuracy_difference": _float(accuracy),
    }


def _draws(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: list[Any] | None,
    n_boot: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Metric -> its (n_boot,) values over resamples of one group's rows."""
    n = y_true.size
    step = max(1, _BLOCK // max(1, n))
    parts: dict[str, list[np.ndarray]] = {}
    if task == "regression":
        error = y_pred.astype(float) - y_true.astype(float)
        for start in range(0, n_boot, step):
            e = error[rng.integers(0, n, size=(min(step, n_boot - start), n))]
            parts.setdefault("mae", []).append(np.abs(e).mean(axis=1))
            parts.setdefault("rmse", []).append(np.sqrt((e**2).mean(axis=1)))
        return {k: np.concatenate(v) for k, v in parts.items()}
    yt, yp = _codes(y_true, classes), _codes(y_pred, classes)
    codes = [1] if task == "binary" else range(len(classes))
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, n_boot, step):
            idx = rng.integers(0, n, size=(min(step, n_boot - start), n))
            t, p = yt[idx], yp[idx]
            parts.setdefault("accuracy", []).append((t == p).mean(axis=1))
            for code in codes:
                suffix = "" if task == "binary" else f"[{_plain(classes[code])}]"
                pos, said = (t == code), (p == code)
                tp = (pos & said).sum(axis=1)
                npos, nsaid = pos.sum(axis=1), said.sum(axis=1)
                parts.setdefault(f"selection_rate{suffix}", []).append(nsaid / n)
                parts.setdefault(f"tpr{suffix}", []).append(tp / npos)
                parts.setdefault(f"fpr{suffix}", []).append((nsaid - tp) / (n - npos))
                if task == "binary":
                    parts.setdefault("precision", []).append(tp / nsaid)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _gap_draws(
    task: str, draws: dict[str, dict[str, np.ndarray]], classes: list[Any] | None
) -> dict[str, np.ndarray]:
    """Gap -> its values over the resamples (each group resampled on its own)."""

    def spread(name: str) -> np.ndarray:
        values = np.stack([d[name] for d in draws.values()])
        with warnings.catch_warnings():  # a resample without positives has no TPR
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmax(values, axis=0) - np.nanmin(values, axis=0)

    if task == "regression":
        return {"mae_difference": spread("mae"), "rmse_difference": spread("rmse")}
    suffixes = [""] if task == "binary" else [f"[{_plain(c)}]" for c in classes]
    dp, ratio, eo = [], [], []
    with np.errstate(divide="ignore", invalid="ignore"):
        for s in suffixes:
            rates = np.stack([d[f"selection_rate{s}"] for d in draws.values()])
            dp.append(rates.max(axis=0) - rates.min(axis=0))
            ratio.append(rates.min(axis=0) / rates.max(axis=0))
            eo.append(np.fmax(spread(f"tpr{s}"), spread(f"fpr{s}")))
    return {
        "demographic_parity_difference": np.max(dp, axis=0),
        "demographic_parity_ratio": np.min(ratio, axis=0),
        "equalized_odds_difference": np.max(eo, axis=0),
        "accuracy_difference": spread("accuracy"),
    }


def _worst(task: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The weakest group (by accuracy, or by MAE) among those that are not small."""
    name, higher = ("mae", False) if task == "regression" else ("accuracy", True)
    ranked = [r for r in rows if not r["small"] and not math.isnan(r["metrics"][name])]
    if not ranked:
        return None
    row = (min if higher else max)(ranked, key=lambda r: r["metrics"][name])
    return {"group": row["group"], "metric": name, "value": row["metrics"][name], "n": row["n"]}


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return [float(low), float(high)]


def _float(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
