"""The prediction log: nothing lost silently, complete segments, readable by time window."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopml.features.columns import Columns
from loopml.monitor.log import LogBatch, PredictionLog, read_log


def _batch(n: int, version: int = 1, request: str = "r", when: float | None = None) -> LogBatch:
    rng = np.random.default_rng(n)
    return LogBatch(
        request_id=request,
        model_version=version,
        inputs={"x": rng.normal(size=n), "city": np.array(["a", None, 3] * n, dtype=object)[:n]},
        outputs={
            "prediction": np.array(["yes"] * n, dtype=object),
            "proba_yes": rng.uniform(size=n),
        },
        latency_ms=0.5,
        time=time.time() if when is None else when,
        numeric=frozenset(["x"]),
    )


def test_close_writes_everything_in_one_segment_per_version(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, flush_s=60)
    for i in range(50):
        assert log.append(_batch(3, version=1 + i % 2, request=f"q{i}"))
    log.close()
    assert log.logged == 150 and log.dropped == 0 and log.buffered == 0
    assert len(list((tmp_path / "version=1").glob("*.parquet"))) == 1
    table = read_log(tmp_path).to_pandas()
    assert len(table) == 150 and set(table["model_version"]) == {1, 2}
    city = table["in.city"].tolist()[:3]  # one text type per column, missing kept missing
    assert city[0] == "a" and pd.isna(city[1]) and city[2] == "3"
    assert read_log(tmp_path, version=2).num_rows == 75


def test_the_writer_flushes_on_its_own_interval(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, flush_s=0.1)
    log.append(_batch(4))
    deadline = time.monotonic() + 5
    while log.logged < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_log(tmp_path).num_rows == 4  # on disk while the log is still open
    log.close()


def test_a_full_buffer_drops_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = tmp_path / "events"
    log = PredictionLog(tmp_path / "log", flush_s=0.01, capacity=10, block_s=0.01, events=events)
    slow = log._write_segment

    def stalled(version: int, batches: list) -> None:
        time.sleep(0.3)
        slow(version, batches)

    monkeypatch.setattr(log, "_write_segment", stalled)
    accepted = sum(log.append(_batch(5, request=f"q{i}")) for i in range(20))
    log.close()
    assert 0 < accepted < 20
    assert log.dropped == (20 - accepted) * 5 and log.logged == accepted * 5
    assert read_log(tmp_path / "log").num_rows == log.logged
    dropped = read_log(events).to_pandas()  # what monitor's dropped_rows rule reads
    assert set(dropped["kind"]) == {"dropped"} and dropped["rows"].sum() == log.dropped


def test_refused_requests_are_service_events(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", flush_s=60, events=tmp_path / "events")
    log.append(_batch(2, request="ok"))
    log.note("bad-1", 422, 3)
    log.note("bad-2", 500, None)
    log.close()
    events = read_log(tmp_path / "events").to_pandas()
    assert events[["request_id", "status", "kind", "model_version"]].values.tolist() == [
        ["bad-1", 422, "refused", 3],
        ["bad-2", 500, "failed", -1],
    ]
    assert read_log(tmp_path / "log").num_rows == 2  # events never mix with predictions
    quiet = PredictionLog(tmp_path / "quiet", flush_s=60)  # no events folder: notes are ignored
    quiet.note("bad-3", 422, 1)
    quiet.close()
    assert not (tmp_path / "quiet").exists()


def test_a_batch_larger_than_the_buffer_waits_for_it_to_empty(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, capacity=10, block_s=30)
    started = time.monotonic()
    assert log.append(_batch(4)) and log.append(_batch(25)) and log.append(_batch(25))
    log.close()
    assert time.monotonic() - started < 10  # never the 30 s of a buffer that stays full
    assert log.dropped == 0 and read_log(tmp_path).num_rows == 54


def test_time_windows_and_torn_files(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    log = PredictionLog(tmp_path)
    log.append(_batch(2, request="old", when=(now - timedelta(days=3)).timestamp()))
    log.append(_batch(3, request="new", when=now.timestamp()))
    log.close()
    (tmp_path / "version=1" / ".half-written.parquet.tmp").write_bytes(b"PAR1 torn")
    recent = read_log(tmp_path, since=now - timedelta(days=1)).to_pandas()
    assert set(recent["request_id"]) == {"new"} and recent["record"].tolist() == [0, 1, 2]
    assert read_log(tmp_path / "nothing-here").num_rows == 0


def test_rows_with_ids_of_their_own_are_record_zero(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    batch = _batch(3)
    batch.request_id = ["job-0", "job-1", "job-2"]  # batch scoring: one id per row
    batch.source = "score"
    log.append(batch)
    log.append(_batch(2, request="served"))
    log.close()
    table = read_log(tmp_path).to_pandas().sort_values(["request_id", "record"])
    assert list(zip(table["request_id"], table["record"], strict=True)) == [
        ("job-0", 0),
        ("job-1", 0),
        ("job-2", 0),
        ("served", 0),
        ("served", 1),
    ]


def test_arrow_inputs_and_outputs_are_logged_as_numpy_ones_are(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "x": [1.5, None, 3.0, 4.0],
            "city": ["a", None, "b", "a"],
            "flag": [True, None, False, True],
            "amount": ["1.5", "2", None, "4"],  # text in a numeric column (the server casts)
        }
    ).astype({"flag": object})
    numeric = frozenset(["x", "amount"])
    labels = pa.array(["no", "yes"]).take(pa.array([1, 0, 0, 1]))
    proba = np.array([0.9, 0.2, 0.4, 0.7])

    def batch(columns: Columns, arrow: bool) -> LogBatch:
        prediction = labels if arrow else np.asarray(labels.to_pylist(), dtype=object)
        ids = pa.array([f"job-{i}" for i in range(4)]) if arrow else [f"job-{i}" for i in range(4)]
        outputs = {"prediction": prediction, "proba_yes": proba}
        return LogBatch(ids, 1, columns.data, outputs, time=1e9, numeric=numeric)

    table = pa.Table.from_pandas(frame, preserve_index=False)
    tables = []
    for arrow in (False, True):
        log = PredictionLog(tmp_path / str(arrow))
        columns = Columns.from_arrow(table) if arrow else Columns.from_frame(frame)
        assert isinstance(columns.data["city"], pa.DictionaryArray) == arrow
        log.append(batch(columns, arrow))
        log.append(batch(Columns.from_frame(frame), False))  # both kinds in one segment
        log.close()
        tables.append(read_log(tmp_path / str(arrow)))
    assert tables[0].schema == tables[1].schema
    logged = tables[1].to_pandas()
    assert logged.equals(tables[0].to_pandas())  # NaN equals NaN here
    city = logged["in.city"].tolist()
    assert city[0] == "a" and pd.isna(city[1]) and city[2] == "b"
    assert logged["in.flag"].tolist()[:1] == ["True"] and logged["in.amount"].dtype == np.float64
    assert logged["prediction"].tolist()[:4] == ["yes", "no", "no", "yes"]
    assert logged["request_id"].tolist()[:2] == ["job-0", "job-1"]
