"""Charts of the model evaluation report, as PNG data URIs, in the style of `plots`.

Every function takes plain arrays, leaves out rows with missing or infinite values, and
draws a short note instead of a chart when the data cannot make one (a single class for a
ROC curve, no row at all): a report never fails because of one chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from loopml.report.plots import (
    COLOR,
    HEIGHT,
    MAX_HEIGHT,
    MISSING_CELL,
    NEGATIVE_COLOR,
    OUTLINE_COLOR,
    WIDTH,
    _title,
    figure_to_data_uri,
    new_figure,
    set_margins,
    text_width,
    truncate_label,
)

__all__ = [
    "MAX_POINTS",
    "TOP_FEATURES",
    "calibration_chart",
    "confusion_matrix_chart",
    "cv_spread_chart",
    "importance_chart",
    "pr_curve_chart",
    "predicted_vs_actual_chart",
    "residuals_chart",
    "roc_curve_chart",
]

MAX_POINTS = 5_000  # scatter points drawn at most (a fixed-seed subsample beyond)
TOP_FEATURES = 20  # bars of the feature importance chart
BASELINE_COLOR = "#8a8a8a"
SQUARE = 3.2  # inches, side of the curve charts
_FONT = 8
_TEXT = "#333333"
_MUTED = "#666666"
_GUIDE = {"color": "#bbbbbb", "linewidth": 0.8, "linestyle": ":"}


# ----- shared pieces -------------------------------------------------------------------
def _note(fig: Figure, ax: Any, message: str) -> str:
    """A chart that only says why it is empty."""
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#888888", fontsize=_FONT, wrap=True)
    ax.set_axis_off()
    return figure_to_data_uri(fig)


def _floats(values: Any) -> np.ndarray:
    """`values` as a flat float array (non-numbers become NaN)."""
    try:
        return np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return np.asarray([_to_float(v) for v in np.asarray(values).reshape(-1)])


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _positives(y_true: Any, positive_label: Any) -> np.ndarray:
    """A boolean array: which rows of y_true are the positive class."""
    y = np.asarray(y_true).reshape(-1)
    same = y == positive_label
    if np.ndim(same) == 0:  # incomparable types: no row is positive
        return np.zeros(y.shape[0], dtype=bool)
    return np.asarray(same, dtype=bool)


def _binary_inputs(y_true: Any, proba: Any, positive_label: Any) -> tuple[np.ndarray, np.ndarray]:
    """(is positive, probability) of the rows whose probability is finite."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    p = p.reshape(-1)
    positive = _positives(y_true, positive_label)
    if positive.shape != p.shape:
        raise ValueError(f"y_true has {positive.shape[0]} rows but proba has {p.shape[0]}")
    keep = np.isfinite(p)
    return positive[keep], p[keep]


def _paired(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """(actual, predicted) of the rows where both are finite numbers."""
    y, p = _floats(y_true), _floats(y_pred)
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.shape[0]} rows but y_pred has {p.shape[0]}")
    keep = np.isfinite(y) & np.isfinite(p)
    return y[keep], p[keep]


def subsample(n_rows: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted row numbers of at most `limit` of `n_rows` rows, the same for the same inputs."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))


def _label_axes(ax: Any, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(truncate_label(xlabel, 60), fontsize=_FONT, color=_TEXT)
    ax.set_ylabel(truncate_label(ylabel, 40), fontsize=_FONT, color=_TEXT)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(5))
        axis.get_offset_text().set_fontsize(_FONT - 2)


def _style(ax: Any) -> None:
    """The look `new_figure` gives its axes, for a second axes of the same figure."""
    ax.tick_params(labelsize=_FONT - 1, colors=_TEXT, length=2)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#999999")


def _legend(ax: Any, loc: str) -> None:
    ax.legend(loc=loc, fontsize=_FONT - 1, frameon=False, handlelength=1.6)


def _unit_square(ax: Any) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)


