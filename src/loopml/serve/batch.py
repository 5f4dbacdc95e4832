"""Batch scoring: stream a table through a model in chunks, in constant memory.

Each chunk is checked against the model's input signature; rows that fail are written with
their reasons (and their row number in the input) to a side file next to the output, never
dropped silently. The output holds the ID columns asked for, `prediction`, `proba_<class>`
per class for a classifier, and `model_version`.
"""

from __future__ import annotations

import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from loopml.data.sources import BATCH_ROWS, TableSource, read_source
from loopml.errors import DataError, UsageError
from loopml.features.columns import Columns
from loopml.monitor.log import LogBatch, PredictionLog
from loopml.registry.signature import Signature

OUTPUT_SUFFIXES = (".csv", ".parquet")


@dataclass
class BatchSummary:
    """What a batch scoring did: rows read, scored and rejected, and where they went."""

    rows: int = 0
    scored: int = 0
    rejected: int = 0
    output: str = ""
    rejected_file: str | None = None
    out_of_range: dict[str, int] = field(default_factory=dict)
    model_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        return dict(self.__dict__)


def rejected_path(output: Path) -> Path:
    """Where the rows that fail the signature go: `<output>.rejected<suffix>`."""
    return output.with_name(f"{output.stem}.rejected{output.suffix}")


def check_output(path: Path) -> Path:
    """`path` if predictions can be written there; a clear error otherwise."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise UsageError(
            f"output {path} has extension {suffix or '(none)'!r}; use .csv or .parquet"
        )
    if not path.parent.exists():
        raise DataError(f"the folder of output {path} does not exist; create it first")
    return path


class _Writer:
    """Appends Arrow tables to a CSV or Parquet file, written to a temporary name first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema
            if self.path.suffix.lower() == ".parquet":
                # Dictionary pages only where they pay: hashing every probability costs more
                # than the rest of the writing and saves nothing.
                texts = [f.name for f in table.schema if not _is_number(f.type)]
                self._parquet = pq.ParquetWriter(self.tmp, self._schema, use_dictionary=texts)
            else:
                self._csv = pacsv.CSVWriter(self.tmp, self._schema)
        if table.schema != self._schema:
            table = table.cast(self._schema)  # every chunk in the first one's types
        (self._parquet or self._csv).write_table(table)
        self.rows += table.num_rows

    def close(self, keep: bool) -> None:
        for writer in (self._parquet, self._csv):
            if writer is not None:
                writer.close()
        if keep and self.tmp.exists():
            self.tmp.replace(self.path)
        elif self.tmp.exists():
            self.tmp.unlink()


