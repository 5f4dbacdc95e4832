"""Charts of the monitoring report: drift per feature over time, and figures over time."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from loopml.report.plots import (
    MISSING_CELL,
    _no_data,
    _title,
    figure_to_data_uri,
    new_figure,
    set_margins,
    text_width,
    truncate_label,
)

_FONT = 8
_COLORS = ("#3d6fb6", "#c8553d", "#2e7d32", "#8e44ad")


def drift_over_time_chart(
    features: Sequence[str],
    starts: Sequence[datetime],
    psi: Sequence[Sequence[float | None]],
    drifted: Sequence[Sequence[bool]],
) -> str:
    """PSI of each feature (rows) in each period (columns); drifted cells are outlined."""
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    n, k = len(features), len(starts)
    height = min(12.0, max(2.4, 0.9 + 0.22 * n))
    fig, ax = new_figure(max(5.0, min(11.0, 2.2 + 0.45 * k)), height)
    _title(fig, "Drift over time (PSI per feature and period; outlined: drifted)")
    if n == 0 or k == 0:
        return _no_data(fig, ax)
    grid = np.array([[np.nan if v is None else v for v in row] for row in psi], dtype=float)
    colormap = colormaps["YlOrRd"].with_extremes(bad=MISSING_CELL)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=colormap, vmin=0, vmax=0.5, aspect="auto")
    for i in range(n):
        for j in range(k):
            if drifted[i][j]:
                ax.add_patch(
                    Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#1f2933", lw=1.4)
                )
    names = [truncate_label(f, 24) for f in features]
    ax.set_yticks(range(n), names, fontsize=_FONT - 1)
    step = max(1, math.ceil(k / 12))
    ax.set_xticks(
        range(0, k, step),
        [starts[j].strftime(_time_format(starts)) for j in range(0, k, step)],
        fontsize=_FONT - 2,
        rotation=45,
        ha="right",
    )
    ax.tick_params(length=0)
    set_margins(fig, left=0.2 + text_width(names, _FONT - 1), bottom=0.75, right=0.8)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.ax.tick_params(labelsize=_FONT - 2, length=2)
    bar.outline.set_visible(False)
    return figure_to_data_uri(fig)


def series_chart(
    title: str,
    starts: Sequence[datetime],
    series: dict[str, Sequence[float | None]],
    *,
    bands: dict[str, tuple[Sequence[float | None], Sequence[float | None]]] | None = None,
    lines: dict[str, float | None] | None = None,
    ylabel: str = "",
) -> str:
    """One or more figures per period, with optional interval bands and reference lines."""
    fig, ax = new_figure(6.0, 2.6)
    _title(fig, title)
    if not starts or not any(_finite(values) for values in series.values()):
        return _no_data(fig, ax)
    x = [start.astimezone(UTC).replace(tzinfo=None) for start in starts]  # shown in UTC
    for (name, values), color in zip(series.items(), _COLORS, strict=False):
        y = _floats(values)
        ax.plot(x, y, marker="o", ms=3, lw=1.4, color=color, label=name)
        if bands and name in bands:
            low, high = (_floats(v) for v in bands[name])
            ax.fill_between(x, low, high, color=color, alpha=0.15, lw=0)
    for (name, value), style in zip((lines or {}).items(), ("--", ":", "-."), strict=False):
        if value is not None:
            ax.axhline(value, color="#616e7c", lw=1, ls=style, label=name)
    ax.legend(fontsize=_FONT - 2, frameon=False, loc="best")
    ax.set_ylabel(ylabel, fontsize=_FONT - 1)
    ax.tick_params(axis="x", labelsize=_FONT - 2, rotation=30)
    set_margins(fig, left=0.65, bottom=0.65, right=0.2)
    return figure_to_data_uri(fig)


def _time_format(starts: Sequence[datetime]) -> str:
    """Tick labels as precise as the span needs."""
    span = (starts[-1] - starts[0]).total_seconds() if len(starts) > 1 else 0
    return "%H:%M:%S" if span < 3600 else "%m-%d %H:%M" if span < 2 * 86400 else "%Y-%m-%d"


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _finite(values: Sequence[Any]) -> bool:
    return bool(np.isfinite(_floats(values)).any()) if len(values) else False
