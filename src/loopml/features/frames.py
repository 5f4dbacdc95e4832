"""Normalising pandas columns before encoding: numbers to float64, categories to object text."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd


def as_frame(X: Any) -> pd.DataFrame:
    """X as a DataFrame (arrays get columns 0..n-1)."""
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)


def as_numbers(X: Any) -> np.ndarray:
    """Numeric columns as a float64 array; pd.NA, None and NaN all become NaN."""
    return as_frame(X).to_numpy(dtype=np.float64, na_value=np.nan)


def as_floats(values: np.ndarray) -> np.ndarray:
    """One column as float64: numbers and booleans as they are, text parsed, the rest NaN."""
    if values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=np.float64)


def as_categories(X: Any, lowercase: bool = False) -> pd.DataFrame:
    """Categorical columns as object text with np.nan for every kind of missing value."""
    # Any dtype is accepted (pandas str/string with NaN or pd.NA, object with None, category,
    # numbers) so that fit and transform see the same values: integral numbers are written
    # without a decimal part (4529 and 4529.0 are both "4529"), and encoders never meet pd.NA.
    frame = as_frame(X)
    columns = {name: _texts(frame[name], lowercase) for name in frame.columns}
    return pd.DataFrame(columns, index=frame.index, columns=frame.columns, dtype=object)


def _texts(column: pd.Series, lowercase: bool) -> np.ndarray:
    values = column.to_numpy(dtype=object, na_value=np.nan)
    is_text = pd.api.types.is_string_dtype(column.dtype) and column.dtype != object
    return category_texts(values, lowercase, is_text=is_text)


def category_texts(
    values: np.ndarray, lowercase: bool = False, *, is_text: bool = False
) -> np.ndarray:
    """Values as the text categorical encoders see (`as_categories`), np.nan where missing.

    `is_text` says every present value is already a str (skips converting them one by one).
    """
    present = ~pd.isna(values)
    texts = values.astype(object, copy=True)
    texts[~present] = np.nan
    if not is_text and len(values) > 1:  # one C pass instead of a Python call per value
        is_text = pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    if not is_text:
        texts[present] = [_text(value) for value in values[present]]
    if lowercase:
        texts[present] = [text.lower() for text in texts[present]]
    return texts


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return str(int(value))
    return str(value)
