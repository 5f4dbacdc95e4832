"""Metrics of every task, exact and vectorised.

One implementation serves both the point estimate (`score`, `task_metrics`) and the
bootstrap (`loopml.evaluate.intervals`): each metric is computed from per-row quantities
gathered through a matrix of row indices, one row of the matrix per resample. The point
estimate is the resample "every row once". The numbers equal scikit-learn's
(`sklearn.metrics`) except where noted below.

Conventions
-----------
- Binary: `prediction` is the probability of the **positive class, `classes[1]`** (a 1-d
  array; an (n x 2) `predict_proba` matrix is accepted and its second column used). A row is
  predicted positive when its probability is **>= threshold**. Without `classes`, the sorted
  distinct labels of `y_true` are used ([0, 1] for 0/1 targets holding one label only).
- Multiclass: `prediction` is the (n x k) probability matrix, columns in `classes` order
  (default: the sorted distinct labels of `y_true`); the predicted class is the column of
  the highest probability (the first one on ties, as `numpy.argmax`).
- Regression: `prediction` holds the predicted values; residual = y_true - prediction.

Edge cases
----------
- roc_auc with a single class in y_true is NaN, pr_auc without a positive row is NaN
  (scikit-learn warns and returns 0.0 there); no exception and no warning either way.
  Multiclass roc_auc is the one-vs-rest macro average over the classes present in y_true
  (scikit-learn returns NaN when a class of `classes` is absent; we average the others).
- log_loss: probabilities are clipped to [eps, 1 - eps] with eps the float64 machine
  epsilon, as scikit-learn does; rows are not re-normalised (neither does scikit-learn).
- precision / recall / F1 with a zero denominator are 0.0 (scikit-learn's default
  `zero_division`); balanced accuracy averages the recall of the classes present in y_true.
- Macro F1 averages over the classes present in y_true or predicted (scikit-learn's default
  labels); a class never predicted counts with F1 = 0.
- MAPE skips the rows where y_true == 0 (their percentage error is undefined) and is NaN
  when every row is 0; it is a fraction (0.1 = 10 %), like scikit-learn's.
- R²: 1.0 when y_true is constant and predicted exactly, 0.0 when constant otherwise
  (scikit-learn's `force_finite`), NaN with fewer than two rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from loopml.evaluate._inputs import (
    BINARY,
    MULTICLASS,
    Prepared,
    check_task,
    prepare,
)
from loopml.spec import METRICS, SERVICE_METRICS

__all__ = [
    "THRESHOLDED_METRICS",
    "metric_direction",
    "metrics_for",
    "score",
    "task_metrics",
]

# Binary metrics that depend on the decision threshold.
THRESHOLDED_METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
)
_EPS = float(np.finfo(np.float64).eps)
# Elements of one gathered (resamples x rows) block; bounds memory, keeps numpy busy.
_BLOCK_ELEMENTS = 2_000_000


def metric_direction(metric: str) -> bool:
    """True when a higher value of `metric` is better (from `loopml.spec.METRICS`)."""
    if metric in METRICS:
        return METRICS[metric][1]
    if metric in SERVICE_METRICS:
        return SERVICE_METRICS[metric]
    raise ValueError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")


def metrics_for(task: str) -> list[str]:
    """The metric names that apply to `task`, in `loopml.spec.METRICS` order."""
    check_task(task)
    return [name for name, (tasks, _) in METRICS.items() if task in tasks]


def _check_metrics(task: str, metrics: Iterable[str]) -> list[str]:
    allowed = metrics_for(task)
    names = list(metrics)
    for name in names:
        if name not in allowed:
            raise ValueError(
                f"metric {name!r} does not apply to task {task}; choose one of {', '.join(allowed)}"
            )
    return names


def _infer_task(metric: str, prediction: Any, task: str | None) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
    tasks = METRICS[metric][0]
    if task is not None:
        check_task(task)
        if task not in tasks:
            raise ValueError(f"metric {metric!r} does not apply to task {task}")
        return task
    if len(tasks) == 1:
        return tasks[0]
    return MULTICLASS if np.ndim(prediction) == 2 else BINARY


def score(
    metric: str,
    y_true: Any,
    prediction: Any,
    *,
    classes: Any = None,
    threshold: float = 0.5,
    task: str | None = None,
) -> float:
    """The value of one metric of `loopml.spec.METRICS`.

    The task comes from the metric where only one task has it; for metrics shared by binary
    and multiclass (roc_auc, log_loss, accuracy, balanced_accuracy) a 1-d `prediction` means
    binary and a 2-d one multiclass, unless `task` says otherwise.
    """
    task = _infer_task(metric, prediction, task)
    prep = prepare(task, y_true, prediction, classes=classes, threshold=threshold)
    return float(Scorer(prep).scores([metric])[metric][0])


def task_metrics(
    task: str,
    y_true: Any,
    prediction: Any,
    *,
    classes: Any = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Every metric of `task` (name -> float) plus the task's extras.

    binary: `threshold`, `positive_class`, `confusion_matrix` at the threshold
    ({"labels": [negative, positive], "matrix": [[TN, FP], [FN, TP]]}, rows = true class,
    columns = predicted class);
    multiclass: `per_class` ({class: {precision, recall, f1, support, predicted}}) and
    `confusion_matrix` ({"labels": classes, "matrix": k x k});
    regression: `residuals` (residual = y_true - prediction: mean, std (ddof=0), q05, q25,
    q50, q75, q95, max_abs_error) and `mape_rows_skipped` (rows with y_true == 0).
    Every result also carries `n_rows`.
    """
    prep = prepare(task, y_true, prediction, classes=classes, threshold=threshold)
    scorer = Scorer(prep)
    out: dict[str, Any] = {
        name: float(value[0]) for name, value in scorer.scores(metrics_for(task)).items()
    }
    out["n_rows"] = prep.n
    if task == BINARY:
        tn, fp, fn, tp = (int(v) for v in scorer.confusion_counts()[0])
        out["threshold"] = prep.threshold
        out["positive_class"] = prep.classes[1]
        out["confusion_matrix"] = {"labels": list(prep.classes), "matrix": [[tn, fp], [fn, tp]]}
    elif task == MULTICLASS:
        matrix = scorer.confusion_matrices()[0]
        support = matrix.sum(axis=1)
        predicted = matrix.sum(axis=0)
        hits = np.diag(matrix)
        per_class = {}
        for j, label in enumerate(prep.classes):
            per_class[label] = {
                "precision": float(hits[j] / predicted[j]) if predicted[j] else 0.0,
                "recall": float(hits[j] / support[j]) if support[j] else 0.0,
                "f1": float(2 * hits[j] / (support[j] + predicted[j]))
                if support[j] + predicted[j]
                else 0.0,
                "support": int(support[j]),
                "predicted": int(predicted[j]),
            }
        out["per_class"] = per_class
        out["confusion_matrix"] = {
            "labels": list(prep.classes),
            "matrix": matrix.astype(int).tolist(),
        }
    else:
        residual = prep.y - prep.pred
        q05, q25, q50, q75, q95 = np.quantile(residual, [0.05, 0.25, 0.5, 0.75, 0.95])
        out["residuals"] = {
            "mean": float(residual.mean()),
            "std": float(residual.std()),
            "q05": float(q05),
            "q25": float(q25),
            "q50": float(q50),
            "q75": float(q75),
            "q95": float(q95),
            "max_abs_error": float(np.abs(residual).max()),
        }
        out["mape_rows_skipped"] = int((prep.y == 0).sum())
    return out


