"""Small matplotlib charts returned as self-contained PNG data URIs (`data:image/png;base64,...`).

Figures are built with `matplotlib.figure.Figure` on the Agg canvas directly: no pyplot state,
no GUI backend and no change to the user's global matplotlib backend (a notebook keeps its own).
"""

from __future__ import annotations

import base64
import io
import math
import numbers
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

WIDTH = 4.0  # inches
HEIGHT = 2.6  # inches
DPI = 90
LABEL_LIMIT = 30  # characters shown of a tick label before the ellipsis
MAX_HEIGHT = 12.0  # inches, however many bars
COLOR = "#3d6fb6"
OUTLINE_COLOR = "#24497f"
NEGATIVE_COLOR = "#c8553d"
MISSING_CELL = "#d4d4d4"
_FONT = 8
_TEXT = "#333333"
_MUTED = "#666666"
_CHAR_EM = 0.62  # average glyph width of DejaVu Sans, in ems, with some room


def truncate_label(label: Any, limit: int = LABEL_LIMIT) -> str:
    """`label` on one line, cut to `limit` characters with an ellipsis, safe from mathtext."""
    text = " ".join(str(label).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def new_figure(width: float = WIDTH, height: float = HEIGHT) -> tuple[Figure, Any]:
    """A figure with one axes, drawn on the Agg canvas, in the report's style."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.tick_params(labelsize=_FONT - 1, colors=_TEXT, length=2)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#999999")
    return fig, ax


def text_width(labels: Sequence[str], fontsize: float) -> float:
    """About how many inches the longest of `labels` takes at `fontsize` points."""
    longest = max((len(label) for label in labels), default=0)
    return longest * fontsize * _CHAR_EM / 72


def set_margins(
    fig: Figure, *, left: float, bottom: float, right: float = 0.15, top: float = 0.32
) -> None:
    """Place the axes by margins in inches (much faster than tight_layout, and as tight)."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=min(left / width, 0.7),
        right=max(1 - right / width, min(left / width, 0.7) + 0.05),
        bottom=min(bottom / height, 0.7),
        top=max(1 - top / height, min(bottom / height, 0.7) + 0.05),
    )


def figure_to_data_uri(fig: Figure, *, tight: bool = False) -> str:
    """Encode `fig` as a PNG data URI (laid out by `tight_layout` first if `tight`), release it."""
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # fonts without a glyph (e.g. CJK labels) and crowded layouts are not errors here
            warnings.filterwarnings("ignore", message=r".*[Gg]lyph.*missing", category=UserWarning)
            warnings.filterwarnings("ignore", message=r".*[Tt]ight.?layout", category=UserWarning)
            # unhinted glyphs look the same at this size and draw about a fifth faster
            with rc_context({"text.hinting": "none"}):
                if tight:
                    fig.tight_layout(pad=0.4)
                fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        fig.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _title(fig: Figure, title: str) -> None:
    # a figure text, not Axes.set_title: positioning an axes title costs a full tick layout
    width, height = fig.get_size_inches()
    fig.text(
        0.1 / width,
        1 - 0.08 / height,
        truncate_label(title, 70),
        ha="left",
        va="top",
        fontsize=_FONT + 1,
        color=_TEXT,
    )


def _no_data(fig: Figure, ax: Any) -> str:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", color="#888888", fontsize=_FONT)
    ax.set_axis_off()
    return figure_to_data_uri(fig)


