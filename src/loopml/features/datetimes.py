"""Date parts of datetime columns, for models that cannot read timestamps."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from loopml.data.schema import date_format, parse_dates
from loopml.features.columns import Columns
from loopml.features.frames import as_frame

PARTS: tuple[str, ...] = (
    "year",
    "month",
    "day",
    "weekday",
    "day_of_year",
    "hour",
    "days_since_epoch",
)
_EPOCH = np.datetime64(0, "us")


def to_timestamps(column: Any, fmt: str | None = None) -> np.ndarray:
    """A column of datetimes, dates or date strings as naive UTC datetime64[us]; NaT if unreadable."""
    if isinstance(column, np.ndarray) and column.dtype.kind == "M":
        return column.astype("datetime64[us]")
    if isinstance(column, np.ndarray) and column.dtype == object:
        values = column  # no Series for a one-row request: it costs more than the parsing
    else:
        series = column if isinstance(column, pd.Series) else pd.Series(column)
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            if getattr(series.dtype, "tz", None) is not None:
                series = series.dt.tz_convert("UTC").dt.tz_localize(None)
            return series.to_numpy(dtype="datetime64[us]")
        values = series.to_numpy(dtype=object, na_value=None)
    # Strings are parsed in `fmt`, the format learnt at fit time, so an ambiguous date
    # (03/04/2013) reads the same in a one-row serving request as in training.
    stamps = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
    kind = pd.api.types.infer_dtype(values, skipna=True) if len(values) > 1 else None
    if kind in ("string", "empty"):  # one C pass instead of a Python call per value
        is_text = np.asarray(~pd.isna(values), dtype=bool)
    else:
        is_text = np.fromiter((isinstance(v, str) for v in values), bool, count=len(values))
    if is_text.any():
        texts = values[is_text]
        # ISO 8601 is what `parse_dates` would choose when every string reads as ISO 8601.
        parsed = _iso_dates(texts) if fmt in (None, "ISO8601") else None
        if parsed is None:
            parsed = parse_dates(pa.array(texts.tolist(), type=pa.string()), fmt)
            parsed = parsed.to_numpy(zero_copy_only=False)
        stamps[is_text] = parsed.astype("datetime64[us]")
    if kind in ("string", "empty"):
        return stamps
    is_time = np.fromiter(
        (isinstance(v, dt.date | np.datetime64) for v in values), dtype=bool, count=len(values)
    )
    if is_time.any():
        times = pd.to_datetime(pd.Series(values[is_time]), utc=True, errors="coerce")
        stamps[is_time] = times.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return stamps


def column_timestamps(columns: Columns, name: str, fmt: str | None = None) -> np.ndarray:
    """`to_timestamps(columns[name], fmt)`, parsed once per distinct value when it can be."""
    found = _distinct_timestamps(columns, name, fmt)
    if found is None:
        return to_timestamps(columns[name], fmt)
    stamps, positions = found
    return stamps[positions]


def _distinct_timestamps(
    columns: Columns, name: str, fmt: str | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """(timestamps of the column's distinct values, each row's position among them) when the
    column is held in Arrow and every distinct value is plain ISO 8601 text; else None."""
    found = columns.distinct(name)
    if found is None or fmt not in (None, "ISO8601"):
        return None
    uniques, positions = found
    present = uniques[:-1]  # the last one stands for a missing value
    if not all(type(value) is str for value in present.tolist()):
        return None
    # to_timestamps on the rows reads them with NumPy when every string is ISO 8601, and all
    # of them otherwise in a format chosen by counting rows: only the first is per value.
    parsed = _iso_dates(present)
    if parsed is None:
        return None
    stamps = np.append(parsed.astype("datetime64[us]"), np.datetime64("NaT", "us"))
    return stamps, positions


def _iso_dates(texts: np.ndarray) -> np.ndarray | None:
    """Plain ISO 8601 dates and times parsed by NumPy (50x faster than pandas for a few
    values); None when any string needs pandas (a time zone, or not ISO 8601)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # NumPy warns on time zones: leave them to pandas
            return np.array(texts.tolist(), dtype="datetime64[us]")
    except (ValueError, TypeError, DeprecationWarning, UserWarning):
        return None


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Year, month, day, weekday, day of year, hour (if timed) and days since 1970 of each column."""

    def fit(self, X: Any, y: Any = None) -> DatetimeFeatures:
        """Learn the columns and which of them carry a time of day."""
        frame = as_frame(X)
        names = list(frame.columns)
        if all(isinstance(name, str) for name in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.parts_: list[list[str]] = []
        self.formats_: list[str | None] = []
        for name in names:
            texts = [v for v in frame[name].to_numpy(dtype=object) if isinstance(v, str)]
            fmt = date_format(pa.array(texts, type=pa.string())) if texts else None
            self.formats_.append(fmt)
            stamps = to_timestamps(frame[name], fmt)
            known = stamps[~np.isnat(stamps)]
            has_time = bool((known != known.astype("datetime64[D]")).any())
            self.parts_.append([part for part in PARTS if part != "hour" or has_time])
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The date parts as a float64 array, NaN where the date is missing."""
        check_is_fitted(self, "parts_")
        frame = as_frame(X)
        if hasattr(self, "feature_names_in_"):
            frame = frame[list(self.feature_names_in_)]
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} columns, got {frame.shape[1]}")
        return self.transform_arrays([frame.iloc[:, i] for i in range(frame.shape[1])])

    def transform_arrays(self, columns: list[Any]) -> np.ndarray:
        """The date parts of the fitted columns, given as one array (or Series) each, in order."""
        blocks = [
            _parts(to_timestamps(values, self.formats_[i]), self.parts_[i])
            for i, values in enumerate(columns)
        ]
        n_rows = len(columns[0]) if columns else 0
        return np.column_stack(blocks) if blocks else np.empty((n_rows, 0))

    def transform_columns(self, data: Columns, names: list[str]) -> np.ndarray:
        """`transform_arrays` of the fitted columns `names` of `data`, date parts computed
        once per distinct date for text dates held in Arrow."""
        blocks = []
        for i, name in enumerate(names):
            found = _distinct_timestamps(data, name, self.formats_[i])
            if found is None:
                stamps = to_timestamps(data[name], self.formats_[i])
                blocks.append(_parts(stamps, self.parts_[i]))
            else:
                stamps, positions = found
                blocks.append(_parts(stamps, self.parts_[i])[positions])
        return np.column_stack(blocks) if blocks else np.empty((len(data), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names such as `flight_date__month`: the input column, two underscores, the part."""
        check_is_fitted(self, "parts_")
        if input_features is None:
            input_features = getattr(
                self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)]
            )
        names = [
            f"{column}__{part}"
            for column, parts in zip(input_features, self.parts_, strict=True)
            for part in parts
        ]
        return np.asarray(names, dtype=object)


def _parts(stamps: np.ndarray, parts: list[str]) -> np.ndarray:
    """The date parts of datetime64[us] `stamps` (NaN where NaT), in NumPy calendar arithmetic."""
    missing = np.isnat(stamps)
    days = stamps.astype("datetime64[D]")
    months = stamps.astype("datetime64[M]")
    years = stamps.astype("datetime64[Y]")
    values = {
        "year": years.astype(np.int64) + 1970,
        "month": (months - years.astype("datetime64[M]")).astype(np.int64) + 1,
        "day": (days - months.astype("datetime64[D]")).astype(np.int64) + 1,
        "weekday": (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday; Monday = 0
        "day_of_year": (days - years.astype("datetime64[D]")).astype(np.int64) + 1,
    }
    with np.errstate(invalid="ignore"):  # NaT, set to NaN below
        values["hour"] = (stamps - days) // np.timedelta64(1, "h")
    columns = []
    for part in parts:
        if part == "days_since_epoch":
            column = (stamps - _EPOCH) / np.timedelta64(1, "D")
        else:
            column = np.asarray(values[part], dtype=np.float64)
        column[missing] = np.nan
        columns.append(column)
    return np.column_stack(columns).astype(np.float64)