def _counts(codes: np.ndarray, idx: np.ndarray | None, size: int) -> np.ndarray:
    """Per resample, how often each code 0..size-1 occurs: a (resamples x size) int array."""
    if idx is None:
        return np.bincount(codes, minlength=size)[None, :]
    m = idx.shape[0]
    keys = codes[idx].astype(np.intp, copy=False)
    keys += (np.arange(m, dtype=np.intp) * size)[:, None]
    return np.bincount(keys.ravel(), minlength=m * size).reshape(m, size)


def _mean(values: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    if idx is None:
        return np.array([values.mean()])
    return values[idx].mean(axis=1)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """num / den, `empty` where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, empty)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _rank_auc(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision from (resamples x groups x 2) counts of negatives
    (`[..., 0]`) and positives (`[..., 1]`) per distinct score, groups in ascending order.

    AUC is the Mann-Whitney statistic with ties counted one half (equal to the trapezoid
    area of the ROC curve); AP is sum over distinct thresholds of (recall step) x precision,
    scikit-learn's `average_precision_score`. Both are NaN when a class is absent.
    """
    neg = counts[..., 0]
    pos = counts[..., 1]
    n_neg = neg.sum(axis=1)
    n_pos = pos.sum(axis=1)
    below = np.cumsum(neg, axis=1) - neg
    twice = (pos * (2 * below + neg)).sum(axis=1)  # exact integers
    auc = _ratio(twice, 2.0 * n_pos * n_neg, np.nan)
    pos_desc = pos[:, ::-1]
    tps = np.cumsum(pos_desc, axis=1)
    called = tps + np.cumsum(neg[:, ::-1], axis=1)
    precision = _ratio(tps, called)
    ap = _ratio((pos_desc * precision).sum(axis=1), n_pos, np.nan)
    return auc, ap


class Scorer:
    """Scores of one prepared evaluation over blocks of resample indices.

    `scores(metrics, idx)` returns, for each metric, one value per row of `idx` (an
    (m x n') integer array of row numbers); `idx=None` scores the rows as they are.
    Per-row quantities are computed once and cached.
    """

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self._cache: dict[str, Any] = {}

    def _get(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # ----- per-row quantities -------------------------------------------------------
    def _binary_codes(self) -> np.ndarray:
        # 0 = TN, 1 = FP, 2 = FN, 3 = TP
        p = self.prep
        return (2 * p.y.astype(np.intp) + (p.pred >= p.threshold)).astype(np.intp)

    def _label_codes(self) -> np.ndarray:
        # true class * k + predicted class
        p = self.prep
        k = p.pred.shape[1]
        return p.y * k + np.argmax(p.pred, axis=1)

    def _log_losses(self) -> np.ndarray:
        p = self.prep
        if p.task == BINARY:
            chosen = np.where(p.y == 1, p.pred, 1.0 - p.pred)
        else:
            chosen = p.pred[np.arange(p.n), p.y]
        return -np.log(np.clip(chosen, _EPS, 1.0 - _EPS))

    def _score_groups(self, column: int | None) -> tuple[np.ndarray, int]:
        p = self.prep
        if column is None:
            scores, is_pos = p.pred, p.y == 1
        else:
            scores, is_pos = p.pred[:, column], p.y == column
        _, groups = np.unique(scores, return_inverse=True)
        size = int(groups.max()) + 1
        return (2 * groups.astype(np.intp) + is_pos).astype(np.intp), size

    # ----- per-resample building blocks --------------------------------------------
    def confusion_counts(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Binary: (m x 4) counts of TN, FP, FN, TP."""
        return _counts(self._get("codes", self._binary_codes), idx, 4)

    def confusion_matrices(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Multiclass: (m x k x k) confusion matrices, rows = true, columns = predicted."""
        k = self.prep.pred.shape[1]
        counts = _counts(self._get("labels", self._label_codes), idx, k * k)
        return counts.reshape(-1, k, k)

    def _ranking(self, idx: np.ndarray | None, column: int | None = None) -> tuple:
        codes, size = self._get(f"groups{column}", lambda: self._score_groups(column))
        return _rank_auc(_counts(codes, idx, 2 * size).reshape(-1, size, 2))

    # ----- metrics -------------------------------------------------------------------
    def scores(self, metrics: Iterable[str], idx: np.ndarray | None = None) -> dict:
        """metric -> (m,) array of scores, one per row of `idx`."""
        names = _check_metrics(self.prep.task, metrics)
        task = self.prep.task
        if task == BINARY:
            return self._binary(names, idx)
        if task == MULTICLASS:
            return self._multiclass(names, idx)
        return self._regression(names, idx)

    def _binary(self, names: list[str], idx: np.ndarray | None) -> dict:
        out: dict[str, np.ndarray] = {}
        if any(name in THRESHOLDED_METRICS for name in names):
            counts = self.confusion_counts(idx)
            tn, fp, fn, tp = (counts[:, j] for j in range(4))
            threshold_scores = binary_scores(tp, fp, tn, fn)
            for name in names:
                if name in threshold_scores:
                    out[name] = threshold_scores[name]
        if "roc_auc" in names or "pr_auc" in names:
            auc, ap = self._ranking(idx)
            if "roc_auc" in names:
                out["roc_auc"] = auc
            if "pr_auc" in names:
                out["pr_auc"] = ap
        if "log_loss" in names:
            out["log_loss"] = _mean(self._get("logloss", self._log_losses), idx)
        if "brier" in names:
            p = self.prep
            out["brier"] = _mean(self._get("brier", lambda: (p.pred - p.y) ** 2), idx)
        return {name: out[name] for name in names}

    def _multiclass(self, names: list[str], idx: np.ndarray | None) -> dict:
        out: dict[str, np.ndarray] = {}
        if any(n in ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted") for n in names):
            matrices = self.confusion_matrices(idx)
            support = matrices.sum(axis=2)
            predicted = matrices.sum(axis=1)
            hits = np.diagonal(matrices, axis1=1, axis2=2)
            total = support.sum(axis=1)
            out["accuracy"] = hits.sum(axis=1) / total
            present = support > 0
            recall = _ratio(hits, support)
            out["balanced_accuracy"] = (recall * present).sum(axis=1) / present.sum(axis=1)
            seen = (support + predicted) > 0
            f1 = _ratio(2 * hits, support + predicted)
            out["f1_macro"] = (f1 * seen).sum(axis=1) / seen.sum(axis=1)
            out["f1_weighted"] = (f1 * support).sum(axis=1) / total
        if "roc_auc" in names:
            k = self.prep.pred.shape[1]
            per_class = np.stack([self._ranking(idx, j)[0] for j in range(k)], axis=1)
            defined = np.isfinite(per_class)
            out["roc_auc"] = _ratio(
                np.where(defined, per_class, 0.0).sum(axis=1), defined.sum(axis=1), np.nan
            )
        if "log_loss" in names:
            out["log_loss"] = _mean(self._get("logloss", self._log_losses), idx)
        return {name: out[name] for name in names}

    def _regression(self, names: list[str], idx: np.ndarray | None) -> dict:
        p = self.prep
        residual = self._get("residual", lambda: p.y - p.pred)
        out: dict[str, np.ndarray] = {}
        if "rmse" in names or "r2" in names:
            squares = self._get("squares", lambda: residual**2)
        if "rmse" in names:
            out["rmse"] = np.sqrt(_mean(squares, idx))
        if "mae" in names:
            out["mae"] = _mean(self._get("abs", lambda: np.abs(residual)), idx)
        if "mape" in names:
            nonzero = self._get("nonzero", lambda: p.y != 0)
            ape = self._get(
                "ape",
                lambda: np.abs(residual) / np.where(nonzero, np.abs(p.y), 1.0) * nonzero,
            )
            if idx is None:
                out["mape"] = _ratio(np.array([ape.sum()]), np.array([nonzero.sum()]), np.nan)
            else:
                out["mape"] = _ratio(ape[idx].sum(axis=1), nonzero[idx].sum(axis=1), np.nan)
        if "r2" in names:
            y = p.y[None, :] if idx is None else p.y[idx]
            ss_res = squares.sum()[None] if idx is None else squares[idx].sum(axis=1)
            ss_tot = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            constant = y.min(axis=1) == y.max(axis=1)
            r2 = 1.0 - _ratio(ss_res, np.where(constant, 1.0, ss_tot))
            r2 = np.where(constant, np.where(ss_res == 0, 1.0, 0.0), r2)
            if y.shape[1] < 2:
                r2 = np.full_like(r2, np.nan)
            out["r2"] = r2
        return {name: out[name] for name in names}


def binary_scores(tp: Any, fp: Any, tn: Any, fn: Any) -> dict[str, np.ndarray]:
    """The thresholded binary metrics from confusion counts (arrays broadcast together)."""
    tp, fp, tn, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, tn, fn))
    positives = tp + fn
    negatives = tn + fp
    tpr = _ratio(tp, positives)
    tnr = _ratio(tn, negatives)
    both = (positives > 0) & (negatives > 0)
    balanced = np.where(both, (tpr + tnr) / 2.0, np.where(positives > 0, tpr, tnr))
    return {
        "accuracy": (tp + tn) / (positives + negatives),
        "balanced_accuracy": balanced,
        "precision": _ratio(tp, tp + fp),
        "recall": tpr,
        "f1": _ratio(2.0 * tp, 2.0 * tp + fp + fn),
    }


def block_rows(n_rows: int, n_resamples: int) -> int:
    """How many resamples to gather at once for `n_rows` rows (memory-bounded)."""
    return max(1, min(n_resamples, _BLOCK_ELEMENTS // max(1, n_rows)))
