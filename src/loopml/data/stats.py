"""Per-column statistics of a dataset version, computed one column at a time."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Histogram:
    """Bin edges (len = len(counts) + 1) and counts; datetime edges are ISO-8601 strings."""

    edges: list[Any]
    counts: list[int]


@dataclass
class ColumnStats:
    """What the profile knows about one column."""

    name: str
    dtype: str
    role: str
    role_source: str  # "inferred" or "spec"
    count: int  # non-missing values
    missing: int
    unique: int
    mean: float | None = None
    std: float | None = None
    min: Any = None
    q25: float | None = None
    median: Any = None
    q75: float | None = None
    max: Any = None
    zeros: int | None = None
    outliers: int | None = None
    histogram: Histogram | None = None
    top_values: list[tuple[str, int]] = field(default_factory=list)
    text_length_mean: float | None = None
    target_association: float | None = None
    association_metric: str | None = None

    @property
    def missing_rate(self) -> float:
        """Share of rows where the column is missing."""
        total = self.count + self.missing
        return self.missing / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data."""
        data = asdict(self)
        data["missing_rate"] = self.missing_rate
        return data
