"""Prometheus metrics of a server: requests, latency, predictions, the log, the model.

    metrics = ServeMetrics()
    metrics.observe(version=3, status=200, seconds=0.0006, records=1, labels=["yes"])
    metrics.render()  # the text exposition format for GET /metrics

With several workers each process counts its own; `run_server` points PROMETHEUS_MULTIPROC_DIR
at a folder they share, and `render` then sums them (prometheus_client's multiprocess mode),
so a scrape sees the whole server whichever worker answers it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ServeMetrics:
    """The server's metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_ENV))
        self.registry = CollectorRegistry()
        # In multiprocess mode values live in files, not in a registry.
        registry = None if self.multiprocess else self.registry
        gauge_mode = {"multiprocess_mode": "livesum"} if self.multiprocess else {}
        self.requests = Counter(
            "loopml_requests",
            "Prediction requests answered, by model version and HTTP status.",
            ["model_version", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "loopml_request_latency_seconds",
            "Time from a request reaching the server's handler to its answer, by model version "
            "and HTTP status.",
            ["model_version", "status"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "loopml_errors",
            "Prediction requests refused (4xx: a bad body or record, too large) or failed "
            "(5xx: the model failed, the server was full, a timeout), by model version and "
            "kind; 401 (no or a wrong token) is not counted here.",
            ["model_version", "kind"],
            registry=registry,
        )
        self.records = Counter(
            "loopml_records",
            "Records scored, by model version.",
            ["model_version"],
            registry=registry,
        )
        self.predictions = Counter(
            "loopml_predictions",
            "Predicted classes (classifiers), by model version and class.",
            ["model_version", "label"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "loopml_in_flight_requests", "Requests being handled.", registry=registry, **gauge_mode
        )
        self.log_buffered = Gauge(
            "loopml_log_buffered_rows",
            "Predictions waiting to be written to the prediction log.",
            registry=registry,
            **gauge_mode,
        )
        self.log_written = Gauge(
            "loopml_log_written_rows",
            "Predictions written to the prediction log by the live workers.",
            registry=registry,
            **gauge_mode,
        )
        self.log_dropped = Gauge(
            "loopml_log_dropped_rows",
            "Predictions the log dropped because its buffer stayed full (0 in normal operation).",
            registry=registry,
            **gauge_mode,
        )
        self.model = Gauge(
            "loopml_model_info",
            "The served model versions (1 for those answering now), with their variant: main, "
            "or champion, challenger and shadow during an experiment.",
            ["model_version", "reference", "run_id", "variant"],
            registry=registry,
            **gauge_mode,
        )
        self.shadow_records = Counter(
            "loopml_shadow_records",
            "Records the shadow model scored after the answer, by model version and outcome "
            "(scored, failed, skipped when it fell behind).",
            ["model_version", "outcome"],
            registry=registry,
        )
        self.shadow_latency = Histogram(
            "loopml_shadow_latency_seconds",
            "Time the shadow model took per scoring call (the requests of up to 20 ms, scored "
            "together after their answers), by model version.",
            ["model_version"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self._served: dict[str, tuple[str, str, str, str]] = {}
        # labels() costs a lock and a lookup per call: the hot path keeps the children it used.
        self._answered: dict[tuple[int | None, int], tuple[Any, Any, Any, Any]] = {}
        self._predicted: dict[tuple[int | None, str], Any] = {}

    def serving(self, version: int, reference: str, run_id: str, variant: str = "main") -> None:
        """Mark the version that answers now as `variant` (after a start or a swap)."""
        if variant in self._served:
            self.model.labels(*self._served[variant]).set(0)
        self._served[variant] = (str(version), reference, run_id[:12], variant)
        self.model.labels(*self._served[variant]).set(1)

    def shadow(
        self, *, version: int, outcome: str, records: int, seconds: float | None = None
    ) -> None:
        """Count one request's records scored (or failed, or skipped) by the shadow model."""
        self.shadow_records.labels(str(version), outcome).inc(records)
        if seconds is not None:
            self.shadow_latency.labels(str(version)).observe(seconds)

    def observe(
        self,
        *,
        version: int | None,
        status: int,
        seconds: float,
        records: int = 0,
        labels: Iterable[Any] = (),
    ) -> None:
        """Count one answered request: its status, latency, errors, records and predicted
        classes (`labels`, classifiers)."""
        children = self._answered.get((version, status))
        if children is None:
            children = self._children(version, status)
        requests, latency, errors, scored = children
        requests.inc()
        latency.observe(seconds)
        if errors is not None:
            errors.inc()
        if scored is None:
            return
        scored.inc(records)
        counts: dict[str, int] = {}
        for label in labels:
            counts[str(label)] = counts.get(str(label), 0) + 1
        for label, count in counts.items():
            predicted = self._predicted.get((version, label))
            if predicted is None:
                predicted = self.predictions.labels(_version_label(version), label)
                self._predicted[version, label] = predicted
            predicted.inc(count)

    def _children(self, version: int | None, status: int) -> tuple[Any, Any, Any, Any]:
        """The request, latency, error and record counters of one version and status, kept."""
        key, code = _version_label(version), str(status)
        kind = "failed" if status >= 500 else "refused" if status >= 400 and status != 401 else None
        children = (
            self.requests.labels(key, code),
            self.latency.labels(key, code),
            None if kind is None else self.errors.labels(key, kind),
            self.records.labels(key) if status == 200 else None,
        )
        self._answered[version, status] = children
        return children

    def log_state(self, predictions: Any) -> None:
        """The counters of a PredictionLog, as they are now (its writer calls this)."""
        self.log_buffered.set(predictions.buffered)
        self.log_written.set(predictions.logged)
        self.log_dropped.set(predictions.dropped)

    def render(self) -> bytes:
        """The text exposition of every metric (summed over workers in multiprocess mode)."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)


def _version_label(version: int | None) -> str:
    return "none" if version is None else str(version)
