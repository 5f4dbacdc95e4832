"""The shadow scorer: failures stay on its side, a full queue skips and counts, close drains."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loopml.features.columns import Columns
from loopml.monitor.log import PredictionLog, read_log
from loopml.serve.metrics import ServeMetrics
from loopml.serve.shadow import ShadowScorer


@dataclass
class _Model:
    """A stand-in for a loaded version: answers twice its input, fails, or waits first."""

    version: int = 2
    fail: bool = False
    gate: threading.Event | None = None
    numeric: frozenset[str] = frozenset(["x"])

    def outputs(self, columns: Columns) -> dict[str, np.ndarray]:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the shadow model broke")
        return {"prediction": columns["x"] * 2}


def _columns(n: int) -> Columns:
    return Columns({"x": np.arange(n, dtype=float)})


def _count(metrics: ServeMetrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "loopml_shadow_records_total", {"model_version": "2", "outcome": outcome}
    )
    return value or 0.0


def test_scored_rows_are_logged_as_shadow_and_failures_only_counted(tmp_path: Path) -> None:
    log, metrics = PredictionLog(tmp_path), ServeMetrics()
    shadow = ShadowScorer(log, metrics)
    assert shadow.submit(_Model(), "good", _columns(3))
    assert shadow.submit(_Model(fail=True), "bad", _columns(2))  # no exception here either
    shadow.close()
    log.close()
    logged = read_log(tmp_path).to_pandas()
    assert logged["request_id"].tolist() == ["good"] * 3
    assert logged["variant"].unique().tolist() == ["shadow"]
    assert logged["prediction"].tolist() == [0.0, 2.0, 4.0] and logged["record"].tolist() == [
        0,
        1,
        2,
    ]
    assert (shadow.scored, shadow.failed, shadow.skipped, shadow.pending) == (3, 2, 0, 0)
    assert (_count(metrics, "scored"), _count(metrics, "failed")) == (3, 2)


def test_a_full_queue_skips_and_counts_instead_of_waiting(tmp_path: Path) -> None:
    log, metrics = PredictionLog(tmp_path), ServeMetrics()
    shadow = ShadowScorer(log, metrics, capacity=10)
    gate = threading.Event()
    slow = _Model(gate=gate)
    assert shadow.submit(slow, "first", _columns(6))
    assert not shadow.submit(slow, "second", _columns(6))  # 12 > 10 records queued
    assert shadow.submit(slow, "third", _columns(4))
    gate.set()
    shadow.close()  # scores what was queued before returning
    log.close()
    logged = read_log(tmp_path).to_pandas()
    assert sorted(set(logged["request_id"])) == ["first", "third"] and len(logged) == 10
    assert (shadow.skipped, _count(metrics, "skipped")) == (6, 6)
