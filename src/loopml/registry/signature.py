"""A model's input signature: the columns it reads, their types, categories, ranges, nulls.

Recorded from the training rows when a model is trained (design invariant 2) and checked,
vectorised, on every frame a model is asked to score: each row gets the reasons it fails
(missing value where training never had one, not a number, not a date, an unseen category
when the policy rejects them), so rejected rows can be kept with their reasons.

    signature = infer_signature(train[features], roles)
    checked = signature.check(frame)             # checked.valid: bool per row (also on Columns)
    frame[~checked.valid], checked.reasons        # reasons: "" for a valid row
    checked.problems                              # per column: the failing rows and why
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError
from loopml.features.columns import Columns, as_columns
from loopml.features.datetimes import column_timestamps
from loopml.features.frames import as_floats, category_texts

MAX_CATEGORIES = 1000  # categories recorded per column; beyond, unseen values are not judged
UNKNOWN_POLICIES = ("allow", "reject")


@dataclass(frozen=True)
class ColumnSignature:
    """One input column: its role, whether it may be missing, its categories or range."""

    name: str
    role: str  # numeric | boolean | datetime | categorical
    nullable: bool
    categories: list[str] | None = None  # categorical: the values seen in training
    complete: bool = True  # False when more categories existed than were recorded
    min: float | None = None  # numeric: the observed range
    max: float | None = None
    # datetime: the observed span (ISO 8601), for the record; new dates are later by nature,
    # so rows outside it are not counted as out of range
    earliest: str | None = None
    latest: str | None = None


@dataclass(frozen=True)
class Problem:
    """Rows of one column that fail the signature, and why."""

    column: str
    rows: np.ndarray  # positions
    why: str


@dataclass(frozen=True)
class Checked:
    """The result of checking rows: which pass and, per failing row, why."""

    valid: np.ndarray
    problems: list[Problem]
    index: pd.Index
    out_of_range: dict[str, int] = field(default_factory=dict)

    @property
    def n_rejected(self) -> int:
        """How many rows fail the signature."""
        return int((~self.valid).sum())

    @property
    def reasons(self) -> pd.Series:
        """Per row, its problems joined by "; " ("" for a valid row)."""
        reasons = np.full(len(self.valid), "", dtype=object)
        for problem in self.problems:
            reasons[problem.rows] = [_join(reasons[r], problem.why) for r in problem.rows]
        return pd.Series(reasons, index=self.index, name="reason")


@dataclass(frozen=True)
class Signature:
    """The columns a model reads, in order, with what training saw of each."""

    columns: list[ColumnSignature]

    @property
    def names(self) -> list[str]:
        """The column names, in the model's order."""
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for the store and the model card)."""
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        """The signature `to_dict` wrote."""
        return cls([ColumnSignature(**c) for c in data["columns"]])

    def check(self, data: pd.DataFrame | Columns, *, unknown: str = "allow") -> Checked:
        """Check every row of `data`; a missing column is a DataError naming it.

        unknown: "allow" lets unseen categories through (the model treats them as rare);
        "reject" fails the rows that hold one.
        """
        if unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown-category policy must be one of {UNKNOWN_POLICIES}")
        missing = [name for name in self.names if name not in data.columns]
        if missing:
            shown = ", ".join(f"`{name}`" for name in missing[:5])
            raise DataError(
                f"the input lacks column(s) {shown} that the model needs; add them "
                f"(expected: {', '.join(self.names[:10])}{' …' if len(self.names) > 10 else ''})"
            )
        columns = as_columns(data[self.names] if isinstance(data, pd.DataFrame) else data)
        valid = np.ones(len(columns), dtype=bool)
        problems: list[Problem] = []
        out_of_range: dict[str, int] = {}
        for column in self.columns:
            for failed, why in _problems(column, columns, unknown):
                if failed.any():
                    rows = np.flatnonzero(failed)
                    problems.append(Problem(column.name, rows, why))
                    valid[rows] = False
        for column in self.columns:  # among the rows that pass: a rejected one is not counted
            if column.min is not None and column.max is not None:
                numbers = as_floats(columns[column.name])
                outside = valid & ((numbers < column.min) | (numbers > column.max))
                if outside.any():
                    out_of_range[column.name] = int(np.count_nonzero(outside))
        index = data.index if isinstance(data, pd.DataFrame) else pd.RangeIndex(len(columns))
        return Checked(valid, problems, index, out_of_range)


def _join(current: str, why: str) -> str:
    return why if not current else f"{current}; {why}"


_TRUTH = frozenset(["true", "false", "1", "0", "1.0", "0.0", "yes", "no"])


def _problems(
    column: ColumnSignature, columns: Columns, unknown: str
) -> list[tuple[np.ndarray, str]]:
    name = column.name
    if columns.distinct(name) is None:
        values = columns[name]
        if column.role == "numeric" and values.dtype.kind == "f" and np.isfinite(values).all():
            return []  # the common case, decided in one pass
    judged = unknown == "reject" and column.complete
    if column.role == "categorical" and column.nullable and not judged:
        return []  # any value may come: an unseen one is the model's to treat as rare
    found: list[tuple[np.ndarray, str]] = []
    absent = columns.per_value(name, _absent)
    if not column.nullable:
        found.append((absent, f"`{name}` is missing (training never had it missing)"))
    if column.role == "numeric":
        values = columns[name]
        if values.dtype.kind == "b" or (
            values.dtype == object and any(isinstance(v, bool) for v in values.tolist())
        ):
            is_flag = np.fromiter((isinstance(v, bool | np.bool_) for v in values), bool)
            found.append((is_flag, f"`{name}` is true/false, not a number"))
        numbers = as_floats(values)
        found.append((np.isnan(numbers) & ~absent, f"`{name}` is not a number"))
        found.append((np.isinf(numbers), f"`{name}` is infinite"))
    elif column.role == "boolean":
        ok = columns.per_value(name, _is_truth)
        found.append((~ok & ~absent, f"`{name}` is not true or false"))
    elif column.role == "datetime" and not _holds_dates(columns, name):
        parsed = column_timestamps(columns, name)
        found.append((np.isnat(parsed) & ~absent, f"`{name}` is not a date"))
    elif column.role == "categorical" and judged:
        seen = set(column.categories or [])

        def unseen(values: np.ndarray) -> np.ndarray:
            texts = category_texts(values).tolist()
            return np.fromiter((t not in seen for t in texts), bool, count=len(texts))

        found.append(
            (
                columns.per_value(name, unseen) & ~absent,
                f"`{name}` holds a category training never saw",
            )
        )
    return found


def _holds_dates(columns: Columns, name: str) -> bool:
    return columns.distinct(name) is None and columns[name].dtype.kind == "M"


def _absent(values: np.ndarray) -> np.ndarray:
    return np.isnan(values) if values.dtype.kind == "f" else np.asarray(pd.isna(values), bool)


def _is_truth(values: np.ndarray) -> np.ndarray:
    return np.fromiter(
        (str(v).strip().lower() in _TRUTH for v in values.tolist()), bool, count=len(values)
    )


def infer_signature(frame: pd.DataFrame, roles: dict[str, str]) -> Signature:
    """The signature of the feature columns of `frame` (in its column order)."""
    columns = []
    for name in frame.columns:
        role = roles.get(name, "categorical")
        values = frame[name]
        nullable = bool(values.isna().any())
        if role == "categorical":
            counts = values.dropna().astype("string").value_counts()
            kept = sorted(counts.index[:MAX_CATEGORIES].tolist())
            columns.append(
                ColumnSignature(name, role, nullable, kept, complete=len(counts) <= MAX_CATEGORIES)
            )
        elif role == "numeric":
            numbers = pd.to_numeric(values, errors="coerce")
            low, high = numbers.min(), numbers.max()
            columns.append(
                ColumnSignature(
                    name,
                    role,
                    nullable,
                    min=None if pd.isna(low) else float(low),
                    max=None if pd.isna(high) else float(high),
                )
            )
        elif role == "datetime":
            stamps = column_timestamps(as_columns(frame[[name]]), name)
            stamps = stamps[~np.isnat(stamps)]
            span = (str(stamps.min()), str(stamps.max())) if len(stamps) else (None, None)
            columns.append(ColumnSignature(name, role, nullable, earliest=span[0], latest=span[1]))
        else:
            columns.append(ColumnSignature(name, role, nullable))
    return Signature(columns)
