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

Given an `events` folder, the log also keeps the service's events there, written at the same
flushes: each refused or failed request (`note`) and each batch of dropped rows, so that
`loopml monitor` can judge the error rate and the log's own losses of any window.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
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

    request_id: list[str] | str | Any  # one id for all rows, or one per row (a list or Arrow)
    model_version: int
    inputs: dict[str, Any]  # NumPy arrays, or Arrow arrays as `Columns.data` holds them
    outputs: dict[str, Any]
    latency_ms: float | None = None
    variant: str = "main"
    source: str = "serve"
    time: float = field(default_factory=time.time)
    numeric: frozenset[str] = frozenset()  # inputs logged as numbers; the others as text

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
        flush_rows: int = 16_384,
        capacity: int = 200_000,
        block_s: float = 0.05,
        events: Path | None = None,
        on_change: Callable[[PredictionLog], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.on_change = on_change  # called by the writer after each write and on a drop
        self.events = None if events is None else Path(events)
        self._events: list[tuple[float, str, int, str, int, int]] = []
        self.flush_s, self.flush_rows = flush_s, flush_rows
        self.capacity, self.block_s = capacity, block_s
        self.logged = 0  # rows written to disk
        self.dropped = 0  # rows refused because the buffer stayed full
        self.buffered = 0  # rows waiting to be written
        self._batches: deque[LogBatch] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._sequence = itertools.count(1)  # next() is atomic: flush() and the thread share it
        self._thread = threading.Thread(target=self._run, name="loopml-prediction-log", daemon=True)
        self._thread.start()

    def append(self, batch: LogBatch) -> bool:
        """Queue `batch`; False (and counted in `dropped`) if the buffer stayed full."""
        n = batch.rows
        with self._cond:
            if self._full(n):
                deadline = time.monotonic() + self.block_s
                while self._full(n) and not self._closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.notify_all()
                    self._cond.wait(left)
            dropped = self._full(n)
            if dropped:
                self.dropped += n
                self._event("", 0, "dropped", n, batch.model_version)
                log.warning("prediction log full: %d rows dropped (%d in all)", n, self.dropped)
            else:
                self._batches.append(batch)
                self.buffered += n
                if self.buffered >= self.flush_rows:
                    self._cond.notify_all()
        if dropped:
            self._changed()
        return not dropped

    def note(self, request_id: str, status: int, version: int | None) -> None:
        """Record a refused or failed request (an HTTP status >= 400) as a service event."""
        with self._cond:
            self._event(request_id, status, "refused" if status < 500 else "failed", 0, version)

    def _full(self, n: int) -> bool:
        # A batch larger than the whole buffer would never fit: it waits for an empty one.
        return self.buffered > 0 and self.buffered + n > self.capacity

    def flush(self) -> None:
        """Write everything buffered now (from the caller's thread)."""
        with self._cond:
            batches = list(self._batches)
            self._batches.clear()
        self._write(batches)

    def _event(self, request_id: str, status: int, kind: str, rows: int, version: Any) -> None:
        # Called with the lock held; events are few, so a list and one file per flush.
        if self.events is not None:
            version = -1 if version is None else int(version)
            self._events.append((time.time(), request_id, status, kind, rows, version))

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
        self._write_events()
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
                    self._event("", 0, "dropped", rows, version)
            else:
                with self._cond:
                    self.logged += rows
            with self._cond:
                self.buffered -= rows
                self._cond.notify_all()
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change(self)
            except Exception:  # a broken observer must not stop the log
                log.exception("the prediction log's observer failed")

    def _write_segment(self, version: int, batches: list[LogBatch]) -> None:
        self._write_file(_table(batches), self.folder / f"version={version}")

    def _write_file(self, table: Any, folder: Path) -> None:
        """Write under a temporary name, then rename: readers never see a torn file."""
        import pyarrow.parquet as pq

        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{os.getpid()}-{next(self._sequence)}.parquet"
        tmp = folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        tmp.replace(folder / name)

    def _write_events(self) -> None:
        with self._cond:
            events, self._events = self._events, []
        if not events or self.events is None:
            return
        import pyarrow as pa

        stamps, ids, statuses, kinds, rows, versions = zip(*events, strict=True)
        table = pa.table(
            {
                "time": pa.array((np.array(stamps) * 1e6).astype("int64")).cast(
                    pa.timestamp("us", tz="UTC")
                ),
                "request_id": pa.array(ids, pa.string()),
                "status": pa.array(statuses, pa.int32()),
                "kind": pa.array(kinds, pa.string()),
                "rows": pa.array(rows, pa.int64()),
                "model_version": pa.array(versions, pa.int64()),
            }
        )
        try:
            self._write_file(table, self.events)
        except OSError:
            log.exception("could not write %d service events", len(events))


def _table(batches: list[LogBatch]) -> Any:
    """One Arrow table of many batches: arrays joined first, so the cost is per column."""
    import pyarrow as pa

    sizes = [batch.rows for batch in batches]
    stamps = np.repeat([int(batch.time * 1_000_000) for batch in batches], sizes)
    columns: dict[str, Any] = {
        "request_id": _request_ids(batches, sizes),
        # A record's position in its request; rows with an id of their own (batch) are 0.
        "record": pa.array(
            np.concatenate(
                [
                    np.arange(n, dtype="int64")
                    if isinstance(b.request_id, str)
                    else np.zeros(n, "int64")
                    for b, n in zip(batches, sizes, strict=True)
                ]
            )
        ),
        "time": pa.array(stamps.astype("int64"), pa.timestamp("us", tz="UTC")),
        "model_version": pa.array(
            np.repeat([b.model_version for b in batches], sizes).astype("int64")
        ),
        "variant": _repeated([b.variant for b in batches], sizes),
        "source": _repeated([b.source for b in batches], sizes),
        "latency_ms": pa.array(
            np.repeat([np.nan if b.latency_ms is None else b.latency_ms for b in batches], sizes)
        ),
    }
    numeric = batches[0].numeric
    for name in batches[0].inputs:
        parts = [batch.inputs[name] for batch in batches]
        columns[INPUT_PREFIX + name] = _column(parts, name in numeric)
    for name in batches[0].outputs:
        columns[name] = _column([batch.outputs[name] for batch in batches], None)
    return pa.table(columns)


def _repeated(values: list[str], sizes: list[int]) -> Any:
    """Each batch's one text value repeated over its rows (few distinct values: a lookup)."""
    import pyarrow as pa

    distinct = {value: code for code, value in enumerate(dict.fromkeys(values))}
    codes = np.repeat([distinct[value] for value in values], sizes)
    return pa.array(list(distinct), pa.string()).take(pa.array(codes))


def _request_ids(batches: list[LogBatch], sizes: list[int]) -> Any:
    import pyarrow as pa

    if all(isinstance(batch.request_id, pa.Array) for batch in batches):
        return pa.concat_arrays([batch.request_id.cast(pa.string()) for batch in batches])
    ids: list[str] = []
    for batch, n in zip(batches, sizes, strict=True):
        if isinstance(batch.request_id, str):
            ids.extend([batch.request_id] * n)
        elif isinstance(batch.request_id, pa.Array):
            ids.extend(batch.request_id.to_pylist())
        else:
            ids.extend(batch.request_id)
    return pa.array(ids, pa.string())


def _column(parts: list[Any], numeric: bool | None) -> Any:
    """One logged column from its parts (NumPy or Arrow): numbers as float64, the rest as text
    the way the encoders read it. `numeric` None: numbers when the values are numbers."""
    import pyarrow as pa

    if not numeric and all(isinstance(part, pa.Array) and _is_text(part.type) for part in parts):
        return pa.concat_arrays([part.cast(pa.string()) for part in parts])
    values = _joined([_numpy(part) for part in parts])
    number = values.dtype.kind in "fiub" if numeric is None else numeric
    return pa.array(values.astype(np.float64, copy=False)) if number else _texts(values)


def _is_text(kind: Any) -> bool:
    """Arrow text, plain or dictionary-encoded: logged as it is (it is what the encoders read)."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _numpy(part: Any) -> np.ndarray:
    """A NumPy column, or an Arrow one as NumPy: inputs as `Columns[name]` gives them, outputs
    (class labels) as a pandas column of them gives them."""
    from loopml.features.columns import as_numpy

    if isinstance(part, np.ndarray):
        return part
    if hasattr(part, "dictionary"):
        return as_numpy(part)
    return np.asarray(part.to_numpy(zero_copy_only=False))


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    if len(arrays) == 1:
        return arrays[0]
    if len({a.dtype for a in arrays}) > 1 and any(a.dtype == object for a in arrays):
        arrays = [a.astype(object) for a in arrays]
    return np.concatenate(arrays)


def _texts(values: np.ndarray) -> Any:
    """Values as Arrow text (missing: null), written the way the encoders read them."""
    import pyarrow as pa

    from loopml.features.frames import category_texts

    if values.dtype.kind == "M":
        texts = values.astype("datetime64[us]").astype(str).astype(object)
        texts[np.isnat(values)] = None
        return pa.array(texts, pa.string())
    return pa.array(category_texts(np.asarray(values, dtype=object)), pa.string(), from_pandas=True)


def prediction_folder(project: Any) -> Path:
    """Where a project's prediction log lives: `<artifacts>/predictions/<project name>/`."""
    return Path(project.store.artifacts_root) / "predictions" / project.spec.name


def event_folder(project: Any) -> Path:
    """Where a project's service events live: `<artifacts>/events/<project name>/`."""
    return Path(project.store.artifacts_root) / "events" / project.spec.name


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
