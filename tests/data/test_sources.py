"""Reading real CSV, Parquet, JSON Lines and SQLite sources, and refusing bad ones clearly."""

from __future__ import annotations

import codecs
import csv
import os
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from loopml.data import sources
from loopml.data.sources import TableSource, open_source, read_table
from loopml.data.versions import version_source
from loopml.errors import DataError
from loopml.spec import DataSource
from loopml.store import Store

# Text a latin-1 / cp1252 file can hold, with accents in several columns and a missing value.
ACCENTED = [
    ["name", "city", "amount", "note"],
    ["Müller", "Zürich", "1.5", "naïve"],
    ["café", "Paris", "2", ""],
    ["Ærø", "São Paulo", "-3.25", "crème brûlée"],
    ["Øster", "Malmö", "4", "façade"],
]


def write_rows(path: Path, rows: list[list[str]], delimiter: str = ",", **open_kw: Any) -> Path:
    with open(path, "w", newline="", **open_kw) as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return path


def read(path: Path | str, **spec: Any) -> tuple[TableSource, pa.Table]:
    """Open a file source and read all of it."""
    source = open_source(DataSource(path=str(path), **spec), Path("."))
    return source, read_table(source)


def read_sql(**spec: Any) -> tuple[TableSource, pa.Table]:
    source = open_source(DataSource(**spec), Path("."))
    return source, read_table(source)


def normalised(table: pa.Table) -> dict[str, list[Any]]:
    """Column values with format-specific types evened out (dates as text, one string type)."""
    out = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.date32())
        if pa.types.is_date(column.type) or pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        out[name] = column.to_pylist()
    return out


@pytest.fixture
def demo_table(demo_csv: Path) -> pa.Table:
    return read(demo_csv)[1]


# -- CSV dialect and encoding sniffing --------------------------------------------------------
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(
    demo_csv: Path, demo_table: pa.Table, tmp_path: Path, delimiter: str
) -> None:
    with open(demo_csv, newline="") as handle:
        rows = list(csv.reader(handle))
    path = write_rows(tmp_path / "flights.csv", rows, delimiter)

    source, table = read(path)

    assert source.lineage()["delimiter"] == delimiter
    assert table.num_rows == 5000
    assert table.equals(demo_table)


@pytest.mark.parametrize(
    ("encoding", "bom", "sniffed"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", codecs.BOM_UTF8, "utf-8-sig"),
        ("cp1252", b"", "cp1252"),
        ("latin-1", b"", "cp1252"),  # these characters are the same bytes in both
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16"),
    ],
)
def test_encoding_is_sniffed(
    tmp_path: Path, encoding: str, bom: bytes, sniffed: str, delimiter: str = ";"
) -> None:
    text = "".join(delimiter.join(row) + "\n" for row in ACCENTED)
    path = tmp_path / "people.csv"
    path.write_bytes(bom + text.encode(encoding))

    source, table = read(path)

    assert source.lineage()["encoding"] == sniffed
    assert table.column_names == ACCENTED[0]  # no BOM glued to the first name
    assert table.column("name").to_pylist() == ["Müller", "café", "Ærø", "Øster"]
    assert table.column("city").to_pylist() == ["Zürich", "Paris", "São Paulo", "Malmö"]
    assert table.column("note").to_pylist() == ["naïve", None, "crème brûlée", "façade"]
    assert table.column("amount").to_pylist() == [1.5, 2.0, -3.25, 4.0]


def test_cp1252_only_characters_are_sniffed(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "prices.csv",
        [["item", "price"], ["Brötchen", "€0,50"], ["“quoted”", "€1"]],
        encoding="cp1252",
    )
    source, table = read(path)
    assert source.lineage()["encoding"] == "cp1252"
    assert table.column("price").to_pylist() == ["€0,50", "€1"]
    assert table.column("item").to_pylist() == ["Brötchen", "“quoted”"]


def test_a_utf8_character_cut_by_the_sniff_window_is_still_utf8(tmp_path: Path) -> None:
    header = b"id,word\n"
    filler = b"".join(b"%06d,plain\n" % i for i in range(15_000))
    # Place a two-byte "ü" so that its first byte is the last byte of the sniffed sample.
    pad = sources._SNIFF_BYTES - 1 - len(header) - len(filler) - len(b"999999,")
    assert pad > 0
    path = tmp_path / "cut.csv"
    path.write_bytes(header + filler + b"999999," + b"x" * pad + "ü\n".encode() + b"1000000,end\n")
    assert path.read_bytes()[sources._SNIFF_BYTES - 1] == "ü".encode()[0]

    source, table = read(path)

    assert source.lineage()["encoding"] == "utf-8"
    assert table.num_rows == 15_002
    assert table.column("word")[15_000].as_py() == "x" * pad + "ü"


