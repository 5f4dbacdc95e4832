"""Data sources: CSV, Parquet, JSON Lines and SQL, read as a stream of Arrow batches."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from loopml.errors import DataError
from loopml.spec import DataSource
from loopml.urls import redact_url, sqlite_url_in

T = TypeVar("T")
BATCH_ROWS = 65_536
_CSV_BLOCK = 256 << 10  # small blocks: pyarrow reads many blocks ahead
_CSV_INFERENCE_BLOCK = 8 << 20
_SNIFF_BYTES = 256 << 10
_NULLS = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "#N/A", "-NaN", "-nan"]
_CONVERSION = re.compile(r"In CSV column #(\d+): .*CSV conversion error")


@dataclass
class TableSource:
    """A readable table: where it is, how to read it, and its Arrow schema."""

    spec: DataSource
    root: Path
    description: str
    _csv_options: dict[str, Any] = field(default_factory=dict)
    _forced_strings: set[str] = field(default_factory=set)
    _csv_schema: pa.Schema | None = None
    _dictionary_read: dict[str, pa.DataType] = field(default_factory=dict)
    origin: str | None = "data"  # the spec section it comes from; None: a command's argument

    @property
    def kind(self) -> str:
        """csv, parquet, jsonl or sql."""
        return self.spec.kind

    @property
    def path(self) -> Path | None:
        """The resolved file path (None for SQL)."""
        return _resolve(self.spec.path, self.root) if self.spec.path else None

    def lineage(self) -> dict[str, Any]:
        """What to record about the source in a dataset version."""
        info: dict[str, Any] = {"kind": self.kind, "description": self.description}
        if self.path is not None:
            info["path"] = str(self.path)
        if self.kind == "csv":
            info.update(self._csv_options)
        if self.kind == "sql":
            info.update(
                url=redact_url(self.spec.url or ""), table=self.spec.table, query=self.spec.query
            )
        return info

    def batches(self, *, dictionary: bool = False) -> Iterator[pa.RecordBatch]:
        """Yield the table as Arrow record batches, all with one schema.

        `dictionary`: read Parquet text columns as Arrow dictionaries (cheaper, and what
        `Columns` keeps); `plain` turns them back. Other formats ignore it.
        """
        if self.kind == "parquet":
            yield from self._parquet_batches(dictionary)
            return
        reader = {
            "csv": self._csv_batches,
            "jsonl": self._jsonl_batches,
            "sql": self._sql_batches,
        }[self.kind]
        yield from reader()

    def plain(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """`batch` with the columns `batches(dictionary=True)` read as dictionaries in their
        own types again."""
        if not self._dictionary_read:
            return batch
        schema = pa.schema(
            [
                f.with_type(self._dictionary_read[f.name]) if f.name in self._dictionary_read else f
                for f in batch.schema
            ],
            metadata=batch.schema.metadata,
        )
        return batch.cast(schema)

    # CSV --------------------------------------------------------------------------------
    def _open_csv(self, block_size: int, column_types: dict[str, pa.DataType]) -> Any:
        opts = self._csv_options
        try:
            return pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(encoding=opts["encoding"], block_size=block_size),
                parse_options=pacsv.ParseOptions(
                    delimiter=opts["delimiter"], newlines_in_values=True
                ),
                convert_options=pacsv.ConvertOptions(
                    null_values=_NULLS, strings_can_be_null=True, column_types=column_types
                ),
            )
        except pa.ArrowInvalid as exc:
            raise self._csv_error(exc) from exc

    def _csv_types(self) -> dict[str, pa.DataType]:
        """Column types inferred from the first 8 MiB (all-empty columns read as text)."""
        if self._csv_schema is None:
            schema = self._probe_schema()
            binary = [f.name for f in schema if pa.types.is_binary(f.type)]
            if binary:
                raise self._encoding_error(binary[0])
            self._csv_schema = pa.schema(
                [
                    pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type)
                    for f in schema
                ]
            )
        return {f.name: f.type for f in self._csv_schema}

    def _probe_schema(self) -> pa.Schema:
        # Parse a prefix cut at a line end ourselves: opening pyarrow's streaming reader with
        # large blocks would read far ahead into the file.
        opts = self._csv_options
        forced = {name: pa.string() for name in self._forced_strings}
        with open(self.path, "rb") as handle:  # type: ignore[arg-type]
            head = handle.read(_CSV_INFERENCE_BLOCK + 1)
        whole = len(head) <= _CSV_INFERENCE_BLOCK
        try:  # an incremental decoder keeps a character cut by the prefix's end for later
            text = codecs.getincrementaldecoder(opts["encoding"])().decode(head, final=whole)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{self.path}: the bytes at offset {exc.start} are not valid "
                f"{opts['encoding']}; {_advice(self.origin, 'encoding')}"
            ) from exc
        for _attempt in range(4):
            if not whole:
                text = text[: text.rfind("\n") + 1] or text
            try:
                table = pacsv.read_csv(
                    io.BytesIO(text.encode("utf-8")),
                    parse_options=pacsv.ParseOptions(
                        delimiter=opts["delimiter"], newlines_in_values=True
                    ),
                    convert_options=pacsv.ConvertOptions(
                        null_values=_NULLS, strings_can_be_null=True, column_types=forced
                    ),
                )
                return table.schema
            except pa.ArrowInvalid as exc:
                if whole or "Expected" not in str(exc):
                    raise self._csv_error(exc) from exc
                text = text[: len(text) // 2]  # the cut may have split a quoted field
        raise DataError(f"{self.path}: cannot infer column types from its first rows")

    def _csv_batches(self) -> Iterator[pa.RecordBatch]:
        # Types come from the first 8 MiB; the file then streams in small blocks (bounded
        # memory). A later block that does not fit a type (text in a numeric column) makes
        # that column text and raises SchemaChanged: the consumer starts over.
        reader = self._open_csv(_CSV_BLOCK, self._csv_types())
        try:
            yield from reader
        except pa.ArrowInvalid as exc:
            match = _CONVERSION.search(str(exc))
            if match is None:
                raise self._csv_error(exc) from exc
            name = reader.schema.names[int(match[1])]
            if name in self._forced_strings or "invalid UTF8" in str(exc):
                raise self._encoding_error(name) from exc
            self._forced_strings.add(name)
            self._csv_schema = None
            raise SchemaChanged(name) from exc

    def _encoding_error(self, column: str) -> DataError:
        return DataError(
            f"{self.path}: column `{column}` holds bytes that are not valid "
            f"{self._csv_options['encoding']}; {_advice(self.origin, 'encoding')}"
        )

    def _csv_error(self, exc: Exception) -> DataError:
        text = str(exc)
        if "Expected" in text and "columns" in text:
            row = _find_ragged_row(self.path, self._csv_options)
            where = f" at line {row[0]}" if row else ""
            detail = f" (expected {row[1]} fields, found {row[2]})" if row else ""
            return DataError(
                f"{self.path}{where} has a different number of fields than the header{detail}; "
                f"fix that row or {_advice(self.origin, 'delimiter')}"
            )
        if "Empty CSV file" in text:
            return DataError(f"{self.path} is empty; give a file with a header row and data rows")
        return DataError(f"{self.path} cannot be read as CSV: {text.splitlines()[0]}")

    # Parquet / JSON Lines / SQL ---------------------------------------------------------
    def _parquet_batches(self, dictionary: bool = False) -> Iterator[pa.RecordBatch]:
        try:
            parquet = pq.ParquetFile(self.path)
            self._dictionary_read = {
                f.name: f.type
                for f in parquet.schema_arrow
                if dictionary and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
            }
            if self._dictionary_read:
                parquet = pq.ParquetFile(self.path, read_dictionary=list(self._dictionary_read))
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{self.path} is not a readable Parquet file: {exc}") from exc
        yield from parquet.iter_batches(batch_size=BATCH_ROWS)

    def _jsonl_batches(self) -> Iterator[pa.RecordBatch]:
        try:
            reader = pajson.open_json(
                self.path, read_options=pajson.ReadOptions(block_size=_CSV_BLOCK)
            )
            yield from reader
        except pa.ArrowInvalid as exc:
            line = _find_bad_json_line(self.path)
            where = f" at line {line}" if line else ""
            raise DataError(
                f"{self.path}{where} is not valid JSON Lines (one JSON object per line): "
                f"{str(exc).splitlines()[0]}"
            ) from exc

    def _sql_batches(self) -> Iterator[pa.RecordBatch]:
        import pandas as pd
        import sqlalchemy as sa

        engine = _sql_engine(self.spec.url or "")
        query = (
            sa.text(self.spec.query.strip().rstrip(";"))
            if self.spec.query
            else sa.select(sa.text("*")).select_from(sa.table(self.spec.table))
        )
        schema: pa.Schema | None = None
        try:
            with engine.connect() as conn:
                for chunk in pd.read_sql(query, conn, chunksize=BATCH_ROWS):
                    table = pa.Table.from_pandas(chunk, preserve_index=False)
                    if schema is None:
                        schema = pa.schema(
                            [
                                pa.field(
                                    f.name, pa.string() if pa.types.is_null(f.type) else f.type
                                )
                                for f in table.schema
                            ]
                        )
                    yield from _unify(table, schema).to_batches()
        except sa.exc.SQLAlchemyError as exc:
            raise DataError(
                f"SQL source {self.description} failed: {str(exc.orig or exc).splitlines()[0]}; "
                "check `data.table` / `data.query` in loopml.yaml"
            ) from exc
        finally:
            engine.dispose()


class SchemaChanged(Exception):
    """A CSV column needs a wider type than its first rows suggested: read the source again."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def read_source(
    source: TableSource,
    consume: Callable[[Iterator[pa.RecordBatch]], T],
    *,
    dictionary: bool = False,
) -> T:
    """`consume(batches)`, started over whenever the source's schema has to widen."""
    while True:
        try:
            return consume(source.batches(dictionary=dictionary))
        except SchemaChanged:
            continue


