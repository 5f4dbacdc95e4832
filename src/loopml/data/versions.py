"""Dataset versions: a canonical content hash, one Parquet snapshot, a metadata record."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loopml.data.sources import TableSource, read_source
from loopml.errors import DataError
from loopml.store import ArtifactRef, Store

# Version of the canonical form below; part of every hash, bumped if the form changes.
_CANONICAL_FORM = "loopml-table-v1"
ROW_GROUP_ROWS = 65_536


@dataclass(frozen=True)
class DatasetVersion:
    """A recorded dataset version (plain data, as stored)."""

    version: str
    kind: str
    parent_version: str | None
    source: dict[str, Any]
    operations: list[dict[str, Any]]
    n_rows: int
    n_columns: int
    columns: list[dict[str, Any]]
    artifact: ArtifactRef
    created_at: str

    @property
    def short(self) -> str:
        """The first 12 characters of the version id."""
        return self.version[:12]

    @property
    def column_names(self) -> list[str]:
        """Column names in table order."""
        return [c["name"] for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DatasetVersion:
        """Build from a `datasets` table row."""
        return cls(
            version=row["version"],
            kind=row["kind"],
            parent_version=row["parent_version"],
            source=row["source"],
            operations=row["operations"],
            n_rows=row["n_rows"],
            n_columns=row["n_columns"],
            columns=row["columns"],
            artifact=ArtifactRef.from_row(row),
            created_at=row["created_at"],
        )


def canonical_type(dtype: pa.DataType) -> pa.DataType:
    """The one Arrow type each family of types is stored and hashed as."""
    if pa.types.is_boolean(dtype):
        return pa.bool_()
    if pa.types.is_integer(dtype):
        return pa.int64()
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return pa.float64()
    if pa.types.is_timestamp(dtype):
        return pa.timestamp("us", tz="UTC" if dtype.tz else None)
    if pa.types.is_date(dtype):
        return pa.date32()
    if pa.types.is_dictionary(dtype):
        return canonical_type(dtype.value_type)
    if pa.types.is_null(dtype) or pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pa.string()
    if pa.types.is_time(dtype) or pa.types.is_duration(dtype):
        return pa.int64()
    raise DataError(
        f"column type {dtype} is not tabular (nested lists, maps and binary are not supported); "
        "flatten or drop that column"
    )


def canonicalize(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    """Cast a batch to the canonical schema, turning float NaN into nulls."""
    arrays = []
    for name, field in zip(batch.schema.names, schema, strict=True):
        array = batch.column(batch.schema.get_field_index(name))
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if pa.types.is_time(array.type) or pa.types.is_duration(array.type):
            array = array.view(pa.int64()) if array.type.bit_width == 64 else array.cast(pa.int64())
        array = array.cast(field.type)
        if pa.types.is_floating(field.type):
            array = pc.if_else(pc.is_nan(array), pa.scalar(None, field.type), array)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """The canonical schema for a source schema (names kept, types canonical)."""
    names = schema.names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"the table has repeated column names {dupes}; rename them")
    fields = []
    for f in schema:
        try:
            fields.append(pa.field(f.name, canonical_type(f.type)))
        except DataError as exc:
            raise DataError(f"column `{f.name}`: {exc.message}") from None
    return pa.schema(fields)


class ContentHasher:
    """sha256 of a table's canonical form, fed batch by batch; batch sizes do not matter."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.rows = 0
        # Per column: validity bytes, fixed-width values (or string lengths), string data.
        self._parts = [[hashlib.sha256() for _ in range(3)] for _ in schema]

    def update(self, batch: pa.RecordBatch) -> None:
        """Add a canonical batch."""
        self.rows += batch.num_rows
        for parts, array in zip(self._parts, batch.columns, strict=True):
            _hash_array(array, parts)

    def column_digests(self) -> list[str]:
        """One digest per column, equal for columns with equal type and values."""
        return [
            hashlib.sha256("".join(h.hexdigest() for h in parts).encode()).hexdigest()
            for parts in self._parts
        ]

    def hexdigest(self) -> str:
        """The table's version id."""
        header = json.dumps(
            {
                "form": _CANONICAL_FORM,
                "rows": self.rows,
                "columns": [[f.name, str(f.type)] for f in self.schema],
            },
            separators=(",", ":"),
        )
        total = hashlib.sha256(header.encode())
        for digest in self.column_digests():
            total.update(bytes.fromhex(digest))
        return total.hexdigest()


def _hash_array(array: pa.Array, parts: list[Any]) -> None:
    n = len(array)
    if array.null_count:
        valid = np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=np.bool_)
    else:
        valid = np.ones(n, dtype=np.bool_)
    parts[0].update(valid.tobytes())
    dtype = array.type
    if pa.types.is_string(dtype):
        if array.null_count:  # null slots may hold any bytes; validity is hashed above
            array = array.fill_null("")
        offsets = np.frombuffer(
            array.buffers()[1], dtype=np.int32, count=n + 1, offset=array.offset * 4
        )
        parts[1].update(np.diff(offsets).astype(np.int64).tobytes())
        data = array.buffers()[2]
        if data is not None and n:
            parts[2].update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
        return
    if pa.types.is_boolean(dtype):
        values = np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint8)
    else:
        width = dtype.bit_width // 8
        raw = np.frombuffer(
            array.buffers()[1], dtype=f"<i{width}", count=n, offset=array.offset * width
        )
        values = raw.copy() if array.null_count or pa.types.is_floating(dtype) else raw
        if array.null_count:
            values[~valid] = 0
        if pa.types.is_floating(dtype):
            as_float = values.view(np.float64)
            as_float[as_float == 0] = 0.0  # -0.0 and 0.0 are the same value
    parts[1].update(values.tobytes())


