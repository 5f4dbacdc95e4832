"""Schema inference: give each column a role from its type and values; the spec may override."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.errors import DataError
from loopml.spec import Checks

_ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key|code|number|no)$|^(id|uuid|guid)_|Id$|ID$")
_BOOL_WORDS = {
    frozenset({"true", "false"}),
    frozenset({"yes", "no"}),
    frozenset({"y", "n"}),
    frozenset({"t", "f"}),
    frozenset({"0", "1"}),
}
_DATE_SAMPLE = 500
_DATE_FORMATS = (
    "ISO8601",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M",
    "%Y%m%d",
)


@dataclass(frozen=True)
class ColumnFacts:
    """What role inference looks at: computed once per column by the profile."""

    name: str
    dtype: pa.DataType
    count: int  # non-missing values
    unique: int  # distinct non-missing values
    values_sample: pa.Array  # up to a few hundred distinct non-missing values
    mean_length: float | None = None  # strings only
    mean_words: float | None = None  # strings only
    is_sequential: bool = False  # integers that step by one in row order


def infer_role(facts: ColumnFacts, checks: Checks) -> str:
    """The role of one column: numeric, categorical, boolean, datetime, text, identifier, constant."""
    dtype = facts.dtype
    if facts.unique <= 1:
        return "constant"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return "datetime"
    unique_share = facts.unique / facts.count if facts.count else 0.0
    id_like_name = bool(_ID_NAME.search(facts.name))
    if facts.unique == 2 and _boolean_values(facts.values_sample):
        return "boolean"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        integral = pa.types.is_integer(dtype)
        if (
            integral
            and facts.count >= 50
            and (
                facts.is_sequential
                or (unique_share >= checks.identifier_unique_share and id_like_name)
            )
        ):
            return "identifier"
        return "numeric"
    # strings
    if looks_like_dates(facts.values_sample):
        return "datetime"
    if (facts.mean_words or 0) >= 4 or (facts.mean_length or 0) >= 60:
        return "text"
    if facts.count >= 50 and (
        unique_share >= checks.identifier_unique_share or (id_like_name and unique_share >= 0.5)
    ):
        return "identifier"
    return "categorical"


def _boolean_values(values: pa.Array) -> bool:
    words = frozenset(str(v).strip().lower() for v in values.to_pylist())
    return words in _BOOL_WORDS


def looks_like_dates(values: pa.Array) -> bool:
    """True when (nearly) all sampled strings parse as dates or date-times."""
    if not pa.types.is_string(values.type) or len(values) == 0:
        return False
    sample = values.slice(0, _DATE_SAMPLE)
    lengths = pc.utf8_length(sample).to_numpy(zero_copy_only=False)
    if lengths.max() > 40 or lengths.min() < 6:
        return False
    texts = sample.to_pylist()
    if not any(ch.isdigit() for ch in texts[0]):
        return False
    parsed = parse_dates(sample)
    return parsed.null_count <= 0.05 * len(sample)


def date_format(values: pa.Array) -> str:
    """The date format (one of the known ones) that reads most of the strings."""
    import pandas as pd

    series = pd.Series(values.to_pylist(), dtype="object")
    present = series.notna().sum()
    best, best_count = _DATE_FORMATS[0], -1
    for fmt in _DATE_FORMATS:
        count = pd.to_datetime(series, format=fmt, errors="coerce", utc=True).notna().sum()
        if count > best_count:
            best, best_count = fmt, count
        if best_count >= 0.95 * present:
            break
    return best


def parse_dates(values: pa.Array, fmt: str | None = None) -> pa.Array:
    """Parse strings as timestamps in `fmt` (default: the format that reads most of them).

    Pass the format learnt at training time when parsing serving data, so a lone
    ambiguous date (03/04/2013) reads the same way it did in training; strings that do
    not fit `fmt` are read in the format that fits most of them.
    """
    import pandas as pd

    series = pd.Series(values.to_pylist(), dtype="object")
    parsed = pd.to_datetime(series, format=fmt or date_format(values), errors="coerce", utc=True)
    unread = parsed.isna() & series.notna()
    if fmt is not None and unread.any():
        rest = pa.array(series[unread].tolist(), type=pa.string())
        parsed[unread] = pd.to_datetime(
            series[unread], format=date_format(rest), errors="coerce", utc=True
        )
    return pa.array(parsed.dt.tz_localize(None), type=pa.timestamp("us"))


def is_sequential(values: np.ndarray) -> bool:
    """True for integers that step by exactly one in row order (a row counter)."""
    if len(values) < 3:
        return False
    steps = np.diff(values)
    return bool(np.all(steps == 1) or np.all(steps == -1))


def infer_task(values: pa.Array) -> str:
    """binary, multiclass or regression, from the target column's values."""
    present = values.drop_null()
    unique = pc.count_distinct(present).as_py()
    dtype = values.type
    if unique <= 2:
        return "binary"
    if pa.types.is_floating(dtype):
        integral = pc.all(pc.equal(present, pc.floor(present))).as_py()
        return "multiclass" if integral and unique <= 10 else "regression"
    if pa.types.is_integer(dtype):
        return "multiclass" if unique <= 10 else "regression"
    return "multiclass"


def check_task(task: str, values: pa.Array | pa.ChunkedArray, target: str, where: str) -> None:
    """Raise a DataError when the target column's values do not fit the task."""
    present = values.drop_null()
    dtype = values.type
    numeric = pa.types.is_integer(dtype) or pa.types.is_floating(dtype)
    if len(present) == 0:
        raise DataError(
            f"target column `{target}` in {where} has no values; fill it or choose another target"
        )
    if task == "regression" and not numeric:
        raise DataError(
            f"target `{target}` holds {dtype} values but the task is regression; "
            "set `task: binary` or `task: multiclass`, or give a numeric target"
        )
    unique = pc.count_distinct(present).as_py()
    if task == "binary" and unique > 2:
        also = " or `task: regression`" if numeric else ""
        raise DataError(
            f"target `{target}` has {unique} classes but the task is binary; "
            f"set `task: multiclass`{also}"
        )
