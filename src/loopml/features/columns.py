"""Named input columns: what checks and the compiled model read.

A `Columns` is built from a DataFrame (batch scoring), from Arrow (files, many JSON records)
or from JSON records (the server) and costs nothing to slice, so a one-row request never pays
for a pandas DataFrame. Columns read from Arrow keep text and true/false values as Arrow
dictionary arrays: a check or an encoder then runs once per distinct value, not per row.

    batch = Columns.from_frame(frame)
    batch["carrier"]           # one column as a NumPy array (text as objects, missing: NaN)
    batch.per_value("carrier", function)  # function(batch["carrier"]), once per distinct value
    batch[["carrier", "dest"]] # a Columns of those columns
    batch.take(rows)           # the given rows (a boolean mask or positions)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, overload

import numpy as np
import pandas as pd


class Columns:
    """Equal-length 1-D columns by name, in order.

    `data` holds NumPy arrays, or Arrow dictionary arrays for text and true/false columns
    read from Arrow; `columns[name]` always gives the column as NumPy.
    """

    def __init__(self, data: dict[str, Any], n_rows: int | None = None) -> None:
        lengths = {len(values) for values in data.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self.data = data
        self.n_rows = lengths.pop() if lengths else int(n_rows or 0)
        self._numpy: dict[str, np.ndarray] = {}  # Arrow columns as NumPy, made on first use
        self._distinct: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, names: Iterable[str] | None = None) -> Columns:
        """The columns `names` (default: all) of `frame`: numbers as float64, others as objects."""
        chosen = list(frame.columns) if names is None else list(names)
        return cls({name: _array(frame[name]) for name in chosen}, len(frame))

    @classmethod
    def from_arrow(cls, batch: Any, names: Iterable[str] | None = None) -> Columns:
        """The columns `names` (default: all) of an Arrow RecordBatch or Table, without a
        DataFrame in between: numbers as float64, dates as datetime64, text and true/false
        as Arrow dictionary arrays (`columns[name]` gives them as `from_frame` does)."""
        chosen = batch.schema.names if names is None else list(names)
        return cls({name: _from_arrow(batch.column(name)) for name in chosen}, batch.num_rows)

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
            values = self.data[key]
            if isinstance(values, np.ndarray):
                return values
            if key not in self._numpy:
                self._numpy[key] = as_numpy(values)
            return self._numpy[key]
        return Columns({name: self.data[name] for name in key}, self.n_rows)

    def distinct(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """For a column held in Arrow: its distinct values (as `columns[name]` gives them, then
        a missing value) and each row's position among them; None for a NumPy column."""
        values = self.data[name]
        if isinstance(values, np.ndarray):
            return None
        if name not in self._distinct:
            uniques = as_numpy(values.dictionary)
            uniques = np.append(uniques.astype(object), np.nan)
            positions = values.indices.fill_null(len(uniques) - 1).to_numpy(zero_copy_only=False)
            self._distinct[name] = (uniques, positions.astype(np.intp, copy=False))
        return self._distinct[name]

    def per_value(self, name: str, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """`function(columns[name])` for a `function` that treats each value on its own,
        computed once per distinct value when the column is held in Arrow."""
        found = self.distinct(name)
        if found is None:
            return function(self[name])
        uniques, positions = found
        return np.asarray(function(uniques))[positions]

    def slice(self, start: int, stop: int) -> Columns:
        """Rows start to stop (views, no copy)."""
        stop = min(stop, self.n_rows)
        start = min(start, stop)
        return Columns(
            {n: _slice(v, start, stop) for n, v in self.data.items()}, max(stop - start, 0)
        )

    def take(self, rows: np.ndarray) -> Columns:
        """The rows `rows` selects (a boolean mask or integer positions)."""
        rows = np.asarray(rows)
        count = int(rows.sum()) if rows.dtype == bool else len(rows)
        return Columns({name: _take(values, rows) for name, values in self.data.items()}, count)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame of these columns (for code that needs one)."""
        data = {name: self[name] for name in self.data}
        return pd.DataFrame(data, index=pd.RangeIndex(self.n_rows), columns=self.columns)


def as_numpy(values: Any) -> np.ndarray:
    """One column (a NumPy or Arrow array) as NumPy, the way `Columns[name]` gives it."""
    if isinstance(values, np.ndarray):
        return values
    return _arrow_array(values)


def _array(column: pd.Series) -> np.ndarray:
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return column.to_numpy()
        return column.to_numpy(dtype=object, na_value=np.nan)
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind)


def _from_arrow(column: Any) -> Any:
    """An Arrow column as `Columns` holds it: text and true/false dictionary-encoded (int32
    indices), the rest as NumPy."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        if pa.types.is_dictionary(column.type):  # chunks may hold different dictionaries
            column = pc.cast(column, column.type.value_type)
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_dictionary(kind) and _is_text(kind.value_type):
        return column.cast(pa.dictionary(pa.int32(), kind.value_type))
    if _is_text(kind):
        return pc.dictionary_encode(column)
    return _arrow_array(column)


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


def _slice(values: Any, start: int, stop: int) -> Any:
    return (
        values[start:stop] if isinstance(values, np.ndarray) else values.slice(start, stop - start)
    )


def _take(values: Any, rows: np.ndarray) -> Any:
    if isinstance(values, np.ndarray):
        return values[rows]
    import pyarrow as pa

    return values.filter(pa.array(rows)) if rows.dtype == bool else values.take(pa.array(rows))


def as_columns(data: Any) -> Columns:
    """`data` (a Columns or a DataFrame) as a Columns."""
    return data if isinstance(data, Columns) else Columns.from_frame(data)
