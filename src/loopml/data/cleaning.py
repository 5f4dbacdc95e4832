"""Cleaning: the spec's choices, applied reproducibly, recorded as a derived dataset version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.data.findings import Finding
from loopml.data.stats import ColumnStats
from loopml.data.versions import (
    DatasetVersion,
    dataset_path,
    get_version,
    record_version,
    snapshot,
)
from loopml.spec import ProjectSpec
from loopml.store import Store


def plan_cleaning(
    spec: ProjectSpec,
    stats: list[ColumnStats],
    findings: list[Finding],
    duplicate_rows: int,
    missing_target: int,
) -> list[dict[str, Any]]:
    """The cleaning operations the spec asks for, given what the profile found.

    `missing_target` counts the unlabelled rows left after dropping duplicates."""
    cleaning = spec.cleaning
    roles = {s.name: s.role for s in stats}
    ops: list[dict[str, Any]] = []
    dropped: set[str] = set()

    # The target and the split's group / time columns stay, whatever their role.
    keep = {spec.target, spec.split.group_column, spec.split.time_column}
    if spec.fairness is not None:  # kept for the checks, even when out of the features
        keep.update(spec.fairness.sensitive)

    def drop(columns: list[str], reason: str) -> None:
        chosen = [c for c in columns if c not in dropped and c not in keep]
        if chosen:
            dropped.update(chosen)
            ops.append({"op": "drop_columns", "reason": reason, "columns": chosen})

    drop(list(cleaning.drop_columns), "listed in cleaning.drop_columns")
    if cleaning.drop_identifier_columns:
        drop([c for c, r in roles.items() if r == "identifier"], "identifier")
    if cleaning.drop_constant_columns:
        drop([c for c, r in roles.items() if r == "constant"], "constant")
    if cleaning.drop_leaking_columns:
        leaks = [c for f in findings if f.check == "target_leakage" for c in f.columns]
        drop(leaks, "target leakage")
    if cleaning.drop_duplicate_rows and duplicate_rows:
        ops.append({"op": "drop_duplicate_rows", "rows_removed": duplicate_rows})
    if cleaning.drop_missing_target and missing_target:
        ops.append({"op": "drop_missing_target", "rows_removed": missing_target})
    return ops


def operations_hash(raw: DatasetVersion, ops: list[dict[str, Any]]) -> str:
    """Identity of (parent version, operations): the cache key of a cleaned version."""
    payload = json.dumps({"parent": raw.version, "ops": ops}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def apply_cleaning(
    store: Store,
    raw: DatasetVersion,
    ops: list[dict[str, Any]],
    keep_rows: np.ndarray,
) -> DatasetVersion:
    """Write the cleaned version (or return `raw` when there is nothing to do)."""
    if not ops:
        return raw
    key = operations_hash(raw, ops)
    existing = store.meta.cleaned_child(raw.version, key)
    if existing is not None and store.artifacts.exists(DatasetVersion.from_row(existing).artifact):
        return DatasetVersion.from_row(existing)
    dropped = {c for op in ops if op["op"] == "drop_columns" for c in op["columns"]}
    columns = [c for c in raw.column_names if c not in dropped]
    version, cols, rows, ref = snapshot(_filtered(store, raw, columns, keep_rows), store)
    record_version(
        store,
        version=version,
        kind="cleaned",
        parent=raw.version,
        source={"kind": "cleaning", "description": f"cleaned from {raw.short}"},
        operations=ops,
        columns=cols,
        rows=rows,
        ref=ref,
        operations_hash=key,
    )
    return get_version(store, version)


def _filtered(
    store: Store, raw: DatasetVersion, columns: list[str], keep_rows: np.ndarray
) -> Iterator[pa.RecordBatch]:
    parquet = pq.ParquetFile(dataset_path(store, raw))
    offset = 0
    for batch in parquet.iter_batches(batch_size=65_536, columns=columns):
        mask = keep_rows[offset : offset + batch.num_rows]
        offset += batch.num_rows
        yield batch.filter(pa.array(mask))