def require_column(name: str, names: list[str], where: str, what: str = "column") -> None:
    """Raise a DataError naming `name`, `where` and the closest match when it is absent."""
    if name in names:
        return
    raise DataError(f"{what} `{name}` is not in {where}{column_hint(name, names)}")


def column_hint(name: str, names: list[str]) -> str:
    """`; did you mean `x`?` for the closest of `names` to `name`, else the first names."""
    close = difflib.get_close_matches(name, names, n=1)
    shown = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
    return f"; did you mean `{close[0]}`?" if close else f"; columns: {shown}"


def snapshot(
    batches: Iterable[pa.RecordBatch],
    store: Store,
    *,
    on_rows: Callable[[int], None] | None = None,
    target: str | None = None,
    where: str = "the data",
) -> tuple[str, list[dict[str, Any]], int, ArtifactRef]:
    """Hash batches and write them to one Parquet artifact; return (version, columns, rows, ref).

    With `target`, the column must exist and hold a value, or nothing is stored.
    """
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        raise DataError(f"{where} returned no columns; it is not a table")
    schema = canonical_schema(first.schema)
    if target is not None:
        require_column(target, schema.names, where, "target column")
    labelled = 0
    hasher = ContentHasher(schema)
    with store.artifacts.staging_path(".parquet") as staging:
        with pq.ParquetWriter(staging, schema, compression="zstd") as writer:
            # Sources yield batches of any size; work in ~64k-row chunks (one row group each)
            # so per-batch overhead stays small and row groups stay a useful size.
            for chunk in _rechunk(_chain(first, iterator), ROW_GROUP_ROWS):
                canonical = canonicalize(chunk, schema)
                hasher.update(canonical)
                writer.write_batch(canonical)
                if target is not None:
                    column = canonical.column(schema.get_field_index(target))
                    labelled += len(column) - column.null_count
                if on_rows is not None:
                    on_rows(canonical.num_rows)
        if hasher.rows == 0:
            raise DataError(f"{where} has a header but no data rows; add rows")
        if target is not None and labelled == 0:
            raise DataError(
                f"target column `{target}` in {where} has no values; fill it or choose "
                "another target"
            )
        ref = store.artifacts.put_file(staging, suffix=".parquet", move=True)
    columns = [
        {"name": f.name, "type": str(f.type), "digest": digest}
        for f, digest in zip(schema, hasher.column_digests(), strict=True)
    ]
    return hasher.hexdigest(), columns, hasher.rows, ref


def _rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterable[pa.Table]:
    """Regroup batches into tables of about `rows` rows (the last may be smaller)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending).combine_chunks()
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending).combine_chunks()


def _chain(first: pa.RecordBatch, rest: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    yield first
    yield from rest


def version_source(
    source: TableSource,
    store: Store,
    *,
    on_rows: Callable[[int], None] | None = None,
    target: str | None = None,
) -> DatasetVersion:
    """Stream a source into the store as a raw dataset version (same content, same version)."""
    version, columns, rows, ref = read_source(
        source,
        lambda batches: snapshot(
            batches, store, on_rows=on_rows, target=target, where=source.description
        ),
    )
    return record_version(
        store,
        version=version,
        kind="raw",
        parent=None,
        source=source.lineage(),
        operations=[],
        columns=columns,
        rows=rows,
        ref=ref,
    )


def version_table(
    table: pa.Table,
    store: Store,
    *,
    kind: str,
    parent: str | None,
    source: dict[str, Any],
    operations: list[dict[str, Any]],
    operations_hash: str | None = None,
) -> DatasetVersion:
    """Store an in-memory table as a dataset version derived from `parent`."""
    version, columns, rows, ref = snapshot(table.to_batches(max_chunksize=65_536), store)
    return record_version(
        store,
        version=version,
        kind=kind,
        parent=parent,
        source=source,
        operations=operations,
        columns=columns,
        rows=rows,
        ref=ref,
        operations_hash=operations_hash,
    )


def record_version(
    store: Store,
    *,
    version: str,
    kind: str,
    parent: str | None,
    source: dict[str, Any],
    operations: list[dict[str, Any]],
    columns: list[dict[str, Any]],
    rows: int,
    ref: ArtifactRef,
    operations_hash: str | None = None,
) -> DatasetVersion:
    """Write the metadata row (if new) and return the stored version."""
    store.meta.add_dataset(
        {
            "version": version,
            "kind": kind,
            "parent_version": parent,
            "source": source,
            "operations": operations,
            "operations_hash": operations_hash,
            "n_rows": rows,
            "n_columns": len(columns),
            "columns": columns,
            **ref.as_row(),
        }
    )
    return DatasetVersion.from_row(store.meta.dataset(version))


def get_version(store: Store, ref: str) -> DatasetVersion:
    """A dataset version by id, prefix or `latest`."""
    return DatasetVersion.from_row(store.meta.dataset(ref))


def lineage(store: Store, version: DatasetVersion) -> list[DatasetVersion]:
    """The version followed by its parent, grandparent, … back to the raw source."""
    chain = [version]
    while chain[-1].parent_version is not None:
        chain.append(get_version(store, chain[-1].parent_version))
    return chain


def dataset_path(store: Store, version: DatasetVersion) -> Path:
    """The verified Parquet snapshot of a version."""
    return store.artifacts.verified_path(version.artifact)


def read_dataset(store: Store, version: DatasetVersion, columns: list[str] | None = None) -> Any:
    """Load a version (or some of its columns) as a pandas DataFrame."""
    table = pq.read_table(dataset_path(store, version), columns=columns)
    return table.to_pandas()