def test_explicit_delimiter_overrides_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("a;b,c\n1;2,3\n4;5,6\n")

    _, by_semicolon = read(path, delimiter=";")
    _, by_comma = read(path, delimiter=",")

    assert by_semicolon.column_names == ["a", "b,c"]
    assert by_semicolon.column("b,c").to_pylist() == ["2,3", "5,6"]
    assert by_comma.column_names == ["a;b", "c"]
    assert by_comma.column("a;b").to_pylist() == ["1;2", "4;5"]


def test_explicit_encoding_overrides_sniffing(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "utf8.csv", ACCENTED, encoding="utf-8")
    source, table = read(path, encoding="latin-1")
    assert source.lineage()["encoding"] == "latin-1"
    assert table.column("name")[0].as_py() == "Müller".encode().decode("latin-1")


def test_a_wrong_explicit_encoding_is_a_data_error(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "cp.csv", ACCENTED, encoding="cp1252")
    with pytest.raises(DataError, match=r"cannot be decoded as utf-8.*data\.encoding") as info:
        read(path, encoding="utf-8")
    assert str(path) in str(info.value)


# -- CSV types --------------------------------------------------------------------------------
def test_null_markers_become_nulls(tmp_path: Path) -> None:
    path = tmp_path / "nulls.csv"
    path.write_text("x,label\n1.5,a\nNA,N/A\n,null\nNaN,b\n")
    _, table = read(path)
    assert table.schema.field("x").type == pa.float64()
    assert table.column("x").to_pylist() == [1.5, None, None, None]
    assert table.column("label").to_pylist() == ["a", None, None, "b"]


def test_text_in_a_numeric_column_within_the_first_block_makes_it_text(tmp_path: Path) -> None:
    rows = [["id", "code"]] + [[str(i), str(i * 7)] for i in range(1000)] + [["1000", "X-7"]]
    _, table = read(write_rows(tmp_path / "codes.csv", rows))
    assert table.schema.field("code").type == pa.string()
    assert table.column("code").to_pylist()[-2:] == ["6993", "X-7"]
    assert table.schema.field("id").type == pa.int64()


LATE_ROWS = 560_000  # about 11 MB: the text row lands after the first 8 MB read block


