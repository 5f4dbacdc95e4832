"""The prediction log: every prediction served or scored, in append-only Parquet segments.

    log = PredictionLog(folder)               # starts a background writer thread
    log.append(batch)                          # never waits on disk; see `append`
    log.close()                                # flushes everything (SIGTERM does this)
    table = read_log(folder, since=...)        # a pyarrow Table of the logged rows

A `LogBatch` is one request's (or one chunk's) rows: the request id, the model version and
variant, the input columns, the outputs and the latency. The writer thread turns buffered
batches into one Parquet file per model version every `flush_s` seconds (or sooner once
`flush_rows` are waiting): written under a temporary name and renamed, so a crash loses at
most the last interval and never leaves a torn file. Each process writes its own files
(`<time>-<pid>-<n>.parquet` under `version=<n>/`), so several workers share one folder.

The buffer is bounded (`capacity` rows). When it is full, `append` waits up to `block_s`
for the writer to make room, then drops the batch and counts it in `dropped`: the policy is
explicit and the counter is exported (it stays 0 in normal operation).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("loopml.monitor")

INPUT_PREFIX = "in."  # input columns are logged as `in.<column>`, outputs by their own names


@dataclass
class LogBatch:
    """Rows to log: one request or one chunk, all from one model version."""

    request_id: list[str] | str
    model_version: int
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    latency_ms: float | None = None
    variant: str = "main"
    source: str = "serve"
    time: float = field(default_factory=time.time)

    @property
    def rows(self) -> int:
        """How many rows the batch holds."""
        return len(next(iter(self.outputs.values()))) if self.outputs else 0


class PredictionLog:
    """A bounded buffer of LogBatches and the thread that writes them as Parquet segments."""

    def __init__(
        self,
        folder: Path,
        *,
        flush_s: float = 1.0,
        flush_rows: int = 50_000,
        capacity: int = 200_000,
        block_s: float = 0.05,
    ) -> None:
        self.folder = Path(folder)
        self.flush_s, self.flush_rows = flush_s, flush_rows
        self.capacity, self.block_s = capacity, block_s
        self.logged = 0  # rows written to disk
        self.dropped = 0  # rows refused because the buffer stayed full
        self.buffered = 0  # rows waiting to be written
        self._batches: deque[LogBatch] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._sequence = 0
        self._thread = threading.Thread(target=self._run, name="loopml-prediction-log", daemon=True)
        self._thread.start()

    def append(self, batch: LogBatch) -> bool:
        """Queue `batch`; False (and counted in `dropped`) if the buffer stayed full."""
        n = batch.rows
        with self._cond:
            if self.buffered + n > self.capacity:
                deadline = time.monotonic() + self.block_s
                while self.buffered + n > self.capacity and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.notify_all()
                    self._cond.wait(left)
                if self.buffered + n > self.capacity:
                    self.dropped += n
                    log.warning("prediction log full: %d rows dropped (%d in all)", n, self.dropped)
                    return False
            self._batches.append(batch)
            self.buffered += n
            if self.buffered >= self.flush_rows:
                self._cond.notify_all()
        return True

    def flush(self) -> None:
        """Write everything buffered now (from the caller's thread)."""
        with self._cond:
            batches = list(self._batches)
            self._batches.clear()
        self._write(batches)

    def close(self) -> None:
        """Stop the writer thread after it wrote everything buffered."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self.flush()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closing and self.buffered < self.flush_rows:
                    self._cond.wait(self.flush_s)
                batches = list(self._batches)
                self._batches.clear()
                closing = self._closing
            self._write(batches)
            if closing:
                return

    def _write(self, batches: list[LogBatch]) -> None:
        if not batches:
            return
        by_version: dict[int, list[LogBatch]] = {}
        for batch in batches:
            by_version.setdefault(batch.model_version, []).append(batch)
        for version, group in by_version.items():
            rows = sum(batch.rows for batch in group)
            try:
                self._write_segment(version, group)
            except Exception:  # a full disk must not take the server down: count and go on
                log.exception("could not write %d logged predictions", rows)
                with self._cond:
                    self.dropped += rows
            else:
                with self._cond:
                    self.logged += rows
            with self._cond:
                self.buffered -= rows
                self._cond.notify_all()

    def _write_segment(self, version: int, batches: list[LogBatch]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables([_table(batch) for batch in batches], promote_options="permissive")
        folder = self.folder / f"version={version}"
        folder.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{os.getpid()}-{self._sequence}.parquet"
        tmp = folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        tmp.replace(folder / name)


def _table(batch: LogBatch) -> Any:
    import pyarrow as pa

    from loopml.features.frames import category_texts

    n = batch.rows
    ids = batch.request_id
    columns: dict[str, Any] = {
        "request_id": pa.array([ids] * n if isinstance(ids, str) else ids, pa.string()),
        "record": pa.array(np.arange(n, dtype="int64")),  # position in its request
        "time": pa.array(np.full(n, int(batch.time * 1_000_000), dtype="int64"), pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "model_version": pa.array(np.full(n, batch.model_version, dtype="int64")),
        "variant": pa.array([batch.variant] * n, pa.string()),
        "source": pa.array([batch.source] * n, pa.string()),
        "latency_ms": pa.array(
            np.full(n, np.nan if batch.latency_ms is None else batch.latency_ms)
        ),
    }
    for name, values in batch.inputs.items():
        if values.dtype.kind in "fiu":
            columns[INPUT_PREFIX + name] = pa.array(values.astype(np.float64))
        elif values.dtype.kind == "M":
            columns[INPUT_PREFIX + name] = pa.array(values.astype("datetime64[us]").astype(str))
        else:  # text, categories, booleans and dates as given: one stable type per column
            texts = category_texts(np.asarray(values, dtype=object))
            columns[INPUT_PREFIX + name] = pa.array(
                [t if isinstance(t, str) else None for t in texts.tolist()], pa.string()
            )
    for name, values in batch.outputs.items():
        values = np.asarray(values)
        if values.dtype == object:
            columns[name] = pa.array([None if v is None else str(v) for v in values.tolist()])
        else:
            columns[name] = pa.array(values)
    return pa.table(columns)


def prediction_folder(project: Any) -> Path:
    """Where a project's prediction log lives: `<artifacts>/predictions/<project name>/`."""
    return Path(project.store.artifacts_root) / "predictions" / project.spec.name


def read_log(
    folder: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    columns: list[str] | None = None,
) -> Any:
    """The logged rows (a pyarrow Table) in [since, until), of one version if given."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    root = Path(folder)
    if version is not None:
        root = root / f"version={version}"
    files = sorted(p for p in root.rglob("*.parquet") if not p.name.startswith("."))
    if not files:
        return pa.table({})
    import pyarrow.parquet as pq

    # Segments of different versions may hold different columns: read them all as one.
    schema = pa.unify_schemas(
        [pq.read_schema(path) for path in files], promote_options="permissive"
    )
    dataset = ds.dataset(files, schema=schema, format="parquet", partitioning=None)
    condition = None
    if since is not None:
        condition = ds.field("time") >= pa.scalar(since, pa.timestamp("us", tz="UTC"))
    if until is not None:
        before = ds.field("time") < pa.scalar(until, pa.timestamp("us", tz="UTC"))
        condition = before if condition is None else condition & before
    names = None if columns is None else [c for c in columns if c in dataset.schema.names]
    return dataset.to_table(columns=names, filter=condition)