def read_table(source: TableSource) -> pa.Table:
    """The whole source as one Arrow table (for small sources and tests)."""
    return read_source(source, lambda batches: pa.Table.from_batches(list(batches)))


def open_source(spec: DataSource, root: Path, *, origin: str | None = "data") -> TableSource:
    """Check that the source exists and looks like a table; sniff CSV dialect and encoding.

    `origin` names the spec section the source comes from, for the advice in error messages
    (`data`, `retrain.data`); None when a command's argument named the file.
    """
    if spec.kind == "sql":
        url = sqlite_url_in(spec.url or "", root)
        spec = spec.model_copy(update={"url": url})
        engine = _sql_engine(url)
        what = f"query {spec.query!r}" if spec.query else f"table {spec.table!r}"
        source = TableSource(spec, root, f"{what} at {redact_url(url)}", origin=origin)
        _check_sql(engine, source)
        return source
    path = _resolve(spec.path or "", root)
    if not path.exists():
        raise DataError(f"data file {path} does not exist; {_advice(origin, 'path')}")
    if path.is_dir():
        raise DataError(f"data path {path} is a folder; {_advice(origin, 'file')}")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty; give a file with a header row and data rows")
    source = TableSource(spec, root, str(path), origin=origin)
    if spec.kind == "csv":
        source._csv_options = _sniff_csv(path, spec, origin)
    elif spec.kind == "parquet":
        with open(path, "rb") as handle:
            if handle.read(4) != b"PAR1":
                raise DataError(
                    f"{path} is not a Parquet file (no PAR1 header); {_advice(origin, 'format')}"
                )
    return source