def _as_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _short_number(value: float) -> str:
    if math.isnan(value):
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def bar_chart(
    labels: Sequence[Any],
    values: Sequence[Any],
    *,
    title: str,
    xlabel: str | None = None,
    horizontal: bool = True,
    annotate: bool = True,
) -> str:
    """Bars of `values` named by `labels` (first on top when horizontal), values printed on them.

    `xlabel` names the value axis. With `annotate` (and at most 40 bars) each bar carries its
    value and the value axis is left out; otherwise the value axis has ticks.
    """
    if len(labels) != len(values):
        raise ValueError(f"bar_chart got {len(labels)} labels but {len(values)} values")
    heights = [_as_float(v) for v in values]
    names = [truncate_label(label) for label in labels]
    n = len(names)
    height = min(MAX_HEIGHT, max(1.6, 0.75 + 0.22 * n)) if horizontal else HEIGHT
    fig, ax = new_figure(WIDTH, height)
    _title(fig, title)
    if n == 0 or all(math.isnan(h) for h in heights):
        return _no_data(fig, ax)
    plotted = [0.0 if math.isnan(h) else h for h in heights]
    low, high = min(0.0, *plotted), max(0.0, *plotted)
    span = (high - low) or 1.0
    printed = annotate and n <= 40
    room = 0.16 * span if printed else 0.03 * span  # past the bar ends, for the printed values
    limits = (low - room if low < 0 else 0.0, high + room if high > 0 or low == 0 else 0.0)
    # one collection of rectangles: far cheaper to build and draw than a patch per bar
    half = 0.35
    boxes = [
        [(0, p - half), (h, p - half), (h, p + half), (0, p + half)]
        if horizontal
        else [(p - half, 0), (p - half, h), (p + half, h), (p + half, 0)]
        for p, h in enumerate(plotted)
    ]
    colors = [NEGATIVE_COLOR if h < 0 else COLOR for h in plotted]
    ax.add_collection(PolyCollection(boxes, facecolors=colors, edgecolors="none"))
    pitch = ((height - 0.7) if horizontal else (WIDTH - 0.7)) / n * 72  # points per bar
    size = min(_FONT - 1, max(4.0, pitch * 0.55))
    value_size = min(_FONT - 2, size)
    label_axis, value_axis = (ax.yaxis, ax.xaxis) if horizontal else (ax.xaxis, ax.yaxis)
    # category names as plain texts: ticks with labels cost several times more to draw
    label_axis.set_visible(False)
    ax.spines["left" if horizontal else "bottom"].set_visible(False)
    if printed:
        value_axis.set_visible(False)
        ax.spines["bottom" if horizontal else "left"].set_visible(False)
    else:
        value_axis.set_major_locator(MaxNLocator(4))
    if horizontal:
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_xlim(*limits)
        ax.axvline(0, color="#999999", linewidth=0.6)
        at_left = blended_transform_factory(ax.transAxes, ax.transData)
        for p, name in enumerate(names):
            ax.text(-0.015, p, name, transform=at_left, ha="right", va="center", fontsize=size)
        for p, (h, v) in enumerate(zip(plotted, heights, strict=True)):
            if printed and not math.isnan(v):
                ax.text(
                    h + (0.01 if h >= 0 else -0.01) * span,
                    p,
                    _short_number(v),
                    ha="left" if h >= 0 else "right",
                    va="center",
                    fontsize=value_size,
                    color=_TEXT,
                )
        bottom = 0.12 if printed else 0.32
        if xlabel:
            if printed:
                ax.text(
                    1.0,
                    -0.01,
                    truncate_label(xlabel, 60),
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=_FONT - 1,
                    color=_MUTED,
                )
            else:
                ax.set_xlabel(truncate_label(xlabel, 60), fontsize=_FONT - 1, color=_TEXT)
            bottom += 0.16
        set_margins(fig, left=0.12 + text_width(names, size), bottom=bottom, right=0.15)
    else:
        ax.set_xlim(-0.5, n - 0.5)
        ax.set_ylim(*limits)
        ax.axhline(0, color="#999999", linewidth=0.6)
        rotate = n > 4 or max(len(s) for s in names) > 8
        at_bottom = blended_transform_factory(ax.transData, ax.transAxes)
        for p, name in enumerate(names):
            ax.text(
                p,
                -0.03,
                name,
                transform=at_bottom,
                ha="right" if rotate else "center",
                va="top",
                rotation=45 if rotate else 0,
                rotation_mode="anchor",
                fontsize=size,
            )
        for p, (h, v) in enumerate(zip(plotted, heights, strict=True)):
            if printed and not math.isnan(v):
                ax.text(
                    p,
                    h + (0.01 if h >= 0 else -0.01) * span,
                    _short_number(v),
                    ha="center",
                    va="bottom" if h >= 0 else "top",
                    fontsize=value_size,
                    color=_TEXT,
                )
        left = 0.15 if printed else 0.45
        if xlabel:
            if printed:
                ax.text(
                    -0.01,
                    1.0,
                    truncate_label(xlabel, 40),
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    rotation=90,
                    fontsize=_FONT - 1,
                    color=_MUTED,
                )
            else:
                ax.set_ylabel(truncate_label(xlabel, 40), fontsize=_FONT - 1, color=_TEXT)
            left += 0.16
        label_height = text_width(names, size) * 0.72 if rotate else size / 72
        set_margins(fig, left=left, bottom=0.12 + label_height, right=0.25 if rotate else 0.15)
    return figure_to_data_uri(fig)


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, np.datetime64):
        moment = value.astype("datetime64[us]").item()
        if not isinstance(moment, datetime):  # NaT and out-of-range values
            raise ValueError(f"cannot place {value!r} on a time axis")
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _edge_positions(edges: Sequence[Any]) -> tuple[np.ndarray, bool]:
    """Edges as floats on the x axis, and whether they are dates."""
    if all(isinstance(e, numbers.Real) and not isinstance(e, np.datetime64) for e in edges):
        return np.asarray([float(e) for e in edges], dtype=float), False
    moments = [_to_datetime(e) for e in edges]
    return np.asarray(mdates.date2num(moments), dtype=float), True


