"""Explanations as plain data: the top contributions of a row, and importance over many rows.

local = local_explanations(contributions, rows, top=10)   # LocalExplanation per row
overall = global_explanation(explainer, frame, max_rows=10_000, seconds=60)
overall.to_dict()  # importance per original column: mean |SHAP|, mean SHAP
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.features.columns import Columns
from loopml.progress import NoProgress

if TYPE_CHECKING:
    from loopml.explain.contributions import Contributions, Explainer
    from loopml.progress import Progress

MAX_ROWS = 10_000  # rows a global explanation explains at most (a seeded sample beyond)
SAMPLED_ROWS = 100  # the same when members are explained by (slow) permutation sampling,
SAMPLED_MIN_ROWS = 10  # shared among them: 100 for one, 33 for three, 10 at least
PROBE_ROWS = 4  # rows explained first to measure the time per row
STEP_SECONDS = 1.0  # the longest a later chunk of rows should take (the progress bar moves)
PLOT_ROWS = 1_000  # rows kept for the beeswarm plot


@dataclass
class LocalExplanation:
    """Why one row got its output: base value + contributions (+ the rest) = output."""

    row: int
    output_name: str  # the class whose probability is explained, or `prediction`
    base_value: float
    output: float
    contributions: list[dict[str, Any]]  # {"feature", "value", "contribution"}, by |contribution|
    rest: float  # the sum of the contributions not listed
    rest_count: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return dict(self.__dict__)


@dataclass
class LocalExplanations:
    """Local explanations of some rows, with what they explain."""

    rows: list[LocalExplanation]
    space: str
    methods: list[str]
    model_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json` and the REST answer."""
        return {
            "kind": "local",
            "model_version": self.model_version,
            "space": self.space,
            "methods": self.methods,
            "explanations": [row.to_dict() for row in self.rows],
        }


