"""JSON records to model input: strict types per role, every bad field named, two equal paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.registry.signature import infer_signature
from loopml.serve import records as records_module
from loopml.serve.records import read_records
from tests.conftest import DEMO_CSV

ROLES = {
    "flight_date": "datetime",
    "distance": "numeric",
    "wind_gust": "numeric",
    "carrier": "categorical",
    "flight": "categorical",
    "early": "boolean",
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data = pd.read_csv(DEMO_CSV)
    data["early"] = np.where(data["sched_dep_time"] < 900, "yes", "no")
    return data[list(ROLES)]


def _records(frame: pd.DataFrame, n: int) -> list[dict]:
    rows = frame.head(n).astype(object).to_dict("records")
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in rows]


@pytest.mark.parametrize("n", [1, 200])
def test_good_records_read_the_same_on_both_paths(
    frame: pd.DataFrame, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    signature = infer_signature(frame, ROLES)
    records = _records(frame, n)
    fast, errors = read_records(records, signature)
    assert errors == []
    monkeypatch.setattr(records_module, "ARROW_FROM", 10**9)
    slow, errors = read_records(records, signature)
    assert errors == []
    for name in ROLES:
        a, b = fast[name], slow[name]
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            np.testing.assert_array_equal(a.astype(float), b.astype(float))
        else:
            assert pd.isna(a).tolist() == pd.isna(b).tolist()
            assert [v for v in a if not pd.isna(v)] == [v for v in b if not pd.isna(v)]


def test_every_bad_field_is_named_on_both_paths(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    signature = infer_signature(frame.dropna(), ROLES)
    records = _records(frame.dropna(), 100)
    records[3]["distance"] = "160"
    records[5]["flight_date"] = 20130217
    records[7]["carrier"] = {"code": "AA"}
    records[9]["distance"] = True
    expected = [(3, "distance"), (5, "flight_date"), (7, "carrier"), (9, "distance")]
    fast = read_records(records, signature)[1]
    monkeypatch.setattr(records_module, "ARROW_FROM", 10**9)
    slow = read_records(records, signature)[1]
    assert fast == slow and [(e["row"], e["field"]) for e in fast] == expected
    assert fast[0]["problem"] == "expected a number, got text"
    assert fast[3]["problem"] == "expected a number, got true/false"


def test_signature_problems_unknown_categories_and_extra_fields(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame.dropna(), ROLES)
    records = _records(frame.dropna(), 3)
    records[0]["carrier"] = None  # training never had it missing
    records[1]["carrier"] = "ZZ"  # never seen
    records[2]["early"] = "maybe"
    errors = read_records(records, signature, unknown="reject")[1]
    problems = {(e["row"], e["field"]): e["problem"] for e in errors}
    assert "training never had it missing" in problems[(0, "carrier")]
    assert "never saw" in problems[(1, "carrier")]
    assert "not true or false" in problems[(2, "early")]
    assert (1, "carrier") not in {
        (e["row"], e["field"]) for e in read_records(records, signature)[1]
    }  # allowed by default
    extra = [records[1] | {"note": "hi"}]
    assert read_records(extra, signature)[1][0]["field"] == "note"
    assert read_records(extra, signature, extra="ignore")[1] == []
