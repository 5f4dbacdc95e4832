"""Date parts of datetime columns, for models that cannot read timestamps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from loopml.data.schema import date_format, parse_dates
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
    series = column if isinstance(column, pd.Series) else pd.Series(column)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return series.to_numpy(dtype="datetime64[us]")
    # Strings are parsed in `fmt`, the format learnt at fit time, so an ambiguous date
    # (03/04/2013) reads the same in a one-row serving request as in training.
    values = series.to_numpy(dtype=object, na_value=None)
    stamps = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
    is_text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
    if is_text.any():
        parsed = parse_dates(pa.array(values[is_text].tolist(), type=pa.string()), fmt)
        stamps[is_text] = parsed.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    is_time = np.fromiter(
        (isinstance(v, dt.date | np.datetime64) for v in values), dtype=bool, count=len(values)
    )
    if is_time.any():
        times = pd.to_datetime(pd.Series(values[is_time]), utc=True, errors="coerce")
        stamps[is_time] = times.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return stamps


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
        blocks = [
            _parts(to_timestamps(frame.iloc[:, i], self.formats_[i]), parts)
            for i, parts in enumerate(self.parts_)
        ]
        return np.column_stack(blocks) if blocks else np.empty((len(frame), 0))

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
    index = pd.DatetimeIndex(stamps)
    values = {
        "year": index.year,
        "month": index.month,
        "day": index.day,
        "weekday": index.day_of_week,
        "day_of_year": index.day_of_year,
        "hour": index.hour,
    }
    columns = [
        (stamps - _EPOCH) / np.timedelta64(1, "D")
        if part == "days_since_epoch"
        else np.asarray(values[part], dtype=np.float64)
        for part in parts
    ]
    return np.column_stack(columns).astype(np.float64)