# ----- binary curves -------------------------------------------------------------------
def _ranking_counts(positive: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (true positives, false positives) as the threshold falls past each score."""
    order = np.argsort(-p, kind="stable")
    scores, hits = p[order], positive[order]
    last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    tps = np.cumsum(hits)[last]
    fps = last + 1 - tps
    return np.r_[0, tps].astype(np.float64), np.r_[0, fps].astype(np.float64)


def roc_points(positive: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(false positive rates, true positive rates, area under the curve); needs both classes."""
    tps, fps = _ranking_counts(positive, p)
    fpr, tpr = fps / fps[-1], tps / tps[-1]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    return fpr, tpr, auc


def pr_points(positive: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(recalls, precisions, average precision), recall rising, to draw as `steps-pre`.

    The first point (no row called positive, recall 0) takes the precision of the second,
    so the curve starts level; average precision is the area under those steps.
    """
    tps, fps = _ranking_counts(positive, p)
    recall = tps / tps[-1]
    called = tps + fps
    precision = np.divide(tps, called, out=np.ones_like(tps), where=called > 0)
    precision[0] = precision[1]
    ap = float(np.sum(np.diff(recall) * precision[1:]))
    return recall, precision, ap


def roc_curve_chart(
    y_true: Any,
    proba: Any,
    positive_label: Any,
    baseline_proba: Any = None,
    *,
    title: str = "ROC curve",
) -> str:
    """The ROC curve of P(positive) `proba`, AUC in the legend, the baseline's dashed."""
    fig, ax = new_figure(SQUARE + 0.4, SQUARE)
    _title(fig, title)
    positive, p = _binary_inputs(y_true, proba, positive_label)
    if positive.all() or not positive.any():
        return _note(fig, ax, "A ROC curve needs both classes\nin the test rows.")
    ax.plot([0, 1], [0, 1], **_GUIDE)
    if baseline_proba is not None:
        base_positive, base_p = _binary_inputs(y_true, baseline_proba, positive_label)
        if base_positive.any() and not base_positive.all():
            fpr, tpr, auc = roc_points(base_positive, base_p)
            ax.plot(fpr, tpr, "--", color=BASELINE_COLOR, lw=1.2, label=f"baseline (AUC {auc:.3f})")
    fpr, tpr, auc = roc_points(positive, p)
    ax.plot(fpr, tpr, color=COLOR, lw=1.6, label=f"model (AUC {auc:.3f})")
    _unit_square(ax)
    _label_axes(ax, "false positive rate", "true positive rate")
    _legend(ax, "lower right")
    set_margins(fig, left=0.55, bottom=0.45, right=0.15)
    return figure_to_data_uri(fig)


def pr_curve_chart(
    y_true: Any,
    proba: Any,
    positive_label: Any,
    baseline_proba: Any = None,
    *,
    title: str = "Precision-recall curve",
) -> str:
    """The precision-recall curve, PR AUC (average precision) in the legend, baseline dashed."""
    fig, ax = new_figure(SQUARE + 0.4, SQUARE)
    _title(fig, title)
    positive, p = _binary_inputs(y_true, proba, positive_label)
    if not positive.any():
        return _note(fig, ax, "A precision-recall curve needs\na positive row in the test rows.")
    ax.axhline(positive.mean(), **_GUIDE)
    if baseline_proba is not None:
        base_positive, base_p = _binary_inputs(y_true, baseline_proba, positive_label)
        if base_positive.any():
            recall, precision, ap = pr_points(base_positive, base_p)
            ax.plot(
                recall,
                precision,
                "--",
                color=BASELINE_COLOR,
                lw=1.2,
                drawstyle="steps-pre",
                label=f"baseline (PR AUC {ap:.3f})",
            )
    recall, precision, ap = pr_points(positive, p)
    ax.plot(
        recall,
        precision,
        color=COLOR,
        lw=1.6,
        drawstyle="steps-pre",
        label=f"model (PR AUC {ap:.3f})",
    )
    _unit_square(ax)
    _label_axes(ax, "recall", "precision")
    _legend(ax, "lower left")
    set_margins(fig, left=0.55, bottom=0.45, right=0.15)
    return figure_to_data_uri(fig)


# ----- calibration ---------------------------------------------------------------------
def calibration_bins(
    positive: np.ndarray, p: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted, observed share, rows) per quantile bin of `p`; empty bins left out."""
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, max(1, n_bins) + 1)))
    inner = edges[1:-1]
    bins = np.searchsorted(inner, p, side="right")
    size = inner.shape[0] + 1
    rows = np.bincount(bins, minlength=size).astype(np.float64)
    mean_p = np.bincount(bins, weights=p, minlength=size)
    hits = np.bincount(bins, weights=positive.astype(np.float64), minlength=size)
    used = rows > 0
    return mean_p[used] / rows[used], hits[used] / rows[used], rows[used]


def calibration_chart(
    y_true: Any,
    proba: Any,
    positive_label: Any,
    n_bins: int = 10,
    *,
    title: str = "Calibration",
    xlabel: str = "mean predicted probability",
    ylabel: str = "observed share positive",
) -> str:
    """A reliability diagram: observed share per quantile bin of the probability, diagonal."""
    fig, ax = new_figure(SQUARE + 0.4, SQUARE)
    _title(fig, title)
    positive, p = _binary_inputs(y_true, proba, positive_label)
    if p.shape[0] == 0:
        return _note(fig, ax, "no data")
    mean_p, observed, rows = calibration_bins(positive, p, n_bins)
    ax.plot([0, 1], [0, 1], **_GUIDE, label="perfectly calibrated")
    sizes = 8 + 40 * rows / rows.max()
    ax.plot(mean_p, observed, color=COLOR, lw=1.2, zorder=2)
    ax.scatter(mean_p, observed, s=sizes, color=COLOR, edgecolors="white", linewidths=0.5, zorder=3)
    ax.plot([], [], "o-", color=COLOR, lw=1.2, ms=4, label=f"model ({rows.shape[0]} bins)")
    _unit_square(ax)
    _label_axes(ax, xlabel, ylabel)
    _legend(ax, "upper left")
    set_margins(fig, left=0.55, bottom=0.45, right=0.15)
    return figure_to_data_uri(fig)


# ----- confusion matrix ----------------------------------------------------------------
def _row_shares(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.full(counts.shape, np.nan), where=totals > 0)


def _annotate_cells(ax: Any, counts: np.ndarray, shares: np.ndarray, size: float) -> None:
    for i, j in np.ndindex(*counts.shape):
        strong = np.isfinite(shares[i, j]) and shares[i, j] > 0.6
        ax.text(
            j,
            i,
            f"{int(counts[i, j]):,}",
            ha="center",
            va="center",
            fontsize=size,
            color="white" if strong else _TEXT,
        )


def confusion_matrix_chart(
    labels: Sequence[Any],
    matrix: Sequence[Sequence[Any]],
    *,
    title: str = "Confusion matrix",
) -> str:
    """Counts (rows = true class, columns = predicted), coloured by the share of their row."""
    n = len(labels)
    counts = np.nan_to_num(
        np.asarray(matrix, dtype=np.float64).reshape(n, n) if n else np.zeros((0, 0))
    )
    side = min(9.0, max(2.8, 1.4 + 0.32 * n))
    fig, ax = new_figure(side + 0.3, side)
    _title(fig, title)
    if n == 0:
        return _note(fig, ax, "no data")
    shares = _row_shares(counts)
    colormap = _colormap()
    ax.imshow(np.ma.masked_invalid(shares), cmap=colormap, vmin=0.0, vmax=1.0, aspect="auto")
    names = [truncate_label(label, 20) for label in labels]
    size = min(_FONT - 1, max(4.0, side * 0.75 / n * 72 * 0.5))
    ticks = np.arange(n)
    ax.set_xticks(ticks, names, fontsize=size, rotation=90 if n > 3 else 0)
    ax.set_yticks(ticks, names, fontsize=size)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if n <= 15:
        _annotate_cells(ax, counts, shares, min(_FONT - 1, size))
    ax.set_xlabel("predicted", fontsize=_FONT, color=_TEXT)
    ax.set_ylabel("true", fontsize=_FONT, color=_TEXT)
    label_room = text_width(names, size)
    bottom = 0.35 + (label_room if n > 3 else size / 72)
    set_margins(fig, left=0.4 + label_room, bottom=bottom, right=0.15)
    return figure_to_data_uri(fig)


def _colormap() -> Any:
    return colormaps["Blues"].with_extremes(bad=MISSING_CELL)


# ----- regression ----------------------------------------------------------------------
def _scatter(ax: Any, x: np.ndarray, y: np.ndarray) -> None:
    alpha = 0.7 if x.shape[0] <= 500 else 0.35
    ax.scatter(x, y, s=6, color=COLOR, alpha=alpha, linewidths=0, rasterized=True)


def _span(*arrays: np.ndarray) -> tuple[float, float]:
    """A (low, high) covering every value, padded, never empty."""
    low = min(float(a.min()) for a in arrays)
    high = max(float(a.max()) for a in arrays)
    pad = (high - low) * 0.04 or max(abs(low) * 0.1, 1.0)
    return low - pad, high + pad


def _sample_note(fig: Figure, shown: int, total: int) -> None:
    if shown < total:
        fig.text(
            0.99,
            0.01,
            f"{shown:,} of {total:,} rows drawn",
            ha="right",
            va="bottom",
            fontsize=_FONT - 2,
            color=_MUTED,
        )


def predicted_vs_actual_chart(
    y_true: Any, y_pred: Any, *, title: str = "Predicted vs actual"
) -> str:
    """Predicted against actual values (at most 5,000 rows, a fixed subsample), diagonal."""
    fig, ax = new_figure(SQUARE + 0.5, SQUARE)
    _title(fig, title)
    y, p = _paired(y_true, y_pred)
    if y.shape[0] == 0:
        return _note(fig, ax, "no data")
    rows = subsample(y.shape[0])
    low, high = _span(y, p)
    ax.plot([low, high], [low, high], **_GUIDE)
    _scatter(ax, y[rows], p[rows])
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    _label_axes(ax, "actual", "predicted")
    _sample_note(fig, rows.shape[0], y.shape[0])
    set_margins(fig, left=0.65, bottom=0.5, right=0.15)
    return figure_to_data_uri(fig)


def _residual_histogram(ax: Any, residual: np.ndarray) -> None:
    bins = int(min(30, max(1, math.ceil(math.sqrt(residual.shape[0])))))
    counts, edges = np.histogram(residual, bins=bins)
    ax.stairs(counts, edges, fill=True, color=COLOR, alpha=0.85, linewidth=0)
    ax.stairs(counts, edges, color=OUTLINE_COLOR, linewidth=0.8, baseline=0)
    ax.axvline(0.0, color=NEGATIVE_COLOR, linewidth=0.8)
    ax.set_ylim(0, (counts.max() or 1) * 1.06)
    _label_axes(ax, "residual (actual − predicted)", "rows")


def residuals_chart(y_true: Any, y_pred: Any, *, title: str = "Residuals") -> str:
    """Residual (actual − predicted) against predicted, and the residuals' histogram."""
    fig, ax = new_figure(2 * WIDTH, HEIGHT + 0.4)
    _title(fig, title)
    y, p = _paired(y_true, y_pred)
    if y.shape[0] == 0:
        return _note(fig, ax, "no data")
    residual = y - p
    grid = fig.add_gridspec(1, 2, wspace=0.35)
    ax.set_subplotspec(grid[0])
    right = fig.add_subplot(grid[1])
    _style(right)
    rows = subsample(y.shape[0])
    ax.axhline(0.0, color=NEGATIVE_COLOR, linewidth=0.8)
    _scatter(ax, p[rows], residual[rows])
    ax.set_xlim(*_span(p))
    ax.set_ylim(*_span(residual))
    _label_axes(ax, "predicted", "residual")
    _residual_histogram(right, residual)
    _sample_note(fig, rows.shape[0], y.shape[0])
    set_margins(fig, left=0.65, bottom=0.5, right=0.2)
    return figure_to_data_uri(fig)


# ----- feature importance --------------------------------------------------------------
def importance_chart(
    names: Sequence[Any],
    values: Sequence[Any],
    errors: Sequence[Any] | None = None,
    *,
    title: str = "Permutation importance",
    xlabel: str = "importance",
) -> str:
    """Horizontal bars of the 20 largest importances (largest on top), ± `errors` if given."""
    value = _floats(values)
    error = _floats(errors) if errors is not None else np.zeros_like(value)
    if len(names) != value.shape[0] or error.shape != value.shape:
        raise ValueError("importance_chart needs as many names, values and errors")
    keep = np.flatnonzero(np.isfinite(value))
    order = keep[np.argsort(-value[keep], kind="stable")][:TOP_FEATURES]
    n = order.shape[0]
    fig, ax = new_figure(WIDTH + 0.6, min(MAX_HEIGHT, max(1.6, 0.85 + 0.2 * n)))
    shown = f" (top {n} of {len(names)})" if n < len(names) else ""
    _title(fig, title + shown)
    if n == 0:
        return _note(fig, ax, "no data")
    labels = [truncate_label(names[i]) for i in order]
    heights = value[order]
    spread = np.nan_to_num(np.abs(error[order]))
    colors = [NEGATIVE_COLOR if h < 0 else COLOR for h in heights]
    positions = np.arange(n)
    ax.barh(
        positions,
        heights,
        height=0.7,
        color=colors,
        xerr=spread if spread.any() else None,
        error_kw={"elinewidth": 0.8, "capsize": 1.5, "ecolor": _TEXT},
    )
    ax.axvline(0.0, color="#999999", linewidth=0.6)
    size = min(_FONT - 1, max(4.5, 0.2 * 72 * 0.6))
    ax.set_yticks(positions, labels, fontsize=size)
    ax.set_ylim(n - 0.5, -0.5)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.xaxis.get_offset_text().set_fontsize(_FONT - 2)
    ax.set_xlabel(truncate_label(xlabel, 60), fontsize=_FONT - 1, color=_TEXT)
    set_margins(fig, left=0.15 + text_width(labels, size), bottom=0.48, right=0.2)
    return figure_to_data_uri(fig)


# ----- cross-validation spread ---------------------------------------------------------
def _family_order(scores: Mapping[str, np.ndarray], higher_is_better: bool) -> list[str]:
    """Families by their best score, best first; families without a score last."""

    def key(family: str) -> tuple[bool, float]:
        values = scores[family]
        if values.shape[0] == 0:
            return (True, 0.0)
        best = values.max() if higher_is_better else values.min()
        return (False, -best if higher_is_better else best)

    return sorted(scores, key=key)


def _box(ax: Any, position: float, values: np.ndarray, color: str) -> None:
    """A box (quartiles), median and whiskers (1.5 IQR) of `values` at height `position`."""
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    reach = 1.5 * (q3 - q1)
    low = values[values >= q1 - reach].min()
    high = values[values <= q3 + reach].max()
    half = 0.3
    box = [
        (q1, position - half),
        (q3, position - half),
        (q3, position + half),
        (q1, position + half),
    ]
    ax.add_collection(PolyCollection([box], facecolors=color, edgecolors=color, alpha=0.25))
    ax.vlines(median, position - half, position + half, color=color, linewidth=1.4)
    ax.hlines([position, position], [low, q3], [q1, high], color=color, linewidth=0.8)


def cv_spread_chart(
    scores_by_family: Mapping[str, Sequence[float]],
    metric: str,
    higher_is_better: bool,
    *,
    title: str = "Cross-validation scores by family",
) -> str:
    """Every trial's CV score per model family: a box and the points, best family on top."""
    scores = {str(f): _finite(v) for f, v in scores_by_family.items()}
    order = _family_order(scores, higher_is_better)
    n = len(order)
    fig, ax = new_figure(WIDTH + 0.8, min(MAX_HEIGHT, max(1.8, 0.95 + 0.32 * n)))
    _title(fig, title)
    if not any(values.shape[0] for values in scores.values()):
        return _note(fig, ax, "no data")
    rng = np.random.default_rng(0)
    for position, family in enumerate(order):
        values = scores[family]
        if values.shape[0] == 0:
            continue
        color = BASELINE_COLOR if "baseline" in family.lower() else COLOR
        _box(ax, position, values, color)
        jitter = rng.uniform(-0.18, 0.18, values.shape[0]) if values.shape[0] > 1 else 0.0
        ax.scatter(values, position + jitter, s=9, color=color, alpha=0.75, linewidths=0, zorder=3)
    labels = [truncate_label(f"{family} ({scores[family].shape[0]})") for family in order]
    ax.set_yticks(np.arange(n), labels, fontsize=_FONT - 1)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(*_span(*(v for v in scores.values() if v.shape[0])))
    direction = "higher" if higher_is_better else "lower"
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel(f"CV {truncate_label(metric)} ({direction} is better)", fontsize=_FONT - 1)
    set_margins(fig, left=0.15 + text_width(labels, _FONT - 1), bottom=0.48, right=0.2)
    return figure_to_data_uri(fig)


def _finite(values: Any) -> np.ndarray:
    array = _floats(values if values is not None else [])
    return array[np.isfinite(array)]
