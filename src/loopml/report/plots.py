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
from matplotlib import colormaps
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

WIDTH = 4.0  # inches
HEIGHT = 2.6  # inches
DPI = 90
LABEL_LIMIT = 30  # characters shown of a tick label before the ellipsis
MAX_HEIGHT = 12.0  # inches, however many bars
COLOR = "#3d6fb6"
NEGATIVE_COLOR = "#c8553d"
MISSING_CELL = "#d4d4d4"
_FONT = 8
_TEXT = "#333333"
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
    """Encode `fig` as a PNG data URI (laid out tightly first if `tight`) and release it."""
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # fonts without a glyph (e.g. CJK labels) and crowded layouts are not errors here
            warnings.filterwarnings("ignore", message=r".*[Gg]lyph.*missing", category=UserWarning)
            warnings.filterwarnings("ignore", message=r".*[Tt]ight.?layout", category=UserWarning)
            if tight:
                fig.tight_layout(pad=0.4)
            fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        fig.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _title(ax: Any, title: str) -> None:
    ax.set_title(truncate_label(title, 70), fontsize=_FONT + 1, color=_TEXT, loc="left")


def _no_data(ax: Any) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", color="#888888", fontsize=_FONT)
    ax.set_xticks([])
    ax.set_yticks([])


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
    """Bars of `values` named by `labels` (first label on top when horizontal)."""
    if len(labels) != len(values):
        raise ValueError(f"bar_chart got {len(labels)} labels but {len(values)} values")
    heights = [_as_float(v) for v in values]
    names = [truncate_label(label) for label in labels]
    n = len(names)
    height = min(MAX_HEIGHT, max(HEIGHT, 0.7 + 0.19 * n)) if horizontal else HEIGHT
    fig, ax = new_figure(WIDTH, height)
    _title(ax, title)
    if n == 0 or all(math.isnan(h) for h in heights):
        _no_data(ax)
        return figure_to_data_uri(fig, tight=True)
    plotted = [0.0 if math.isnan(h) else h for h in heights]
    colors = [NEGATIVE_COLOR if h < 0 else COLOR for h in plotted]
    positions = np.arange(n)
    pitch = ((height - 0.7) if horizontal else (WIDTH - 0.7)) / max(n, 1) * 72  # points per bar
    tick_size = min(_FONT - 1, max(4.0, pitch * 0.55))
    if horizontal:
        bars = ax.barh(positions, plotted, color=colors, height=0.7)
        ax.set_yticks(positions, names, fontsize=tick_size)
        ax.invert_yaxis()
        ax.set_ylim(n - 0.5, -0.5)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        if xlabel:
            ax.set_xlabel(truncate_label(xlabel, 60), fontsize=_FONT, color=_TEXT)
        if min(plotted) < 0:
            ax.axvline(0, color="#777777", linewidth=0.6)
        set_margins(
            fig,
            left=0.12 + text_width(names, tick_size),
            bottom=0.3 + (0.16 if xlabel else 0.0),
            right=0.2,
        )
    else:
        bars = ax.bar(positions, plotted, color=colors, width=0.7)
        rotate = n > 4 or max(len(s) for s in names) > 8
        ax.set_xticks(
            positions,
            names,
            fontsize=tick_size,
            rotation=45 if rotate else 0,
            ha="right" if rotate else "center",
            rotation_mode="anchor",
        )
        ax.yaxis.set_major_locator(MaxNLocator(5))
        if xlabel:
            ax.set_ylabel(truncate_label(xlabel, 40), fontsize=_FONT, color=_TEXT)
        if min(plotted) < 0:
            ax.axhline(0, color="#777777", linewidth=0.6)
        label_height = text_width(names, tick_size) * 0.72 if rotate else tick_size / 72
        set_margins(
            fig,
            left=0.45 + (0.16 if xlabel else 0.0),
            bottom=0.15 + label_height,
            right=0.25 if rotate else 0.15,
        )
    if annotate and n <= 25:
        ax.bar_label(
            bars,
            labels=[_short_number(h) for h in heights],
            fontsize=_FONT - 2,
            color=_TEXT,
            padding=2,
        )
        # room for the labels past the longest bar
        if horizontal:
            low, high = ax.get_xlim()
            ax.set_xlim(low, high + (high - low) * 0.12)
        else:
            low, high = ax.get_ylim()
            ax.set_ylim(low, high + (high - low) * 0.12)
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
    _title(ax, title)
    if len(counts) == 0:
        _no_data(ax)
        return figure_to_data_uri(fig, tight=True)
    if len(edges) != len(counts) + 1:
        raise ValueError(f"histogram needs {len(counts) + 1} edges for {len(counts)} bins")
    positions, is_date = _edge_positions(edges)
    lefts = positions[:-1]
    widths = np.diff(positions)
    span = positions[-1] - positions[0]
    if not np.isfinite(span) or span <= 0:  # a single value: draw one visible bar around it
        span = 1.0 if is_date or positions[0] == 0 else abs(positions[0]) * 0.1
        lefts = lefts - span / 2
        widths = np.full_like(widths, span)
    heights = [0.0 if math.isnan(c := _as_float(v)) else c for v in counts]
    ax.bar(lefts, heights, width=widths, align="edge", color=COLOR, edgecolor="white", lw=0.4)
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
    _title(ax, title)
    if n == 0:
        _no_data(ax)
        return figure_to_data_uri(fig, tight=True)
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
