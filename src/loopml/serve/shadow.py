"""Shadow scoring: the shadow model scores each request after its answer was sent.

    shadow = ShadowScorer(prediction_log, metrics)
    shadow.submit(served, request_id, columns)   # after the response; returns at once
    shadow.close()                               # scores what is queued, then stops

The work runs on a thread of its own, so the champion's answer never waits for it, and a
shadow failure is logged and counted, never seen by the client. The thread gathers the
requests that arrive within `linger_s` (up to `batch_rows` records) and scores them in one
call: the server runs Python under one lock (the GIL), and per-call overhead dominates a
one-record request, so one call for many requests leaves the champion's requests far more
of it than one call each. A failing batch is scored again request by request, so one bad
request fails alone. The queue is bounded (`capacity` records): when the shadow cannot
keep up, a request is skipped and counted (`loopml_shadow_records_total{outcome="skipped"}`)
rather than slowing the champion or growing memory without limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from loopml.features.columns import Columns
from loopml.monitor.log import LogBatch, PredictionLog
from loopml.serve.routing import SHADOW

log = logging.getLogger("loopml.serve")


class ShadowScorer:
    """Scores requests with the shadow model on its own thread and logs them as `shadow`."""

    def __init__(
        self,
        predictions: PredictionLog,
        metrics: Any,
        *,
        capacity: int = 100_000,
        linger_s: float = 0.02,
        batch_rows: int = 4096,
    ) -> None:
        self.predictions = predictions
        self.metrics = metrics
        self.capacity, self.linger_s, self.batch_rows = capacity, linger_s, batch_rows
        self.pending = 0  # records queued or being scored
        self.scored = self.failed = self.skipped = 0  # records
        self._queue: deque[tuple[Any, str, Columns]] = deque()
        self._queued = 0  # records in the queue
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="loopml-shadow", daemon=True)
        self._thread.start()

    def submit(self, served: Any, request_id: str, columns: Columns) -> bool:
        """Queue `columns` for scoring by `served`; False (counted) if the queue is full."""
        n = len(columns)
        with self._cond:
            full = self.pending + n > self.capacity
            if full:
                self.skipped += n
            else:
                self.pending += n
                self._queued += n
                self._queue.append((served, request_id, columns))
                if self._queued >= self.batch_rows or len(self._queue) == 1:
                    self._cond.notify()
        if full:
            self.metrics.shadow(version=served.version, outcome="skipped", records=n)
            log.warning("shadow scoring is behind: request %s skipped (%d records)", request_id, n)
        return not full

    def after(self, served: Any, request_id: str, columns: Columns) -> Any:
        """A response's background task handing the request to the shadow once answered."""
        from starlette.background import BackgroundTask

        async def submit() -> None:  # async: no thread hop to queue it
            self.submit(served, request_id, columns)

        return BackgroundTask(submit)

    def close(self) -> None:
        """Score everything queued, then stop (before the prediction log closes)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return  # closing, and everything was scored
                deadline = time.monotonic() + self.linger_s
                while self._queued < self.batch_rows and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                taken, rows = [], 0
                while self._queue and (
                    not taken or rows + len(self._queue[0][2]) <= self.batch_rows
                ):
                    item = self._queue.popleft()
                    taken.append(item)
                    rows += len(item[2])
                self._queued -= rows
            for group in _groups(taken):
                self._score(group)

    def _score(self, group: list[tuple[Any, str, Columns]]) -> None:
        """Score requests of one model and one column layout together, then log each."""
        served = group[0][0]
        started = time.perf_counter()
        try:
            columns = _joined([columns for _, _, columns in group])
            outputs = served.outputs(columns)
        except Exception:
            if len(group) > 1:  # find the request that fails: score each on its own
                for item in group:
                    self._score([item])
                return
            log.exception("shadow version %d failed on request %s", served.version, group[0][1])
            self._done(served, len(group[0][2]), "failed", None)
            return
        seconds = time.perf_counter() - started
        total, start = len(columns), 0
        for _, request_id, columns in group:
            n = len(columns)
            self.predictions.append(
                LogBatch(
                    request_id,
                    served.version,
                    columns.data,
                    {name: values[start : start + n] for name, values in outputs.items()},
                    latency_ms=seconds * 1000 * n / total,  # its share of the call
                    variant=SHADOW,
                    numeric=served.numeric,
                )
            )
            start += n
        self._done(served, start, "scored", seconds)

    def _done(self, served: Any, n: int, outcome: str, seconds: float | None) -> None:
        with self._cond:
            self.pending -= n
            if outcome == "scored":
                self.scored += n
            else:
                self.failed += n
        self.metrics.shadow(version=served.version, outcome=outcome, records=n, seconds=seconds)


def _groups(taken: list[tuple[Any, str, Columns]]) -> list[list[tuple[Any, str, Columns]]]:
    """Requests that can be scored in one call: the same model, the same column dtypes."""
    groups: dict[tuple, list] = {}
    for item in taken:
        served, _, columns = item
        key = (id(served), tuple(values.dtype.str for values in columns.data.values()))
        groups.setdefault(key, []).append(item)
    return list(groups.values())


def _joined(parts: list[Columns]) -> Columns:
    if len(parts) == 1:
        return parts[0]
    names = parts[0].columns
    return Columns({name: np.concatenate([part[name] for part in parts]) for name in names})
