"""DatetimeFeatures: date parts equal a hand computation, whatever form the dates come in."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pandas as pd
import pytest

from loopml.features import DatetimeFeatures

DAYS = ["year", "month", "day", "weekday", "day_of_year", "days_since_epoch"]


def by_hand(when: dt.datetime, hour: bool = False) -> list[float]:
    epoch = dt.datetime(1970, 1, 1)
    parts = [when.year, when.month, when.day, when.weekday(), when.timetuple().tm_yday]
    if hour:
        parts.append(when.hour)
    return [float(p) for p in parts] + [(when - epoch).total_seconds() / 86400]


def test_parts_of_iso_us_date_and_timestamp_columns_equal_a_hand_computation() -> None:
    frame = pd.DataFrame(
        {
            "iso": pd.array(["2013-02-17", None, "2020-02-29"], dtype="str"),
            "us": pd.array(["03/15/2013", "12/31/1999", pd.NA], dtype="string"),
            "stamp": [pd.Timestamp("2021-06-01 13:45"), pd.NaT, pd.Timestamp("1969-12-31 06:00")],
            "date": np.array([dt.date(2013, 1, 1), None, dt.date(2024, 7, 4)], dtype=object),
        }
    )
    features = DatetimeFeatures().fit(frame)
    names = list(features.get_feature_names_out())
    assert names == (
        [f"iso__{p}" for p in DAYS]
        + [f"us__{p}" for p in DAYS]
        + [f"stamp__{p}" for p in [*DAYS[:5], "hour", "days_since_epoch"]]  # has a time
        + [f"date__{p}" for p in DAYS]
    )
    out = features.transform(frame)
    assert out.shape == (3, len(names)) and out.dtype == np.float64
    np.testing.assert_allclose(out[0, 0:6], by_hand(dt.datetime(2013, 2, 17)))
    np.testing.assert_allclose(out[2, 0:6], by_hand(dt.datetime(2020, 2, 29)))
    np.testing.assert_allclose(out[0, 6:12], by_hand(dt.datetime(2013, 3, 15)))
    np.testing.assert_allclose(out[1, 6:12], by_hand(dt.datetime(1999, 12, 31)))
    np.testing.assert_allclose(out[0, 12:19], by_hand(dt.datetime(2021, 6, 1, 13, 45), True))
    np.testing.assert_allclose(out[2, 12:19], by_hand(dt.datetime(1969, 12, 31, 6), True))
    np.testing.assert_allclose(out[2, 19:25], by_hand(dt.datetime(2024, 7, 4)))
    assert out[0, 11] == 15779 and out[2, 18] == -0.75  # days since 1970-01-01, by hand
    missing = [(1, slice(0, 6)), (2, slice(6, 12)), (1, slice(12, 19)), (1, slice(19, 25))]
    for row, columns in missing:
        assert np.isnan(out[row, columns]).all()


def test_same_dates_in_any_form_give_the_same_parts() -> None:
    days = pd.to_datetime(["2013-02-17", "2013-09-11", None, "2013-12-31"])
    forms = {
        "datetime64": pd.Series(days),
        "utc": pd.Series(days.tz_localize("UTC")),
        "iso": pd.Series(days.strftime("%Y-%m-%d"), dtype="str"),
        "us": pd.Series(days.strftime("%m/%d/%Y"), dtype=object).where(days.notna(), None),
        "dates": pd.Series([d.date() if d is not pd.NaT else None for d in days], dtype=object),
        "category": pd.Series(days.strftime("%Y-%m-%d"), dtype="category"),
    }
    features = DatetimeFeatures().fit(pd.DataFrame({"d": forms["iso"]}))
    expected = features.transform(pd.DataFrame({"d": forms["iso"]}))
    for name, column in forms.items():
        got = features.transform(pd.DataFrame({"d": column}))
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert np.isnan(expected[2]).all() and not np.isnan(expected[[0, 1, 3]]).any()


def test_unreadable_and_all_missing_values_become_nan_and_it_pickles() -> None:
    train = pd.DataFrame({"d": ["2013-02-17 08:30", "2013-02-18 17:05"]})
    features = pickle.loads(pickle.dumps(DatetimeFeatures().fit(train)))
    out = features.transform(pd.DataFrame({"d": ["not a date", None]}, dtype=object))
    assert out.shape == (2, 7) and np.isnan(out).all()
    assert features.transform(train)[:, 5].tolist() == [8.0, 17.0]  # hour kept: it had times


def test_unfitted_transform_raises() -> None:
    with pytest.raises(Exception, match="not fitted"):
        DatetimeFeatures().transform(pd.DataFrame({"d": ["2013-02-17"]}))


def test_day_first_training_dates_are_read_the_same_at_serving() -> None:
    train = pd.DataFrame({"d": ["13/02/2013", "25/12/2013", "03/04/2013"]})
    features = DatetimeFeatures().fit(train)
    in_batch = features.transform(train)[2]
    alone = features.transform(train.tail(1))[0]
    np.testing.assert_array_equal(alone, in_batch)