class _Rejected(_Writer):
    """The rows that fail the signature with their row number and reason, gathered over chunks
    and written a group at a time: each group goes through pandas once (so the file's column
    types are what pandas gives the input's), which costs the same for 10 rows as for 10,000."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._pending: list[tuple[pa.RecordBatch, np.ndarray, np.ndarray]] = []
        self._count = 0

    def add(self, batch: pa.RecordBatch, rows: np.ndarray, reasons: np.ndarray) -> None:
        self._pending.append((batch, rows, reasons))
        self._count += batch.num_rows
        if self._count >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        batches, rows, reasons = zip(*self._pending, strict=True)
        self._pending, self._count = [], 0
        bad = pa.Table.from_batches(batches).to_pandas()
        bad.insert(0, "row", np.concatenate(rows))
        bad["reason"] = np.concatenate(reasons)
        self.write(pa.Table.from_pandas(bad, preserve_index=False))

    def close(self, keep: bool) -> None:
        if keep:
            self.flush()
        super().close(keep)


def score_source(
    model: Any,
    signature: Signature,
    source: TableSource,
    output: Path,
    *,
    version: int | None = None,
    id_columns: list[str] | None = None,
    unknown: str = "allow",
    log_folder: Path | None = None,
) -> BatchSummary:
    """Score every row of `source` into `output` (CSV or Parquet), chunk by chunk.

    With `log_folder`, every scored row also goes to the prediction log (source "score"),
    its request id the first ID column's value, else `<job>-<row>`.
    """
    from loopml.models.compiled import compile_model

    check_output(output)
    ids = list(id_columns or [])
    compiled = compile_model(model)
    log = None
    if log_folder is not None and version is not None:
        log = PredictionLog(log_folder, block_s=3600.0)  # a batch waits rather than drops
    try:
        return read_source(
            source,
            lambda batches: _score(
                compiled, signature, batches, output, version, ids, unknown, log, source.plain
            ),
            dictionary=True,
        )
    finally:
        if log is not None:
            log.close()


def _score(
    model: Any,
    signature: Signature,
    batches: Any,
    output: Path,
    version: int | None,
    ids: list[str],
    unknown: str,
    log: PredictionLog | None = None,
    plain: Any = None,
) -> BatchSummary:
    summary = BatchSummary(output=str(output), model_version=version)
    job = uuid.uuid4().hex[:12]
    numeric = frozenset(c.name for c in signature.columns if c.role == "numeric")
    labels = _labels(model)
    scored, rejected = _Writer(output), _Rejected(rejected_path(output))

    def finish(chunk: _Chunk) -> None:
        outputs = chunk.outputs.result()
        table = _scored_table(chunk.rows, chunk.passed, outputs, version)
        if not scored.rows:
            table = table.replace_schema_metadata(_pandas_metadata(table, labels))
        scored.write(table)
        if log is not None:
            keys = chunk.keys
            if keys is None:
                keys = pc.binary_join_element_wise(
                    job, pc.cast(pa.array(chunk.rows), pa.string()), "-"
                )
            log.append(
                LogBatch(keys, version, chunk.inputs, outputs, source="score", numeric=numeric)
            )

    done = False
    # The model predicts a chunk on a thread of its own (the booster lets go of the GIL)
    # while this one reads and checks the next and writes the one before.
    pending: deque[_Chunk] = deque()
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-score") as pool:
            for batch in batches:
                names = batch.schema.names
                missing = [name for name in ids if name not in names]
                if missing:
                    raise DataError(
                        f"the input has no ID column(s) {', '.join(missing)} to pass through"
                    )
                present = [name for name in signature.names if name in names]
                columns = Columns.from_arrow(batch, present)  # check() names any missing one
                checked = signature.check(columns, unknown=unknown)
                for name, count in checked.out_of_range.items():
                    summary.out_of_range[name] = summary.out_of_range.get(name, 0) + count
                valid = checked.valid
                everything = bool(valid.all())
                rows = np.arange(summary.rows, summary.rows + batch.num_rows)
                if everything or valid.any():
                    good = columns if everything else columns.take(valid)
                    mask = None if everything else pa.array(valid)
                    pending.append(
                        _Chunk(
                            pool.submit(_outputs, model, good, labels),
                            rows[valid],
                            {name: _passed(batch.column(name), mask) for name in ids},
                            good.data,
                            _request_ids(batch.column(ids[0]), mask) if ids and log else None,
                        )
                    )
                if not everything:
                    bad = batch.filter(pa.array(~valid))
                    reasons = checked.reasons.to_numpy()[~valid]
                    rejected.add(bad if plain is None else plain(bad), rows[~valid], reasons)
                summary.rows += batch.num_rows
                while len(pending) > 1:
                    finish(pending.popleft())
            while pending:
                finish(pending.popleft())
        if not scored.rows and summary.rows:
            # Nothing passed: still an output, with its columns and no rows, so callers find it.
            scored.write(_empty_output(batch.schema, ids, labels, model.classes, version))
        done = True
    finally:
        for chunk in pending:
            chunk.outputs.cancel()
        scored.close(keep=done)
        rejected.close(keep=done)
    if summary.rows == 0:
        raise DataError("the input has no rows to score")
    summary.scored, summary.rejected = scored.rows, rejected.rows
    if rejected.rows:
        summary.rejected_file = str(rejected_path(output))
    else:
        rejected_path(output).unlink(missing_ok=True)  # a stale one from an earlier scoring
    return summary


@dataclass
class _Chunk:
    """One chunk's scored rows: their outputs (being predicted), row numbers, ID columns,
    inputs and logged request ids (None: made from the row numbers)."""

    outputs: Future[dict[str, Any]]
    rows: np.ndarray
    passed: dict[str, pa.Array]
    inputs: dict[str, Any]
    keys: Any


def _empty_output(
    schema: pa.Schema, ids: list[str], labels: pa.Array | None, classes: Any, version: int | None
) -> pa.Table:
    """The output's columns, typed as a scored chunk's, with no rows."""
    nothing = np.zeros(0, np.intp)
    passed = {name: _passed(pa.array([], schema.field(name).type), None) for name in ids}
    if labels is None:
        outputs: dict[str, Any] = {"prediction": np.zeros(0, np.float64)}
    else:
        outputs = {"prediction": labels.take(pa.array(nothing))}
        outputs |= {f"proba_{value}": np.zeros(0, np.float64) for value in classes}
    table = _scored_table(nothing, passed, outputs, version)
    return table.replace_schema_metadata(_pandas_metadata(table, labels))


def _labels(model: Any) -> pa.Array | None:
    """The class labels as Arrow, typed as pandas would type a column of them."""
    if model.classes is None:
        return None
    return pa.array(pd.array(list(model.classes)))


def _outputs(model: Any, good: Columns, labels: pa.Array | None) -> dict[str, Any]:
    """`prediction` (Arrow labels for a classifier) and `proba_<class>` per class."""
    if labels is None:
        return {"prediction": np.asarray(model.predict(good), dtype=np.float64)}
    proba = model.predict_proba(good)
    outputs: dict[str, Any] = {"prediction": labels.take(pa.array(model.decision(proba)))}
    for j, value in enumerate(model.classes):
        outputs[f"proba_{value}"] = proba[:, j]
    return outputs


def _scored_table(
    rows: np.ndarray, passed: dict[str, pa.Array], outputs: dict[str, Any], version: int | None
) -> pa.Table:
    n = len(rows)
    columns: dict[str, Any] = {"row": pa.array(rows.astype(np.int64))}
    columns |= passed
    columns |= {name: pa.array(values) for name, values in outputs.items()}
    versions = pa.nulls(n) if version is None else pa.array(np.full(n, version, np.int64))
    columns["model_version"] = versions
    return pa.table(columns)


def _pandas_metadata(table: pa.Table, labels: pa.Array | None) -> dict[bytes, bytes]:
    """The pandas metadata of the output as DataFrames wrote it, so that pandas reads the
    columns back in the same dtypes (labels as `pd.array` types them)."""
    frame = {name: table.column(name).to_numpy() for name in table.column_names}
    if labels is not None:  # pd.array types labels by their Python type: the classes' type
        frame["prediction"] = pd.array(labels.to_pylist())[np.zeros(table.num_rows, np.intp)]
    return pa.Schema.from_pandas(pd.DataFrame(frame), preserve_index=False).metadata


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind)


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _passed(column: pa.Array, mask: pa.Array | None) -> pa.Array:
    """An ID column of the scored rows, typed as before Arrow wrote the output directly (text
    as large_string; other types as a pandas column of them)."""
    column = column if mask is None else column.filter(mask)
    if _is_text(column.type):
        return column.cast(pa.large_string())
    return pa.Array.from_pandas(pd.Series(column.to_numpy(zero_copy_only=False)))


def _request_ids(column: pa.Array, mask: pa.Array | None) -> pa.Array | list[str]:
    """The logged request ids of the scored rows: their first ID column's values as text."""
    column = column if mask is None else column.filter(mask)
    if _is_text(column.type):
        return pc.fill_null(column.cast(pa.string()), "nan")  # what str() of a missing one gave
    return [str(value) for value in pd.Series(column.to_numpy(zero_copy_only=False)).tolist()]
