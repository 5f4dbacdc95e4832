"""Charts of SHAP explanations, as PNG data URIs: mean |SHAP| bars and a beeswarm summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps

from loopml.report.eval_plots import TOP_FEATURES, importance_chart
from loopml.report.plots import (
    MAX_HEIGHT,
    MISSING_CELL,
    WIDTH,
    _title,
    figure_to_data_uri,
    new_figure,
    set_margins,
    text_width,
    truncate_label,
)

__all__ = ["beeswarm_chart", "shap_bar_chart"]

_FONT = 8
_BINS = 60  # bins along the SHAP axis in which points are stacked
_HALF_HEIGHT = 0.4  # of one row, at most


def shap_bar_chart(names: Sequence[str], mean_abs: Sequence[float], *, space: str) -> str:
    """Horizontal bars of the 20 largest mean |SHAP| values (largest on top)."""
    return importance_chart(
        list(names),
        list(mean_abs),
        title="Mean |SHAP value|",
        xlabel=f"mean |contribution| to {space}",
    )


def beeswarm_chart(
    names: Sequence[str], values: np.ndarray, colors: np.ndarray | None, *, space: str
) -> str:
    """One row of points per column (the 20 with the largest mean |SHAP|, largest on top):
    each point a row's contribution, coloured by the column's value (blue low, red high,
    grey for categories and missing values)."""
    values = np.asarray(values, dtype=float)
    n, d = values.shape if values.ndim == 2 else (0, len(names))
    order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:TOP_FEATURES] if n else []
    shown = len(order)
    fig, ax = new_figure(WIDTH + 1.2, min(MAX_HEIGHT, max(1.8, 0.95 + 0.3 * shown)))
    more = f" (top {shown} of {d})" if shown < d else ""
    _title(fig, f"SHAP values per row{more}")
    if not n or not shown:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return figure_to_data_uri(fig)
    cmap = colormaps["coolwarm"]
    rng = np.random.default_rng(0)
    for position, j in enumerate(order):
        x = values[:, j]
        offsets = _stack(x, rng)
        shade = None if colors is None else colors[:, j]
        color = [
            MISSING_CELL if shade is None or np.isnan(shade[i]) else cmap(shade[i])
            for i in range(n)
        ]
        ax.scatter(x, position + offsets, s=5, c=color, linewidths=0, alpha=0.8, rasterized=True)
    ax.axvline(0.0, color="#999999", linewidth=0.6)
    labels = [truncate_label(names[j]) for j in order]
    ax.set_yticks(np.arange(shown), labels, fontsize=_FONT - 1)
    ax.set_ylim(shown - 0.5, -0.5)
    ax.set_xlabel(truncate_label(f"contribution to {space}", 60), fontsize=_FONT - 1)
    fig.text(
        0.99,
        0.01,
        "colour: the column's value, blue low → red high; grey: category or missing",
        ha="right",
        va="bottom",
        fontsize=_FONT - 2,
        color="#666666",
    )
    set_margins(fig, left=0.15 + text_width(labels, _FONT - 1), bottom=0.6, right=0.2)
    return figure_to_data_uri(fig)


def _stack(x: np.ndarray, rng: Any) -> np.ndarray:
    """Vertical offsets piling up points with close values (a beeswarm), within ±0.4."""
    finite = np.isfinite(x)
    out = np.zeros(len(x))
    if not finite.any():
        return out
    low, high = float(x[finite].min()), float(x[finite].max())
    width = (high - low) / _BINS or 1.0
    bins = np.floor((np.where(finite, x, low) - low) / width).astype(int)
    order = np.lexsort((rng.random(len(x)), bins))
    counts: dict[int, int] = {}
    for i in order:
        k = counts.get(int(bins[i]), 0)
        counts[int(bins[i])] = k + 1
        out[i] = (k + 1) // 2 * (1 if k % 2 else -1)
    peak = max(1, max(counts.values()) // 2)
    return out / peak * _HALF_HEIGHT
