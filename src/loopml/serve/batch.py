"""Batch scoring: stream a table through a model in chunks, in constant memory.

Each chunk is checked against the model's input signature; rows that fail are written with
their reasons (and their row number in the input) to a side file next to the output, never
dropped silently. The output holds the ID columns asked for, `prediction`, `proba_<class>`
per class for a classifier, and `model_version`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from loopml.data.sources import TableSource, read_source
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
    """Appends DataFrames to a CSV or Parquet file, written to a temporary name first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
            if self.path.suffix.lower() == ".parquet":
                self._parquet = pq.ParquetWriter(self.tmp, self._schema)
            else:
                self._csv = pacsv.CSVWriter(self.tmp, self._schema)
        table = table.cast(self._schema)  # every chunk in the first one's types
        (self._parquet or self._csv).write_table(table)
        self.rows += len(frame)

    def close(self, keep: bool) -> None:
        for writer in (self._parquet, self._csv):
            if writer is not None:
                writer.close()
        if keep and self.tmp.exists():
            self.tmp.replace(self.path)
        elif self.tmp.exists():
            self.tmp.unlink()


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
                compiled, signature, batches, output, version, ids, unknown, log
            ),
        )
    finally:
        if log is not None:
            log.close()


def _is_output(column: str) -> bool:
    return column == "prediction" or column.startswith("proba_")


def _score(
    model: Any,
    signature: Signature,
    batches: Any,
    output: Path,
    version: int | None,
    ids: list[str],
    unknown: str,
    log: PredictionLog | None = None,
) -> BatchSummary:
    summary = BatchSummary(output=str(output), model_version=version)
    job = uuid.uuid4().hex[:12]
    numeric = frozenset(c.name for c in signature.columns if c.role == "numeric")
    scored, rejected = _Writer(output), _Writer(rejected_path(output))
    done = False
    try:
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
            rows = np.arange(summary.rows, summary.rows + batch.num_rows)
            if valid.any():
                good = columns if valid.all() else columns.take(valid)
                out = model.prediction_frame(good)
                out.insert(0, "row", rows[valid])
                for position, name in enumerate(ids, start=1):
                    values = batch.column(name).to_numpy(zero_copy_only=False)
                    out.insert(position, name, values[valid])
                out["model_version"] = version
                scored.write(out)
                if log is not None:
                    if ids:
                        keys = [str(v) for v in out[ids[0]].tolist()]
                    else:
                        keys = [f"{job}-{row}" for row in rows[valid].tolist()]
                    outputs = {c: out[c].to_numpy() for c in out.columns if _is_output(c)}
                    log.append(
                        LogBatch(keys, version, good.data, outputs, source="score", numeric=numeric)
                    )
            if not valid.all():
                bad = batch.filter(pa.array(~valid)).to_pandas()
                bad.insert(0, "row", rows[~valid])
                bad["reason"] = checked.reasons.to_numpy()[~valid]
                rejected.write(bad)
            summary.rows += batch.num_rows
        done = True
    finally:
        scored.close(keep=done)
        rejected.close(keep=done)
    if summary.rows == 0:
        raise DataError("the input has no rows to score")
    summary.scored, summary.rejected = scored.rows, rejected.rows
    if rejected.rows:
        summary.rejected_file = str(rejected_path(output))
    else:
        rejected_path(output).unlink(missing_ok=True)  # a stale one from an earlier scoring
    if not scored.rows:
        # Nothing passed: still write an empty output with the columns, so callers find it.
        output.unlink(missing_ok=True)
    return summary