def _advice(origin: str | None, key: str) -> str:
    """How to fix a source problem: a spec key when the spec named the source, else the file."""
    if origin is None:
        return _FILE_ADVICE[key]
    return _SPEC_ADVICE[key].replace("`data.", f"`{origin}.")


_SPEC_ADVICE = {
    "path": "check `data.path` in loopml.yaml",
    "file": "point `data.path` at a file",
    "format": "set `data.format` to match the file",
    "binary": "set `data.format` if it is Parquet",
    "encoding": "set `data.encoding` in loopml.yaml (e.g. latin-1, cp1252)",
    "delimiter": "set `data.delimiter` in loopml.yaml",
}
_FILE_ADVICE = {
    "path": "check the path given on the command line",
    "file": "give a file, not a folder",
    "format": "give the file the extension of its format (.csv, .parquet, .jsonl)",
    "binary": "give a Parquet file a .parquet extension",
    "encoding": "save the file as UTF-8",
    "delimiter": "save it with one delimiter throughout",
}


def _sniff_csv(path: Path, spec: DataSource, origin: str | None = "data") -> dict[str, Any]:
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(
            f"{path} looks like a binary file, not a table; {_advice(origin, 'binary')}"
        )
    encoding = spec.encoding or _sniff_encoding(head)
    try:
        text = head.decode(encoding, errors="strict" if len(head) < _SNIFF_BYTES else "ignore")
    except (UnicodeDecodeError, LookupError) as exc:
        raise DataError(
            f"{path} cannot be decoded as {encoding}; {_advice(origin, 'encoding')}"
        ) from exc
    text = text.lstrip("\ufeff")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"data file {path} has no rows; give a header row and data rows")
    delimiter = spec.delimiter or _sniff_delimiter(lines[:50])
    header = next(csv.reader([lines[0]], delimiter=delimiter))
    if len(lines) < 2:
        raise DataError(f"{path} has a header but no data rows; add data rows")
    if len(header) < 2:
        raise DataError(
            f"{path} has a single column after splitting on {delimiter!r}; it is not a table, "
            f"or {_advice(origin, 'delimiter')}"
        )
    dupes = sorted({name for name in header if header.count(name) > 1})
    if dupes:
        raise DataError(f"{path} has repeated column names {dupes}; rename them so each is unique")
    if any(not name.strip() for name in header):
        position = next(i + 1 for i, name in enumerate(header) if not name.strip())
        raise DataError(f"{path}: header column {position} has no name; name every column")
    return {"delimiter": delimiter, "encoding": encoding}


