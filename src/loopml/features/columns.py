"""Named input columns as NumPy arrays: what checks and the compiled model read.

A `Columns` is built from a DataFrame (batch scoring) or from JSON records (the server) and
costs nothing to slice, so a one-row request never pays for a pandas DataFrame.

    batch = Columns.from_frame(frame)
    batch["carrier"]           # one column: a 1-D array
    batch[["carrier", "dest"]] # a Columns of those columns
    batch.take(rows)           # the given rows (a boolean mask or positions)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, overload

import numpy as np
import pandas as pd


class Columns:
    """Equal-length 1-D arrays by column name, in order."""

    def __init__(self, data: dict[str, np.ndarray], n_rows: int | None = None) -> None:
        lengths = {len(values) for values in data.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self.data = data
        self.n_rows = lengths.pop() if lengths else int(n_rows or 0)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, names: Iterable[str] | None = None) -> Columns:
        """The columns `names` (default: all) of `frame`: numbers as float64, others as objects."""
        chosen = list(frame.columns) if names is None else list(names)
        return cls({name: _array(frame[name]) for name in chosen}, len(frame))

    @classmethod
    def from_arrow(cls, batch: Any, names: Iterable[str] | None = None) -> Columns:
        """The columns `names` (default: all) of an Arrow RecordBatch or Table, as `from_frame`
        gives them, without a DataFrame in between."""
        chosen = batch.schema.names if names is None else list(names)
        return cls({name: _arrow_array(batch.column(name)) for name in chosen}, batch.num_rows)

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return list(self.data)

    def __len__(self) -> int:
        return self.n_rows

    def __contains__(self, name: object) -> bool:
        return name in self.data

    @overload
    def __getitem__(self, key: str) -> np.ndarray: ...
    @overload
    def __getitem__(self, key: list[str]) -> Columns: ...
    def __getitem__(self, key: str | list[str]) -> np.ndarray | Columns:
        if isinstance(key, str):
            return self.data[key]
        return Columns({name: self.data[name] for name in key}, self.n_rows)

    def slice(self, start: int, stop: int) -> Columns:
        """Rows start to stop (views, no copy)."""
        stop = min(stop, self.n_rows)
        return Columns({n: v[start:stop] for n, v in self.data.items()}, max(stop - start, 0))

    def take(self, rows: np.ndarray) -> Columns:
        """The rows `rows` selects (a boolean mask or integer positions)."""
        rows = np.asarray(rows)
        count = int(rows.sum()) if rows.dtype == bool else len(rows)
        return Columns({name: values[rows] for name, values in self.data.items()}, count)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame of these columns (for code that needs one)."""
        return pd.DataFrame(self.data, index=pd.RangeIndex(self.n_rows), columns=self.columns)


def _array(column: pd.Series) -> np.ndarray:
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return column.to_numpy()
        return column.to_numpy(dtype=object, na_value=np.nan)
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _arrow_array(column: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = pc.cast(column, kind.value_type), kind.value_type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return column.to_numpy(zero_copy_only=False)
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    if column.null_count:
        values[np.asarray(column.is_null(), dtype=bool)] = np.nan
    return values


def as_columns(data: Any) -> Columns:
    """`data` (a Columns or a DataFrame) as a Columns."""
    return data if isinstance(data, Columns) else Columns.from_frame(data)
