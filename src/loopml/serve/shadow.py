"""Shadow scoring: the shadow model scores each request after its answer was sent.

    shadow = ShadowScorer(prediction_log, metrics)
    shadow.submit(served, request_id, columns)   # after the response; returns at once
    shadow.close()                               # scores what is queued, then stops

The work runs on a thread of its own, so the champion's answer never waits for it, and a
shadow failure is logged and counted, never seen by the client. The queue is bounded
(`capacity` records): when the shadow cannot keep up, a request is skipped and counted
(`loopml_shadow_records_total{outcome="skipped"}`) rather than slowing the champion or
growing memory without limit.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loopml.monitor.log import LogBatch, PredictionLog
from loopml.serve.routing import SHADOW

log = logging.getLogger("loopml.serve")


class ShadowScorer:
    """Scores requests with the shadow model on its own thread and logs them as `shadow`."""

    def __init__(
        self, predictions: PredictionLog, metrics: Any, *, capacity: int = 100_000
    ) -> None:
        self.predictions = predictions
        self.metrics = metrics
        self.capacity = capacity
        self.pending = 0  # records queued or being scored
        self.scored = self.failed = self.skipped = 0  # records
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-shadow")

    def submit(self, served: Any, request_id: str, columns: Any) -> bool:
        """Queue `columns` for scoring by `served`; False (counted) if the queue is full."""
        n = len(columns)
        with self._lock:
            if self.pending + n > self.capacity:
                self.skipped += n
                full = True
            else:
                self.pending += n
                full = False
        if full:
            self.metrics.shadow(version=served.version, outcome="skipped", records=n)
            log.warning("shadow scoring is behind: request %s skipped (%d records)", request_id, n)
            return False
        self._executor.submit(self._score, served, request_id, columns)
        return True

    def after(self, served: Any, request_id: str, columns: Any) -> Any:
        """A response's background task handing the request to the shadow once answered."""
        from starlette.background import BackgroundTask

        async def submit() -> None:  # async: no thread hop to queue it
            self.submit(served, request_id, columns)

        return BackgroundTask(submit)

    def close(self) -> None:
        """Score everything queued, then stop (before the prediction log closes)."""
        self._executor.shutdown(wait=True)

    def _score(self, served: Any, request_id: str, columns: Any) -> None:
        n = len(columns)
        started = time.perf_counter()
        seconds = None
        try:
            outputs = served.outputs(columns)
            seconds = time.perf_counter() - started
            self.predictions.append(
                LogBatch(
                    request_id,
                    served.version,
                    columns.data,
                    outputs,
                    latency_ms=seconds * 1000,
                    variant=SHADOW,
                    numeric=served.numeric,
                )
            )
        except Exception:  # a broken shadow must never reach the champion's clients
            log.exception("shadow version %d failed on request %s", served.version, request_id)
            outcome = "failed"
        else:
            outcome = "scored"
        with self._lock:
            self.pending -= n
            if outcome == "scored":
                self.scored += n
            else:
                self.failed += n
        self.metrics.shadow(version=served.version, outcome=outcome, records=n, seconds=seconds)
