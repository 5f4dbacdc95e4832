"""Columns read from Arrow hold text as dictionaries and give what Columns of a frame give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from loopml.features.columns import Columns

FRAME = pd.DataFrame(
    {
        "carrier": ["AA", None, "B6", "AA", "UA", None],
        "distance": [100, 200, None, 400, 500, 600],
        "early": [True, False, None, True, True, False],
        "day": pd.to_datetime(["2013-01-01", None, "2013-01-03", "2013-01-01", None, "2013-01-06"]),
    }
).astype({"early": object})


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and pd.Series(a).equals(pd.Series(b))


def test_from_arrow_gives_what_from_frame_gives() -> None:
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    arrow, frame = Columns.from_arrow(table), Columns.from_frame(FRAME)
    assert arrow.columns == frame.columns and len(arrow) == 6
    assert isinstance(arrow.data["carrier"], pa.DictionaryArray)
    assert isinstance(arrow.data["early"], pa.DictionaryArray)
    assert arrow.data["distance"].dtype == np.float64 and arrow.data["day"].dtype.kind == "M"
    for name in ("carrier", "distance", "early"):
        assert _same(arrow[name], frame[name]), name
    assert np.array_equal(arrow["day"], FRAME["day"].to_numpy(), equal_nan=True)
    assert arrow.to_frame()["carrier"].tolist() == frame.to_frame()["carrier"].tolist()


def test_per_value_runs_once_per_distinct_value() -> None:
    columns = Columns.from_arrow(pa.Table.from_pandas(FRAME, preserve_index=False))
    seen: list[int] = []

    def lengths(values: np.ndarray) -> np.ndarray:
        seen.append(len(values))
        return np.array([len(v) if isinstance(v, str) else -1 for v in values])

    assert columns.per_value("carrier", lengths).tolist() == [2, -1, 2, 2, 2, -1]
    assert seen == [4]  # AA, B6, UA and the missing value, not six rows
    uniques, positions = columns.distinct("carrier")
    assert uniques[:-1].tolist() == ["AA", "B6", "UA"] and pd.isna(uniques[-1])
    assert positions.tolist() == [0, 3, 1, 0, 2, 3]
    numpy = Columns.from_frame(FRAME)
    assert numpy.distinct("carrier") is None
    assert numpy.per_value("carrier", lengths).tolist() == [2, -1, 2, 2, 2, -1]


def test_take_slice_and_chunked_tables_with_their_own_dictionaries() -> None:
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    columns = Columns.from_arrow(table)
    mask = np.array([True, False, True, False, True, True])
    for part, rows in ((columns.take(mask), mask), (columns.take(np.array([5, 0])), [5, 0])):
        expected = Columns.from_frame(FRAME.iloc[np.flatnonzero(rows) if rows is mask else rows])
        for name in ("carrier", "early", "distance"):
            assert _same(part[name], expected[name]), name
    sliced = columns.slice(1, 4)
    assert len(sliced) == 3 and _same(sliced["carrier"], Columns.from_frame(FRAME)["carrier"][1:4])
    assert len(columns.slice(5, 2)) == 0
    # Chunks dictionary-encoded apart hold different dictionaries.
    chunked = pa.table(
        {
            "carrier": pa.chunked_array(
                [pa.array(["AA", "B6"]).dictionary_encode(), pa.array(["UA"]).dictionary_encode()]
            )
        }
    )
    assert Columns.from_arrow(chunked)["carrier"].tolist() == ["AA", "B6", "UA"]