def _sniff_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sample's end
            return "utf-8"
        return "cp1252" if _decodes(head, "cp1252") else "latin-1"


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _sniff_delimiter(lines: list[str]) -> str:
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in ",;\t|"}
        return max(counts, key=counts.get) if max(counts.values()) else ","


def _find_ragged_row(path: Path | None, options: dict[str, Any]) -> tuple[int, int, int] | None:
    if path is None:
        return None
    with open(path, encoding=options.get("encoding", "utf-8"), errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=options.get("delimiter", ","))
        width = None
        for row in reader:
            if not row:
                continue
            if width is None:
                width = len(row)
            elif len(row) != width:
                return reader.line_num, width, len(row)
    return None


def _find_bad_json_line(path: Path | None) -> int | None:
    import json

    if path is None:
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                if not isinstance(json.loads(line), dict):
                    return number
            except ValueError:
                return number
    return None


def _sql_engine(url: str) -> Any:
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
        file_db = parsed.get_backend_name() == "sqlite" and parsed.database not in (
            None,
            "",
            ":memory:",
        )
        if file_db and not Path(parsed.database).exists():
            raise DataError(
                f"SQLite file {parsed.database} in `data.url` does not exist; check the path"
            )
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as exc:
        raise DataError(
            f"`data.url` {redact_url(url)!r} is not a usable SQLAlchemy URL ({exc}); "
            "write it like sqlite:///path/to/file.db or postgresql://user@host/db"
        ) from exc


def _check_sql(engine: Any, source: TableSource) -> None:
    import sqlalchemy as sa

    spec = source.spec
    try:
        with engine.connect() as conn:
            if spec.table is not None:
                if not sa.inspect(conn).has_table(spec.table):
                    names = sa.inspect(conn).get_table_names()
                    raise DataError(
                        f"table {spec.table!r} does not exist at {redact_url(spec.url or '')}; "
                        f"tables there: {', '.join(names) or 'none'}"
                    )
            else:
                query = (spec.query or "").strip().rstrip(";")
                conn.execute(sa.text(f"SELECT * FROM ({query}) AS q WHERE 1 = 0"))
    except sa.exc.SQLAlchemyError as exc:
        raise DataError(
            f"SQL source {source.description} failed: "
            f"{str(getattr(exc, 'orig', None) or exc).splitlines()[0]}"
        ) from exc
    finally:
        engine.dispose()


def _unify(table: pa.Table, schema: pa.Schema) -> pa.Table:
    if table.schema.equals(schema):
        return table
    columns = []
    for name, target in zip(schema.names, schema.types, strict=True):
        try:
            columns.append(table.column(name).cast(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataError(
                f"SQL column {name!r} changes type from {target} to {table.column(name).type} "
                "part-way through the result; CAST it to one type in `data.query`"
            ) from exc
    return pa.table(columns, names=schema.names)


def _resolve(path: str, root: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (root / candidate)
