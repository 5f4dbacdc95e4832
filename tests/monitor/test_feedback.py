"""Feedback: labels stored for logged predictions only; unknown ids listed; bad files named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.errors import DataError
from loopml.monitor.feedback import read_feedback, record_feedback
from loopml.monitor.log import LogBatch, PredictionLog


@pytest.fixture
def log_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "predictions"
    log = PredictionLog(folder)
    for rid, n in (("one", 1), ("three", 3)):
        log.append(
            LogBatch(rid, 1, {"x": np.arange(n, dtype=float)}, {"prediction": np.array(["a"] * n)})
        )
    log.close()
    return folder


def test_known_ids_are_stored_and_unknown_ones_listed(log_folder: Path, tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "request_id": ["one", "three", "three", "nope", "three"],
            "record": [0, 2, 1, 0, 7],
            "label": ["yes", "no", 1.0, "yes", "no"],
        }
    )
    summary = record_feedback(log_folder, tmp_path / "fb", rows)
    assert (summary.received, summary.accepted, summary.unknown_count) == (5, 3, 2)
    assert summary.unknown == ["nope", "three#7"]
    stored = read_feedback(tmp_path / "fb")
    assert sorted(zip(stored["request_id"], stored["record"], stored["label"], strict=True)) == [
        ("one", 0, "yes"),
        ("three", 1, "1"),
        ("three", 2, "no"),
    ]
    # A correction later replaces the earlier label of the same prediction.
    record_feedback(
        log_folder, tmp_path / "fb", pd.DataFrame({"request_id": ["one"], "label": ["no"]})
    )
    again = read_feedback(tmp_path / "fb")
    assert len(again) == 3 and again.set_index("request_id").loc["one", "label"] == "no"


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        (pd.DataFrame({"id": ["one"], "label": ["a"]}), "lacks column(s) request_id"),
        (pd.DataFrame({"request_id": [], "label": []}), "no feedback rows"),
        (
            pd.DataFrame({"request_id": ["one", None], "label": ["a", "b"]}),
            "row 1 has no request_id",
        ),
        (pd.DataFrame({"request_id": ["one"], "label": [np.nan]}), "row 0 has no label"),
        (pd.DataFrame({"request_id": ["one"], "label": ["a"], "record": [-1]}), "whole number"),
    ],
)
def test_bad_feedback_is_named(
    log_folder: Path, tmp_path: Path, frame: pd.DataFrame, says: str
) -> None:
    with pytest.raises(DataError, match=says.replace("(", r"\(").replace(")", r"\)")):
        record_feedback(log_folder, tmp_path / "fb", frame, source="labels.csv")
