"""A model's input signature: the columns it reads, their types, categories, ranges, nulls.

Recorded from the training rows when a model is trained (design invariant 2) and checked,
vectorised, on every frame a model is asked to score: each row gets the reasons it fails
(missing value where training never had one, not a number, not a date, an unseen category
when the policy rejects them), so rejected rows can be kept with their reasons.

    signature = infer_signature(train[features], roles)
    checked = signature.check(frame)             # checked.valid: bool per row
    frame[~checked.valid], checked.reasons        # reasons: "" for a valid row
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError

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


@dataclass(frozen=True)
class Checked:
    """The result of checking a frame: which rows pass and, per failing row, why."""

    valid: np.ndarray
    reasons: pd.Series
    out_of_range: dict[str, int] = field(default_factory=dict)

    @property
    def n_rejected(self) -> int:
        """How many rows fail the signature."""
        return int((~self.valid).sum())


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

    def check(self, frame: pd.DataFrame, *, unknown: str = "allow") -> Checked:
        """Check every row of `frame`; a missing column is a DataError naming it.

        unknown: "allow" lets unseen categories through (the model treats them as rare);
        "reject" fails the rows that hold one.
        """
        if unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown-category policy must be one of {UNKNOWN_POLICIES}")
        missing = [name for name in self.names if name not in frame.columns]
        if missing:
            shown = ", ".join(f"`{name}`" for name in missing[:5])
            raise DataError(
                f"the input lacks column(s) {shown} that the model needs; add them "
                f"(expected: {', '.join(self.names[:10])}{' …' if len(self.names) > 10 else ''})"
            )
        reasons = np.full(len(frame), "", dtype=object)
        out_of_range: dict[str, int] = {}
        for column in self.columns:
            values = frame[column.name]
            for failed, why in _problems(column, values, unknown):
                rows = np.flatnonzero(np.asarray(failed, dtype=bool))
                reasons[rows] = [_join(reasons[r], why) for r in rows]
            if column.min is not None and column.max is not None:
                numbers = pd.to_numeric(values, errors="coerce")
                outside = int(((numbers < column.min) | (numbers > column.max)).sum())
                if outside:
                    out_of_range[column.name] = outside
        valid = reasons == ""
        return Checked(valid, pd.Series(reasons, index=frame.index, name="reason"), out_of_range)


def _join(current: str, why: str) -> str:
    return why if not current else f"{current}; {why}"


def _problems(column: ColumnSignature, values: pd.Series, unknown: str) -> list[tuple[Any, str]]:
    absent = values.isna().to_numpy()
    found: list[tuple[Any, str]] = []
    if not column.nullable:
        found.append((absent, f"`{column.name}` is missing (training never had it missing)"))
    if column.role == "numeric":
        numbers = pd.to_numeric(values, errors="coerce")
        found.append((numbers.isna().to_numpy() & ~absent, f"`{column.name}` is not a number"))
        finite = np.isfinite(numbers.to_numpy(dtype=float, na_value=np.nan))
        found.append((~finite & numbers.notna().to_numpy(), f"`{column.name}` is infinite"))
    elif column.role == "boolean":
        text = values.astype("string").str.strip().str.lower()
        ok = text.isin(["true", "false", "1", "0", "1.0", "0.0", "yes", "no"]).to_numpy()
        found.append((~ok & ~absent, f"`{column.name}` is not true or false"))
    elif column.role == "datetime":
        if not pd.api.types.is_datetime64_any_dtype(values):
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
            found.append((parsed.isna().to_numpy() & ~absent, f"`{column.name}` is not a date"))
    elif column.role == "categorical" and unknown == "reject" and column.complete:
        seen = set(column.categories or [])
        text = values.astype("string")
        found.append(
            (
                ~text.isin(seen).to_numpy() & ~absent,
                f"`{column.name}` holds a category training never saw",
            )
        )
    return found


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
        else:
            columns.append(ColumnSignature(name, role, nullable))
    return Signature(columns)
