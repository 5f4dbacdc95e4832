"""Per-column statistics of a dataset version, computed one column at a time."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.data.schema import ColumnFacts, infer_role, is_sequential, parse_dates
from loopml.spec import Checks

# Roles whose values are read as numbers (datetimes as seconds, booleans as 0/1).
NUMERIC_ROLES: tuple[str, ...] = ("numeric", "boolean", "datetime")


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


@dataclass
class ColumnScan:
    """One pass over a column: its stats plus the arrays later checks reuse."""

    stats: ColumnStats
    codes: np.ndarray  # int32 code per row; equal values share a code, missing has its own
    codes_digest: str  # equal for columns that carry the same information
    numeric: np.ndarray | None  # float64 per row (NaN = missing) for numeric-like roles
    top_count: int = 0  # rows holding the most frequent value
    numeric_share: float | None = None  # strings: share of values that parse as numbers
    non_numeric_examples: list[str] = field(default_factory=list)


def scan_column(
    name: str, column: pa.ChunkedArray, checks: Checks, role_override: str | None = None
) -> ColumnScan:
    """Compute a column's statistics and role in one pass over its values."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    dtype = array.type
    n = len(array)
    missing = array.null_count
    encoded = pc.dictionary_encode(array, null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    dictionary = encoded.dictionary
    counts = np.bincount(codes, minlength=len(dictionary))
    valid_codes = np.flatnonzero(counts) if missing == 0 else _valid_codes(dictionary, counts)
    unique = len(valid_codes)
    order = valid_codes[np.argsort(-counts[valid_codes], kind="stable")]
    distinct = dictionary.take(pa.array(order[:200])) if unique else dictionary.slice(0, 0)

    mean_length = mean_words = None
    if pa.types.is_string(dtype) and n - missing:
        lengths = pc.utf8_length(dictionary).to_numpy(zero_copy_only=False)
        weights = counts[: len(dictionary)]
        present = ~np.asarray(pc.is_null(dictionary).to_numpy(zero_copy_only=False))
        mean_length = float((lengths[present] * weights[present]).sum() / max(1, n - missing))
        words = pc.count_substring(distinct, " ").to_numpy(zero_copy_only=False)
        mean_words = float(np.mean(words)) + 1 if len(words) else None
    sequential = False
    if pa.types.is_integer(dtype) and missing == 0 and unique == n:
        sequential = is_sequential(array.to_numpy())
    facts = ColumnFacts(
        name, dtype, n - missing, unique, distinct, mean_length, mean_words, sequential
    )
    role = role_override or infer_role(facts, checks)
    stats = ColumnStats(
        name=name,
        dtype=str(dtype),
        role=role,
        role_source="spec" if role_override else "inferred",
        count=n - missing,
        missing=missing,
        unique=unique,
        text_length_mean=mean_length,
    )
    numeric = _numeric_values(array, role)
    if numeric is not None and role in NUMERIC_ROLES and unique:
        _describe_numeric(stats, numeric, is_datetime=role == "datetime")
    if role not in ("numeric", "datetime"):
        top = order[:20]
        stats.top_values = [
            (_label(v), int(c))
            for v, c in zip(dictionary.take(pa.array(top)).to_pylist(), counts[top], strict=True)
        ]
    scan = ColumnScan(
        stats,
        codes,
        hashlib.sha1(codes.tobytes()).hexdigest(),
        numeric,
        top_count=int(counts[order[0]]) if unique else 0,
    )
    if pa.types.is_string(dtype) and unique:
        _numeric_parse_share(scan, distinct, counts[order[:200]])
    return scan


def _valid_codes(dictionary: pa.Array, counts: np.ndarray) -> np.ndarray:
    present = np.flatnonzero(counts)
    nulls = np.asarray(pc.is_null(dictionary).to_numpy(zero_copy_only=False))
    return present[~nulls[present]]


def _numeric_values(array: pa.Array, role: str) -> np.ndarray | None:
    dtype = array.type
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype):
        return np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        seconds = array.cast(pa.timestamp("s")) if pa.types.is_date(dtype) else array
        values = pc.cast(seconds, pa.int64()).to_numpy(zero_copy_only=False)
        scale = 1.0 if pa.types.is_date(dtype) else 1e-6
        return np.asarray(values, dtype=float) * scale
    if role == "datetime" and pa.types.is_string(dtype):
        parsed = parse_dates(array)
        values = pc.cast(parsed, pa.int64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=float) * 1e-6
    if role == "boolean" and pa.types.is_string(dtype):
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(array))
        truthy = pc.is_in(lowered, pa.array(["true", "yes", "y", "t", "1"]))
        values = np.asarray(truthy.to_numpy(zero_copy_only=False), dtype=float)
        values[np.asarray(array.is_null().to_numpy(zero_copy_only=False))] = np.nan
        return values
    return None


def _describe_numeric(stats: ColumnStats, values: np.ndarray, *, is_datetime: bool) -> None:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return
    q25, median, q75 = np.percentile(finite, [25, 50, 75])
    lo, hi = float(finite.min()), float(finite.max())
    edges = np.histogram_bin_edges(finite, bins=30) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    counts, edges = np.histogram(finite, bins=edges)
    if is_datetime:
        stats.min, stats.max, stats.median = _iso(lo), _iso(hi), _iso(median)
        stats.histogram = Histogram([_iso(e) for e in edges], counts.tolist())
        return
    iqr = q75 - q25
    stats.mean, stats.std = (
        float(finite.mean()),
        float(finite.std(ddof=1) if len(finite) > 1 else 0),
    )
    stats.min, stats.q25, stats.median, stats.q75, stats.max = (
        lo,
        float(q25),
        float(median),
        float(q75),
        hi,
    )
    stats.zeros = int((finite == 0).sum())
    stats.outliers = (
        int(((finite < q25 - 3 * iqr) | (finite > q75 + 3 * iqr)).sum()) if iqr > 0 else 0
    )
    stats.histogram = Histogram(edges.tolist(), counts.tolist())


def _numeric_parse_share(scan: ColumnScan, distinct: pa.Array, counts: np.ndarray) -> None:
    texts = distinct.to_pylist()
    ok = np.array([_is_number(t) for t in texts])
    total = counts.sum()
    if total:
        scan.numeric_share = float(counts[ok].sum() / total)
        scan.non_numeric_examples = [t for t, good in zip(texts, ok, strict=True) if not good][:5]


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(float(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _label(value: Any) -> str:
    return "(missing)" if value is None else str(value)
