"""A table as the inputs of an exported ONNX model: one array per column, and row checks.

This module needs only NumPy and pandas: `loopml export --format onnx` copies it into the
bundle, where `bundle.py` uses it, and the parity check at export uses the same code.

    feeds(frame, signature, formats)  # {column: (n, 1) float64 or str}; missing text is ""
    check(frame, signature, formats)  # (valid rows, reason per row), like loopml's check

A date column is given as seconds since 1970-01-01 UTC: dates and datetimes as they are,
text in the format training read it in (`formats`, per column; ISO 8601 if none).
"""

from __future__ import annotations

import datetime as dt
import numbers
from typing import Any

import numpy as np
import pandas as pd

MISSING_TEXT = ""  # how a missing category reaches the graph
TEXT_ROLES = ("categorical", "boolean")
_TRUTH = frozenset(["true", "false", "1", "0", "1.0", "0.0", "yes", "no"])


def feeds(
    frame: pd.DataFrame, signature: dict[str, Any], formats: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """The graph's inputs for the rows of `frame`: numbers as float64, categories as text,
    dates as seconds since 1970."""
    _require(frame, signature)
    out = {}
    for column in signature["columns"]:
        values = frame[column["name"]]
        if column["role"] in TEXT_ROLES:
            out[column["name"]] = texts(values).reshape(-1, 1)
        elif column["role"] == "datetime":
            fmt = (formats or {}).get(column["name"])
            out[column["name"]] = seconds_of(values, fmt).reshape(-1, 1)
        else:
            out[column["name"]] = numbers_of(values).reshape(-1, 1)
    return out


def numbers_of(values: pd.Series) -> np.ndarray:
    """A column as float64: numbers and booleans as they are, text parsed, the rest NaN."""
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=np.float64)


def seconds_of(values: pd.Series, fmt: str | None = None) -> np.ndarray:
    """A date column as seconds since 1970-01-01 UTC (NaN: missing or not a date in `fmt`)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _seconds(pd.to_datetime(values, utc=True))
    raw = values.to_numpy(dtype=object, na_value=None)
    out = np.full(len(raw), np.nan)
    is_text = np.array([isinstance(v, str) for v in raw.tolist()], dtype=bool)
    if is_text.any():
        text = pd.Series(raw[is_text], dtype=object)
        out[is_text] = _seconds(
            pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
        )
    is_time = np.array([isinstance(v, dt.date | np.datetime64) for v in raw.tolist()], bool)
    if is_time.any():
        stamps = pd.Series(raw[is_time], dtype=object)
        out[is_time] = _seconds(pd.to_datetime(stamps, errors="coerce", utc=True))
    return out


def _seconds(stamps: pd.Series) -> np.ndarray:
    micros = stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    out = (micros - np.datetime64(0, "us")).astype(np.int64) / 1e6
    out[np.isnat(micros)] = np.nan
    return out


def texts(values: pd.Series) -> np.ndarray:
    """A column as the text loopml's encoders see (4529.0 is "4529"), "" where missing."""
    raw = values.to_numpy(dtype=object, na_value=None)
    return np.array([_text(v) for v in raw.tolist()], dtype=object).astype(str)


def _text(value: object) -> str:
    # loopml.features.frames._text's rules, repeated: this file runs without loopml. The
    # parity check at export scores every category through both.
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING_TEXT
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return str(int(value))
    return str(value)


def check(
    frame: pd.DataFrame, signature: dict[str, Any], formats: dict[str, Any] | None = None
) -> tuple[np.ndarray, pd.Series]:
    """Which rows the model may score and, per row, why not ("" for a valid row)."""
    _require(frame, signature)
    reasons = np.full(len(frame), "", dtype=object)
    for column in signature["columns"]:
        name, values = column["name"], frame[column["name"]]
        absent = np.asarray(values.isna(), dtype=bool)
        found = []
        if not column["nullable"]:
            found.append((absent, f"`{name}` is missing (training never had it missing)"))
        if column["role"] == "numeric":
            number = numbers_of(values)
            found.append((np.isnan(number) & ~absent, f"`{name}` is not a number"))
            found.append((np.isinf(number), f"`{name}` is infinite"))
        elif column["role"] == "datetime":
            fmt = (formats or {}).get(name) or "ISO8601"
            unread = np.isnan(seconds_of(values, fmt)) & ~absent
            found.append((unread, f"`{name}` is not a date in the format training read ({fmt})"))
        elif column["role"] == "boolean":
            truth = np.array([str(v).strip().lower() in _TRUTH for v in values.tolist()], bool)
            found.append((~truth & ~absent, f"`{name}` is not true or false"))
        for failed, why in found:
            for row in np.flatnonzero(failed):
                reasons[row] = why if not reasons[row] else f"{reasons[row]}; {why}"
    return reasons == "", pd.Series(reasons, index=frame.index, name="reason")


def _require(frame: pd.DataFrame, signature: dict[str, Any]) -> None:
    names = [column["name"] for column in signature["columns"]]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        shown = ", ".join(f"`{name}`" for name in missing[:5])
        raise ValueError(f"the input lacks column(s) {shown} that the model needs; add them")
