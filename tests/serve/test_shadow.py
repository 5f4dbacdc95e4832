"""The shadow scorer: requests scored together, failures alone and on its side, a full queue
skipped and counted, everything queued scored before it stops."""

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
    """A stand-in for a loaded version: answers twice its input (fails on a negative one),
    after the gate opens; counts its calls."""

    version: int = 2
    gate: threading.Event | None = None
    numeric: frozenset[str] = frozenset(["x"])
    calls: int = 0

    def outputs(self, columns: Columns) -> dict[str, np.ndarray]:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if (columns["x"] < 0).any():
            raise RuntimeError("the shadow model broke")
        return {"prediction": columns["x"] * 2}


def _columns(n: int, first: float = 0.0) -> Columns:
    return Columns({"x": np.arange(n, dtype=float) + first})


def _count(metrics: ServeMetrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "loopml_shadow_records_total", {"model_version": "2", "outcome": outcome}
    )
    return value or 0.0


def test_requests_are_scored_together_and_a_failure_stays_alone(tmp_path: Path) -> None:
    log, metrics = PredictionLog(tmp_path), ServeMetrics()
    shadow = ShadowScorer(log, metrics, linger_s=0.5)
    model = _Model(gate=threading.Event())
    assert shadow.submit(model, "good", _columns(3))
    assert shadow.submit(model, "bad", Columns({"x": np.array([1.0, -1.0])}))  # no exception
    assert shadow.submit(model, "also-good", _columns(2))
    model.gate.set()
    shadow.close()
    log.close()
    assert model.calls == 4  # one call for the three; it failed, so one call each
    logged = read_log(tmp_path).to_pandas().sort_values(["request_id", "record"])
    assert logged["request_id"].tolist() == ["also-good"] * 2 + ["good"] * 3
    assert logged["variant"].unique().tolist() == ["shadow"]
    assert logged["prediction"].tolist() == [0.0, 2.0, 0.0, 2.0, 4.0]
    assert logged["record"].tolist() == [0, 1, 0, 1, 2]
    assert (shadow.scored, shadow.failed, shadow.skipped, shadow.pending) == (5, 2, 0, 0)
    assert (_count(metrics, "scored"), _count(metrics, "failed")) == (5, 2)


def test_a_batch_splits_its_outputs_back_to_each_request(tmp_path: Path) -> None:
    log, metrics = PredictionLog(tmp_path), ServeMetrics()
    shadow = ShadowScorer(log, metrics, linger_s=0.5)
    model = _Model()
    for k in range(20):
        assert shadow.submit(model, f"r{k}", _columns(k % 3 + 1, first=k))
    shadow.close()
    log.close()
    assert model.calls == 1
    logged = read_log(tmp_path).to_pandas()
    for k in range(20):
        mine = logged[logged["request_id"] == f"r{k}"].sort_values("record")
        assert mine["prediction"].tolist() == [2.0 * (k + r) for r in range(k % 3 + 1)]
    assert logged["latency_ms"].gt(0).all()


def test_a_full_queue_skips_and_counts_instead_of_waiting(tmp_path: Path) -> None:
    log, metrics = PredictionLog(tmp_path), ServeMetrics()
    shadow = ShadowScorer(log, metrics, capacity=10)
    slow = _Model(gate=threading.Event())
    assert shadow.submit(slow, "first", _columns(6))
    assert not shadow.submit(slow, "second", _columns(6))  # 12 > 10 records queued
    assert shadow.submit(slow, "third", _columns(4))
    slow.gate.set()
    shadow.close()  # scores what was queued before returning
    log.close()
    logged = read_log(tmp_path).to_pandas()
    assert sorted(set(logged["request_id"])) == ["first", "third"] and len(logged) == 10
    assert (shadow.skipped, _count(metrics, "skipped")) == (6, 6)
