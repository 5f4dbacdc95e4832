"""Input signatures recorded from the demo's training rows and checked on bad rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from loopml.errors import DataError
from loopml.features.columns import Columns
from loopml.registry.signature import Signature, infer_signature
from tests.models.conftest import DEMO_CATEGORICAL, DEMO_NUMERIC

ROLES = {
    "flight_date": "datetime",
    **dict.fromkeys(DEMO_NUMERIC, "numeric"),
    **dict.fromkeys(DEMO_CATEGORICAL, "categorical"),
}


@pytest.fixture
def features(demo_frame: pd.DataFrame) -> pd.DataFrame:
    return demo_frame[list(ROLES)]


@pytest.fixture
def signature(features: pd.DataFrame) -> Signature:
    return infer_signature(features, ROLES)


def test_training_rows_pass_their_own_signature(
    features: pd.DataFrame, signature: Signature
) -> None:
    checked = signature.check(features, unknown="reject")
    assert checked.valid.all() and checked.n_rejected == 0 and checked.out_of_range == {}
    assert signature.names == list(ROLES)
    gust = next(c for c in signature.columns if c.name == "wind_gust")
    assert gust.nullable  # 77% missing in the demo
    origin = next(c for c in signature.columns if c.name == "origin")
    assert origin.categories == ["EWR", "JFK", "LGA"] and not origin.nullable


def test_bad_rows_get_their_reasons(features: pd.DataFrame, signature: Signature) -> None:
    rows = features.head(5).copy().astype({"distance": object})
    rows.loc[rows.index[0], "origin"] = None  # never missing in training
    rows.loc[rows.index[1], "distance"] = "far"
    rows.loc[rows.index[2], "origin"] = "BOS"  # unseen airport
    rows.loc[rows.index[3], "flight_date"] = "not a date"
    rows.loc[rows.index[4], "temp"] = 1e6  # a number, out of the training range
    allowed = signature.check(rows)
    assert allowed.valid.tolist() == [False, False, True, False, True]
    assert "`origin` is missing" in allowed.reasons.iloc[0]
    assert allowed.reasons.iloc[1] == "`distance` is not a number"
    assert allowed.reasons.iloc[3] == "`flight_date` is not a date"
    assert allowed.out_of_range == {"temp": 1}
    infinite = features.head(5).astype({"distance": float})
    infinite.loc[infinite.index[4], "distance"] = np.inf  # rejected, not "outside the range"
    checked = signature.check(infinite)
    assert not checked.valid[4] and "distance" not in checked.out_of_range
    rejected = signature.check(rows, unknown="reject")
    assert not rejected.valid[2] and "category training never saw" in rejected.reasons.iloc[2]


def test_infinite_numbers_are_rejected(features: pd.DataFrame, signature: Signature) -> None:
    rows = features.head(2).copy()
    rows["distance"] = [np.inf, 100.0]
    assert signature.check(rows).valid.tolist() == [False, True]


def test_a_missing_column_is_named(features: pd.DataFrame, signature: Signature) -> None:
    with pytest.raises(DataError, match="`carrier`"):
        signature.check(features.drop(columns=["carrier"]))


def test_round_trip_through_json(signature: Signature) -> None:
    data = json.loads(json.dumps(signature.to_dict()))
    assert Signature.from_dict(data) == signature


def test_unknown_policy_is_checked(features: pd.DataFrame, signature: Signature) -> None:
    with pytest.raises(ValueError, match="policy"):
        signature.check(features, unknown="ignore")


def test_arrow_columns_are_checked_as_frames_are(
    features: pd.DataFrame, signature: Signature
) -> None:
    rows = features.head(300).copy()
    rows["early"] = np.where(rows["sched_dep_time"] < 900, "yes", "no").astype(object)
    rows.loc[rows.index[0], "origin"] = None  # never missing in training
    rows.loc[rows.index[1], "origin"] = "BOS"  # unseen airport
    rows.loc[rows.index[2], "flight_date"] = "not a date"
    rows.loc[rows.index[3], "early"] = "maybe"
    rows.loc[rows.index[4], "early"] = None
    rows.loc[rows.index[5], ["carrier", "flight_date"]] = None
    rows.loc[rows.index[6], "temp"] = 1e6
    rows.loc[rows.index[7], "distance"] = np.nan
    signed = infer_signature(features.assign(early="no"), ROLES | {"early": "boolean"})
    table = pa.Table.from_pandas(rows, preserve_index=False)
    dates = pa.Table.from_pandas(rows.drop(index=rows.index[2]), preserve_index=False)
    position = dates.schema.get_field_index("flight_date")
    dates = dates.set_column(
        position, "flight_date", pc.strptime(dates["flight_date"], "%Y-%m-%d", "us")
    )
    for source, frame in ((table, rows), (dates, rows.drop(index=rows.index[2]))):
        columns = Columns.from_arrow(source)
        assert columns.distinct("origin") is not None
        for unknown in ("allow", "reject"):
            expected = signed.check(frame.reset_index(drop=True), unknown=unknown)
            checked = signed.check(columns, unknown=unknown)
            assert checked.valid.tolist() == expected.valid.tolist()
            assert checked.reasons.tolist() == expected.reasons.tolist()
            assert checked.out_of_range == expected.out_of_range == {"temp": 1}
    reasons = signed.check(Columns.from_arrow(table), unknown="reject").reasons.tolist()
    assert "`origin` is missing" in reasons[0] and "never saw" in reasons[1]
    assert reasons[2] == "`flight_date` is not a date"
    assert reasons[3] == "`early` is not true or false"
    assert reasons[4] == "`early` is missing (training never had it missing)"
    assert reasons[7] == "`distance` is missing (training never had it missing)"