@dataclass
class GlobalExplanation:
    """Importance of each original column over many rows: mean |SHAP| and mean SHAP.

    `importance` is sorted by mean |SHAP| (summed over the classes of a multiclass model).
    `values` (rows, columns) and `colors` (the column values scaled to 0..1, NaN for a
    categorical column or a missing value) feed the beeswarm plot; they are not in `to_dict`.
    `permutation` is the permutation importance on the test part, measured at training.
    """

    importance: list[dict[str, Any]]
    space: str
    methods: list[str]
    rows: int
    rows_given: int
    base_value: list[float]
    outputs: list[str]
    seconds: float
    model_version: int | None = None
    permutation: list[dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)
    values: np.ndarray | None = None
    colors: np.ndarray | None = None
    columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json` and the store (no per-row values)."""
        return {
            "kind": "global",
            "model_version": self.model_version,
            "space": self.space,
            "methods": self.methods,
            "rows": self.rows,
            "rows_given": self.rows_given,
            "base_value": self.base_value,
            "outputs": self.outputs,
            "seconds": self.seconds,
            "importance": self.importance,
            "permutation": self.permutation,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GlobalExplanation:
        """The explanation `to_dict` wrote (without the per-row values)."""
        names = (
            "importance",
            "space",
            "methods",
            "rows",
            "rows_given",
            "base_value",
            "outputs",
            "seconds",
            "model_version",
            "permutation",
            "notes",
        )
        return cls(**{name: data.get(name) for name in names})


def local_explanations(
    contributions: Contributions,
    rows: pd.DataFrame | Columns,
    *,
    top: int = 10,
    predicted: np.ndarray | None = None,
) -> list[LocalExplanation]:
    """Each row's `top` contributions by size; `predicted` picks the output of each row
    (a multiclass model: the index of its predicted class; default: the first output)."""
    values = contributions.values
    outputs = contributions.output
    n, d, _ = values.shape
    which = np.zeros(n, dtype=int) if predicted is None else np.asarray(predicted, dtype=int)
    top = max(0, min(int(top), d))
    out = []
    for i in range(n):
        k = int(which[i])
        row = values[i, :, k]
        order = np.argsort(-np.abs(row), kind="stable")[:top]
        listed = [
            {
                "feature": contributions.columns[j],
                "value": _plain(_value(rows, contributions.columns[j], i)),
                "contribution": float(row[j]),
            }
            for j in order
        ]
        shown = float(row[order].sum()) if top else 0.0
        out.append(
            LocalExplanation(
                row=i,
                output_name=contributions.outputs[k],
                base_value=float(contributions.base[k]),
                output=float(outputs[i, k]),
                contributions=listed,
                rest=float(row.sum()) - shown,
                rest_count=d - len(order),
            )
        )
    return out


def global_explanation(
    explainer: Explainer,
    frame: pd.DataFrame,
    *,
    max_rows: int = MAX_ROWS,
    seconds: float | None = None,
    seed: int = 0,
    budget: str = "row budget",
    time_budget: str = "time budget",
    progress: Progress | None = None,
) -> GlobalExplanation:
    """Mean |SHAP| per original column over (a seeded sample of at most `max_rows` of) the
    rows of `frame`; with `seconds`, fewer rows when explaining them all would take longer
    (the time per row is measured on the first few). `budget` and `time_budget` name the
    two budgets in the note of a sample; `progress` is told of every chunk of rows explained."""
    started = time.perf_counter()
    given = len(frame)
    rng = np.random.default_rng(seed)
    order = rng.permutation(given)[:max_rows] if given > max_rows else np.arange(given)
    sample = frame.iloc[order].reset_index(drop=True)
    progress = progress or NoProgress()
    progress.phase(f"Explaining {len(sample):,} rows", total=len(sample))
    notes = []
    parts = []
    done, chunk, per_row, timed = 0, PROBE_ROWS, 0.0, False
    while done < len(sample):
        if parts and seconds is not None:
            left = seconds - (time.perf_counter() - started)
            chunk = min(chunk, int(left / max(per_row, 1e-9)))
            if chunk <= 0:
                timed = True
                break
        begun = time.perf_counter()
        parts.append(explainer.explain(sample.iloc[done : done + chunk]))
        per_row = (time.perf_counter() - begun) / len(parts[-1].values)
        done += len(parts[-1].values)
        progress.advance(len(parts[-1].values))
        # growing chunks (the time per row of small ones overstates it), a second at most
        chunk = max(1, min(chunk * 4, int(STEP_SECONDS / max(per_row, 1e-9))))
    first = parts[0]
    values = np.concatenate([p.values for p in parts], axis=0)
    explained = len(values)
    if timed:
        notes.append(
            f"explained a seeded sample of {explained:,} of the {given:,} rows: at "
            f"{per_row * 1000:,.0f} ms a row, all {len(sample):,} would take about "
            f"{per_row * len(sample):,.0f} s ({time_budget})"
        )
    elif explained < given:
        notes.append(f"explained a seeded sample of {explained:,} of the {given:,} rows ({budget})")
    importance = _importance(values, first.columns)
    shown = sample.iloc[: min(explained, PLOT_ROWS)]
    plotted = values[: len(shown)]
    if plotted.shape[2] > 1:  # multiclass: each row's contribution to its most likely class
        likely = (first.base[None, :] + plotted.sum(axis=1)).argmax(axis=1)
        plotted = np.take_along_axis(plotted, likely[:, None, None], axis=2)
    return GlobalExplanation(
        importance=importance,
        space=first.space,
        methods=first.methods,
        rows=explained,
        rows_given=given,
        base_value=[float(b) for b in first.base],
        outputs=first.outputs,
        seconds=round(time.perf_counter() - started, 3),
        notes=notes,
        values=plotted[:, :, 0],
        colors=_colors(shown, first.columns),
        columns=first.columns,
    )


def _importance(values: np.ndarray, columns: list[str]) -> list[dict[str, Any]]:
    mean_abs = np.abs(values).mean(axis=0).sum(axis=1)  # (d,)
    mean = values.mean(axis=0).sum(axis=1) if values.shape[2] == 1 else None
    out = [
        {
            "feature": name,
            "mean_abs": float(mean_abs[j]),
            "mean": None if mean is None else float(mean[j]),
        }
        for j, name in enumerate(columns)
    ]
    return sorted(out, key=lambda item: -item["mean_abs"])


def _colors(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Each numeric column's values as their rank in 0..1 (NaN: missing or not a number)."""
    out = np.full((len(frame), len(columns)), np.nan)
    for j, name in enumerate(columns):
        column = frame[name]
        if pd.api.types.is_bool_dtype(column.dtype):
            continue
        if pd.api.types.is_numeric_dtype(column.dtype):
            numbers = column.to_numpy(dtype=float, na_value=np.nan)
        elif pd.api.types.is_datetime64_any_dtype(column.dtype):
            numbers = column.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
            numbers[column.isna().to_numpy()] = np.nan
        else:
            continue
        ranks = pd.Series(numbers).rank(pct=True).to_numpy()
        out[:, j] = ranks
    return out


def _value(rows: pd.DataFrame | Columns, name: str, i: int) -> Any:
    if isinstance(rows, Columns):
        return rows[name][i]
    return rows[name].iloc[i]


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: numbers and text as they are, missing as None, dates as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