def histogram_chart(
    edges: Sequence[Any],
    counts: Sequence[Any],
    *,
    title: str,
    xlabel: str | None = None,
) -> str:
    """A histogram from bin `edges` (numbers, dates or ISO-8601 strings) and bin `counts`."""
    fig, ax = new_figure()
    _title(fig, title)
    if len(counts) == 0:
        return _no_data(fig, ax)
    if len(edges) != len(counts) + 1:
        raise ValueError(f"histogram needs {len(counts) + 1} edges for {len(counts)} bins")
    positions, is_date = _edge_positions(edges)
    heights = np.asarray([0.0 if math.isnan(c := _as_float(v)) else c for v in counts])
    span = positions[-1] - positions[0]
    if not np.isfinite(span) or span <= 0:  # a single value: one visible bar around it
        span = 1.0 if is_date or positions[0] == 0 else abs(positions[0]) * 0.1
        positions = np.asarray([positions[0] - span / 2, positions[0] + span / 2])
        heights = np.asarray([heights.sum()])
    # two step artists (fill, outline), not a patch per bin: several times faster to draw
    ax.stairs(heights, positions, fill=True, color=COLOR, alpha=0.85, linewidth=0)
    ax.stairs(heights, positions, color=OUTLINE_COLOR, linewidth=0.8, baseline=0)
    ax.set_xlim(positions[0] - span * 0.02, positions[-1] + span * 0.02)
    ax.set_ylim(0, (heights.max() or 1.0) * 1.06)
    ax.yaxis.set_major_locator(MaxNLocator(4, integer=True))
    if is_date:
        locator = mdates.AutoDateLocator(minticks=2, maxticks=5)
        ax.xaxis.set_major_locator(locator)
        formatter = mdates.ConciseDateFormatter(locator)
        ax.xaxis.set_major_formatter(formatter)
        ax.xaxis.get_offset_text().set_fontsize(_FONT - 2)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.xaxis.get_offset_text().set_fontsize(_FONT - 2)
    ax.yaxis.get_offset_text().set_fontsize(_FONT - 2)
    if xlabel:
        ax.set_xlabel(truncate_label(xlabel, 60), fontsize=_FONT, color=_TEXT)
    ax.set_ylabel("count", fontsize=_FONT - 1, color=_TEXT)
    set_margins(fig, left=0.62, bottom=0.42 + (0.16 if xlabel else 0.0), right=0.2)
    return figure_to_data_uri(fig)


def heatmap_chart(
    labels: Sequence[Any],
    matrix: Sequence[Sequence[Any]],
    *,
    title: str,
    vmin: float = -1.0,
    vmax: float = 1.0,
    cmap: str = "RdBu_r",
) -> str:
    """A square matrix (e.g. correlations) on a diverging scale; None/NaN cells are grey."""
    n = len(labels)
    grid = np.asarray([[_as_float(v) for v in row] for row in matrix], dtype=float)
    if n and grid.shape != (n, n):
        raise ValueError(f"heatmap needs a {n}x{n} matrix for {n} labels, got {grid.shape}")
    side = min(9.0, max(3.4, 1.4 + 0.2 * n))
    fig, ax = new_figure(side + 0.9, side)
    _title(fig, title)
    if n == 0:
        return _no_data(fig, ax)
    colormap = colormaps[cmap].with_extremes(bad=MISSING_CELL)
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        cmap=colormap,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
        aspect="auto",
    )
    names = [truncate_label(label, 24) for label in labels]
    step = 1 if n <= 60 else math.ceil(n / 60)
    pitch = side * 0.75 / (n / step) * 72  # points per labelled cell
    size = min(_FONT - 1, max(4.0, pitch * 0.6))
    ticks = np.arange(0, n, step)
    ax.set_xticks(ticks, [names[i] for i in ticks], fontsize=size, rotation=90)
    ax.set_yticks(ticks, [names[i] for i in ticks], fontsize=size)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if n <= 10:
        for i in range(n):
            for j in range(n):
                value = grid[i, j]
                if math.isnan(value):
                    continue
                strong = abs(value) > 0.6 * max(abs(vmin), abs(vmax))
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=_FONT - 2,
                    color="white" if strong else _TEXT,
                )
    margin = 0.12 + text_width([names[i] for i in ticks], size)
    set_margins(fig, left=margin, bottom=margin, right=0.45)
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    colorbar.ax.tick_params(labelsize=_FONT - 2, length=2)
    colorbar.outline.set_visible(False)
    return figure_to_data_uri(fig)