@pytest.fixture(scope="module")
def late_text_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV whose `code` column is numeric for the first 8 MB, then holds text once."""
    path = tmp_path_factory.mktemp("late") / "late_text.csv"
    with open(path, "w") as handle:
        handle.write("id,code,value\n")
        handle.write("".join(f"{i},{i % 997},{i}.5\n" for i in range(LATE_ROWS)))
        assert handle.tell() > sources._CSV_BLOCK + (1 << 20)
        handle.write(f"{LATE_ROWS},X12,0.5\n")
        handle.write(
            "".join(f"{i},{i % 997},{i}.5\n" for i in range(LATE_ROWS + 1, LATE_ROWS + 100))
        )
    return path


def test_text_in_a_numeric_column_after_the_first_block_is_read_as_text(
    late_text_csv: Path,
) -> None:
    source = open_source(DataSource(path=str(late_text_csv)), Path("."))
    table = read_table(source)  # the consumer starts over once the column widens
    assert table.num_rows == LATE_ROWS + 100
    schema = table.schema
    assert schema.field("code").type == pa.string()
    assert schema.field("id").type == pa.int64()


def test_invalid_utf8_after_the_first_block_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "late_latin1.csv"
    with open(path, "wb") as handle:
        handle.write(b"name,amount\n")
        handle.write(b"".join(b"plain%d,%d\n" % (i, i) for i in range(700_000)))
        handle.write("Müller,1\n".encode("cp1252"))
    source = open_source(DataSource(path=str(path)), Path("."))
    assert source.lineage()["encoding"] == "utf-8"  # the sniffed head is plain ASCII

    with pytest.raises(DataError, match="encoding"):
        read_table(source)


def test_invalid_utf8_after_the_sniff_window_points_at_the_encoding(
    tmp_path: Path, store: Store
) -> None:
    path = tmp_path / "late_latin1_small.csv"
    with open(path, "wb") as handle:
        handle.write(b"name,amount\n")
        handle.write(b"".join(b"plain%d,%d\n" % (i, i) for i in range(30_000)))
        handle.write("Müller,1\n".encode("cp1252"))
    source = open_source(DataSource(path=str(path)), Path("."))

    with pytest.raises(DataError, match=r"data\.encoding") as info:
        version_source(source, store)
    assert str(path) in str(info.value)


# -- malformed CSV files ----------------------------------------------------------------------
def test_a_ragged_row_names_the_file_and_the_line(tmp_path: Path) -> None:
    lines = ["a,b,c\n"] + [f"{i},{i + 1},{i + 2}\n" for i in range(100)]
    lines.insert(51, "9,9,9,9\n")  # line 52 of the file
    path = tmp_path / "ragged.csv"
    path.write_text("".join(lines))

    with pytest.raises(DataError) as info:
        read(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 52" in message
    assert "expected 3 fields, found 4" in message


def test_a_short_row_after_a_multiline_quoted_field_names_the_physical_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('a,b,c\n1,"two\nlines",3\n4,5,6\n7,8\n10,11,12\n')
    with pytest.raises(DataError, match=r"at line 5 .*expected 3 fields, found 2"):
        read(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "does not exist"),
        ("folder.csv", "DIR", "is a folder"),
        ("empty.csv", b"", "is empty"),
        ("header_only.csv", b"a,b,c\n", "header but no data rows"),
        ("blank.csv", b"  \n\n\t \n", "has no rows"),
        ("random.csv", os.urandom(3000) + b"\x00\x01\x00", "binary file"),
        ("one_column.csv", b"value\n1\n2\n3\n", "single column"),
        ("repeated.csv", b"a,b,a\n1,2,3\n", r"repeated column names \['a'\]"),
        ("unnamed.csv", b"a,,c\n1,2,3\n", "header column 2 has no name"),
        ("blank_name.csv", b"a,b,  \n1,2,3\n", "header column 3 has no name"),
    ],
)
def test_bad_csv_files_are_data_errors_naming_the_file(
    tmp_path: Path, name: str, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)

    with pytest.raises(DataError, match=message) as info:
        read(path)
    assert str(path) in str(info.value)


def test_a_relative_path_resolves_against_the_project_root(
    tmp_path: Path, demo_csv: Path, demo_table: pa.Table
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.csv").write_bytes(demo_csv.read_bytes())
    source = open_source(DataSource(path="data/f.csv"), tmp_path)
    assert source.path == tmp_path / "data" / "f.csv"
    assert read_table(source).equals(demo_table)


# -- Parquet ----------------------------------------------------------------------------------
def test_parquet_is_read(demo_table: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "flights.parquet"
    pq.write_table(demo_table, path, row_group_size=777)
    source, table = read(path)
    assert source.kind == "parquet"
    assert table.equals(demo_table)
    assert source.lineage()["path"] == str(path)


def test_a_csv_named_parquet_is_refused(tmp_path: Path, demo_csv: Path) -> None:
    path = tmp_path / "flights.parquet"
    path.write_bytes(demo_csv.read_bytes())
    with pytest.raises(DataError, match="not a Parquet file") as info:
        read(path)
    assert str(path) in str(info.value)


def test_a_truncated_parquet_file_is_refused(demo_table: pa.Table, tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    pq.write_table(demo_table, whole)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DataError, match="not a readable Parquet file") as info:
        read(cut)
    assert str(cut) in str(info.value)


# -- JSON Lines -------------------------------------------------------------------------------
def test_json_lines_are_read(demo_csv: Path, demo_table: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    pd.read_csv(demo_csv).to_json(path, orient="records", lines=True)
    source, table = read(path)
    assert source.kind == "jsonl"
    assert table.num_rows == 5000
    assert normalised(table) == normalised(demo_table)


@pytest.mark.parametrize(
    ("lines", "line_no"),
    [
        (['{"a": 1, "b": "x"}', '{"a": 2, "b": "y"}', '{"a": 3, b: }', '{"a": 4, "b": "z"}'], 3),
        (['{"a": 1, "b": "x"}', "[1, 2]"], 2),
        (["not json at all", '{"a": 1}'], 1),
    ],
)
def test_a_malformed_json_line_names_the_line(
    tmp_path: Path, lines: list[str], line_no: int
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=f"at line {line_no} is not valid JSON Lines") as info:
        read(path)
    assert str(path) in str(info.value)


# -- SQL --------------------------------------------------------------------------------------
@pytest.fixture
def flights_db(tmp_path: Path, demo_csv: Path) -> Path:
    """A real SQLite file with the demo flights and a second, small table."""
    path = tmp_path / "flights.db"
    with sqlite3.connect(path) as conn:
        pd.read_csv(demo_csv).to_sql("flights", conn, index=False)
        pd.DataFrame({"code": ["JFK", "EWR"], "name": ["Kennedy", "Newark"]}).to_sql(
            "airports", conn, index=False
        )
    return path


def test_sql_table_and_query_give_the_csv_rows(flights_db: Path, demo_table: pa.Table) -> None:
    url = f"sqlite:///{flights_db}"
    by_table_source, by_table = read_sql(url=url, table="flights")
    by_query_source, by_query = read_sql(url=url, query="SELECT * FROM flights")

    assert by_table.num_rows == 5000
    assert by_table.equals(by_query)
    assert normalised(by_table) == normalised(demo_table)
    assert by_table_source.lineage() == {
        "kind": "sql",
        "description": f"table 'flights' at {url}",
        "url": url,
        "table": "flights",
        "query": None,
    }
    assert by_query_source.lineage()["query"] == "SELECT * FROM flights"


def test_a_sql_query_can_filter_and_rename(flights_db: Path, demo_csv: Path) -> None:
    _, table = read_sql(
        url=f"sqlite:///{flights_db}",
        query="SELECT carrier AS airline, distance FROM flights WHERE origin = 'JFK'",
    )
    frame = pd.read_csv(demo_csv)
    expected = frame.loc[frame["origin"] == "JFK", ["carrier", "distance"]]
    assert table.column_names == ["airline", "distance"]
    assert table.column("airline").to_pylist() == expected["carrier"].tolist()
    assert table.column("distance").to_pylist() == expected["distance"].tolist()


def test_an_unknown_sql_table_lists_the_tables_there(flights_db: Path) -> None:
    with pytest.raises(DataError, match="'flight' does not exist") as info:
        read_sql(url=f"sqlite:///{flights_db}", table="flight")
    assert "tables there: airports, flights" in str(info.value)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELEC * FROM flights", "failed"),
        ("SELECT nosuchcolumn FROM flights", "no such column: nosuchcolumn"),
        ("SELECT * FROM nosuchtable", "no such table: nosuchtable"),
    ],
)
def test_a_broken_sql_query_is_a_data_error(flights_db: Path, query: str, message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        read_sql(url=f"sqlite:///{flights_db}", query=query)
    assert "SQL source" in str(info.value)


@pytest.mark.parametrize(
    "url", ["notadb://x", "sqlite//missing-colon", "postgresql+nosuchdriver://u@h/db", "::"]
)
def test_an_unusable_sql_url_is_a_data_error(url: str) -> None:
    with pytest.raises(DataError, match="not a usable SQLAlchemy URL"):
        read_sql(url=url, table="flights")


def test_a_password_is_redacted_from_lineage_and_descriptions(
    flights_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://analyst:s3cr3t-pw@db.example.com:5432/warehouse"
    # No PostgreSQL here: the URL is only written down; the rows come from the SQLite file.
    real_engine = sa.create_engine
    monkeypatch.setattr(sources, "_sql_engine", lambda _url: real_engine(f"sqlite:///{flights_db}"))

    source, table = read_sql(url=url, table="flights")

    assert table.num_rows == 5000
    recorded = repr(source.lineage()) + source.description
    assert "s3cr3t-pw" not in recorded
    assert source.lineage()["url"] == "postgresql://analyst:***@db.example.com:5432/warehouse"


def test_a_password_is_redacted_from_connection_errors() -> None:
    # psycopg is not installed here, so this fails while the engine is made.
    with pytest.raises(DataError) as info:
        read_sql(url="postgresql://analyst:s3cr3t-pw@db.example.com/warehouse", table="t")
    assert "s3cr3t-pw" not in str(info.value)
    assert "analyst:***@db.example.com" in str(info.value)


def test_a_password_in_a_mistyped_url_is_redacted() -> None:
    with pytest.raises(DataError) as info:
        read_sql(url="postgresql//analyst:s3cr3t-pw@db.example.com/warehouse", table="t")
    assert "s3cr3t-pw" not in str(info.value)


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    with pytest.raises(DataError):
        read_sql(url=f"sqlite:///{missing}", table="flights")
    assert not missing.exists()
