"""Dataset versions: a canonical content hash, a Parquet snapshot and a metadata record."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from loopml.data import sources
from loopml.data.sources import open_source, read_table
from loopml.data.versions import (
    ContentHasher,
    DatasetVersion,
    canonical_schema,
    canonicalize,
    dataset_path,
    get_version,
    lineage,
    read_dataset,
    snapshot,
    version_source,
    version_table,
)
from loopml.errors import DataError, StoreError
from loopml.spec import DataSource
from loopml.store import Store


def version_file(store: Store, path: Path, **spec: str) -> DatasetVersion:
    return version_source(open_source(DataSource(path=str(path), **spec), Path(".")), store)


def digest(*batches: pa.RecordBatch) -> str:
    """The version id of batches fed one by one, as the snapshot does."""
    schema = canonical_schema(batches[0].schema)
    hasher = ContentHasher(schema)
    for batch in batches:
        hasher.update(canonicalize(batch, schema))
    return hasher.hexdigest()


def table_digest(table: pa.Table, max_chunksize: int | None = None) -> str:
    return digest(*table.to_batches(max_chunksize=max_chunksize))


def column_digests(version: DatasetVersion) -> dict[str, str]:
    return {c["name"]: c["digest"] for c in version.columns}


def stored_objects(store: Store) -> list[Path]:
    return sorted(p for p in (store.artifacts_root / "objects").rglob("*") if p.is_file())


def leftovers(store: Store) -> list[Path]:
    tmp = store.artifacts_root / "tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


@pytest.fixture
def demo_lines(demo_csv: Path) -> list[str]:
    return demo_csv.read_text().splitlines(keepends=True)


@pytest.fixture
def demo_version(store: Store, demo_csv: Path) -> DatasetVersion:
    return version_file(store, demo_csv)


@pytest.fixture
def mixed_table() -> pa.Table:
    """Every canonical family, with nulls, NaN, -0.0 and repeated strings."""
    n = 257
    return pa.table(
        {
            "text": [None if i % 5 == 0 else f"v{i % 17}" * (i % 4) for i in range(n)],
            "small": pa.array([None if i % 7 == 0 else i - 100 for i in range(n)], pa.int32()),
            "real": [
                float("nan")
                if i % 11 == 0
                else (None if i % 13 == 0 else -0.0 if i == 5 else i / 8)
                for i in range(n)
            ],
            "flag": [None if i % 9 == 0 else i % 2 == 0 for i in range(n)],
            "day": [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(n)],
            "at": pa.array(
                [dt.datetime(2021, 5, 1, 12) + dt.timedelta(minutes=i) for i in range(n)],
                pa.timestamp("ms"),
            ),
        }
    )


# -- same content, same version ---------------------------------------------------------------
def test_versioning_the_same_csv_twice_gives_one_version(
    store: Store, demo_csv: Path, demo_version: DatasetVersion
) -> None:
    again = version_file(store, demo_csv)

    assert again == demo_version
    assert len(store.meta.datasets()) == 1
    assert len(stored_objects(store)) == 1
    assert leftovers(store) == []
    assert demo_version.n_rows == 5000
    assert demo_version.n_columns == 17
    assert len(demo_version.version) == 64
    assert get_version(store, demo_version.short) == demo_version


def test_a_copy_of_the_file_elsewhere_gives_the_same_version(
    store: Store, demo_csv: Path, demo_version: DatasetVersion, tmp_path: Path
) -> None:
    copy = tmp_path / "copy" / "renamed.csv"
    copy.parent.mkdir()
    copy.write_bytes(demo_csv.read_bytes())
    assert version_file(store, copy).version == demo_version.version


def test_parquet_with_the_same_content_gives_the_same_version(
    store: Store, demo_csv: Path, demo_version: DatasetVersion, tmp_path: Path
) -> None:
    source = open_source(DataSource(path=str(demo_csv)), Path("."))
    table = read_table(source)
    # Same values in other physical types: int32, large strings, a dictionary column.
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_int64(field.type):
            column = column.cast(pa.int32())
        elif field.name == "carrier":
            column = column.dictionary_encode()
        elif pa.types.is_string(field.type):
            column = column.cast(pa.large_string())
        columns.append(column)
    path = tmp_path / "flights.parquet"
    pq.write_table(pa.table(columns, names=table.column_names), path, row_group_size=999)

    from_parquet = version_file(store, path)

    assert from_parquet.version == demo_version.version
    assert len(store.meta.datasets()) == 1


# -- different content, different version -----------------------------------------------------
def test_changing_one_cell_gives_a_new_version(
    store: Store, demo_version: DatasetVersion, demo_lines: list[str], tmp_path: Path
) -> None:
    fields = demo_lines[2500].split(",")
    temp = demo_version.column_names.index("temp")
    fields[temp] = f"{float(fields[temp]) + 0.01:.2f}"
    demo_lines[2500] = ",".join(fields)
    path = tmp_path / "changed.csv"
    path.write_text("".join(demo_lines))

    changed = version_file(store, path)

    assert changed.version != demo_version.version
    before, after = column_digests(demo_version), column_digests(changed)
    assert [name for name in before if before[name] != after[name]] == ["temp"]
    assert len(store.meta.datasets()) == 2


def test_reordering_rows_gives_a_new_version(
    store: Store, demo_version: DatasetVersion, demo_lines: list[str], tmp_path: Path
) -> None:
    header, rows = demo_lines[0], demo_lines[1:]
    path = tmp_path / "reordered.csv"
    path.write_text(header + "".join(rows[1:] + rows[:1]))

    reordered = version_file(store, path)

    assert reordered.n_rows == demo_version.n_rows
    assert reordered.version != demo_version.version


def test_renaming_a_column_gives_a_new_version_with_the_same_values(
    store: Store, demo_version: DatasetVersion, demo_lines: list[str], tmp_path: Path
) -> None:
    demo_lines[0] = demo_lines[0].replace("temp", "temperature")
    path = tmp_path / "renamed.csv"
    path.write_text("".join(demo_lines))

    renamed = version_file(store, path)

    assert renamed.version != demo_version.version
    assert column_digests(renamed)["temperature"] == column_digests(demo_version)["temp"]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"x": [0.0, 1.0]}, {"x": [None, 1.0]}),
        ({"s": ["", "x"]}, {"s": [None, "x"]}),
        ({"s": ["ab", "c"]}, {"s": ["a", "bc"]}),
        ({"x": [1, 2]}, {"x": [1.0, 2.0]}),
        ({"a": [1, 2], "b": [3, 4]}, {"a": [3, 4], "b": [1, 2]}),
        ({"a": [1, 2], "b": [3, 4]}, {"b": [3, 4], "a": [1, 2]}),
        ({"x": [1, 2]}, {"x": [1, 2, 2]}),
        ({"f": [True, False]}, {"f": [True, None]}),
    ],
)
def test_different_tables_hash_differently(left: dict, right: dict) -> None:
    assert table_digest(pa.table(left)) != table_digest(pa.table(right))


# -- the canonical form -----------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 2, 3, 64, 100, None])
def test_batch_sizes_do_not_change_the_digest(mixed_table: pa.Table, chunk: int | None) -> None:
    assert table_digest(mixed_table, chunk) == table_digest(mixed_table)


def test_sliced_arrays_hash_like_fresh_ones(mixed_table: pa.Table) -> None:
    for offset, length in [(1, 50), (13, 200), (100, 157), (256, 1)]:
        sliced = mixed_table.slice(offset, length)
        fresh = pa.table(sliced.to_pydict(), schema=mixed_table.schema)
        assert table_digest(sliced) == table_digest(fresh)
        # Uneven batches made of several slices of the same table.
        pieces = [sliced.slice(i, 7) for i in range(0, length, 7)]
        assert digest(*(b for p in pieces for b in p.to_batches())) == table_digest(fresh)


def test_negative_zero_and_zero_hash_the_same() -> None:
    assert table_digest(pa.table({"x": [0.0, 1.0, -2.5]})) == table_digest(
        pa.table({"x": [-0.0, 1.0, -2.5]})
    )


def test_nan_and_null_hash_the_same() -> None:
    nan = pa.table({"x": [1.0, float("nan"), 3.0]})
    null = pa.table({"x": [1.0, None, 3.0]})
    assert table_digest(nan) == table_digest(null)
    canonical = canonicalize(nan.to_batches()[0], canonical_schema(nan.schema))
    assert canonical.column(0).null_count == 1


def test_null_slots_of_numbers_do_not_matter() -> None:
    mask = pa.array([True, False, True])
    for values, kind in (([1, 99, 3], pa.int64()), ([1.0, 99.0, 3.0], pa.float64())):
        masked = pc.if_else(mask, pa.array(values, kind), pa.scalar(None, kind))
        plain = pa.array([values[0], None, values[2]], kind)
        assert table_digest(pa.table({"x": masked})) == table_digest(pa.table({"x": plain}))


def test_null_slots_of_strings_do_not_matter() -> None:
    mask = pa.array([True, False, True])
    masked = pc.if_else(mask, pa.array(["abc", "garbage", "de"]), pa.scalar(None, pa.string()))
    plain = pa.array(["abc", None, "de"])
    assert masked.to_pylist() == plain.to_pylist()
    assert table_digest(pa.table({"s": masked})) == table_digest(pa.table({"s": plain}))


@pytest.mark.parametrize(
    ("narrow", "wide"),
    [
        (pa.array([1, None, -3], pa.int32()), pa.array([1, None, -3], pa.int64())),
        (pa.array([1, None, 3], pa.uint8()), pa.array([1, None, 3], pa.int64())),
        (pa.array([0.5, None, -0.0], pa.float32()), pa.array([0.5, None, 0.0], pa.float64())),
        (pa.array(["a", None], pa.large_string()), pa.array(["a", None], pa.string())),
        (pa.array(["a", None, "a"]).dictionary_encode(), pa.array(["a", None, "a"])),
        (
            pa.array([dt.datetime(2020, 1, 1, 1)], pa.timestamp("s")),
            pa.array([dt.datetime(2020, 1, 1, 1)], pa.timestamp("ns")),
        ),
        (pa.array([dt.date(2020, 1, 1)], pa.date64()), pa.array([dt.date(2020, 1, 1)])),
    ],
)
def test_equal_values_in_narrower_types_hash_the_same(narrow: pa.Array, wide: pa.Array) -> None:
    assert table_digest(pa.table({"x": narrow})) == table_digest(pa.table({"x": wide}))


# -- the stored snapshot ----------------------------------------------------------------------
def test_the_snapshot_reads_back_equal_to_the_source(
    store: Store, demo_version: DatasetVersion, demo_frame: pd.DataFrame
) -> None:
    stored = read_dataset(store, demo_version)

    schema = pq.read_schema(dataset_path(store, demo_version))
    assert schema.field("flight_date").type == pa.date32()  # the one difference from pandas
    assert schema.field("sched_dep_time").type == pa.int64()
    assert schema.field("carrier").type == pa.string()
    stored["flight_date"] = stored["flight_date"].astype(str)
    pd.testing.assert_frame_equal(stored, demo_frame, check_dtype=False)
    assert read_dataset(store, demo_version, columns=["late"])["late"].tolist() == (
        demo_frame["late"].tolist()
    )


def test_the_recorded_sha256_matches_the_stored_file(
    store: Store, demo_version: DatasetVersion
) -> None:
    path = dataset_path(store, demo_version)
    row = store.meta.dataset(demo_version.version)

    assert row["artifact_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert row["artifact_size"] == path.stat().st_size
    assert path == store.artifacts_root / row["artifact_path"]
    assert row["source"]["kind"] == "csv"
    assert row["source"]["delimiter"] == ","


def test_a_tampered_snapshot_is_refused(store: Store, demo_version: DatasetVersion) -> None:
    path = dataset_path(store, demo_version)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="sha256"):
        read_dataset(store, demo_version)


def test_lineage_walks_the_parents(
    store: Store, demo_version: DatasetVersion, demo_frame: pd.DataFrame
) -> None:
    table = pq.read_table(dataset_path(store, demo_version))
    cleaned = version_table(
        table.filter(pc.is_valid(table.column("late"))),
        store,
        kind="cleaned",
        parent=demo_version.version,
        source={"kind": "cleaning"},
        operations=[{"op": "drop_missing_target"}],
    )
    narrowed = version_table(
        pq.read_table(dataset_path(store, cleaned)).drop_columns(["tailnum"]),
        store,
        kind="cleaned",
        parent=cleaned.version,
        source={"kind": "cleaning"},
        operations=[{"op": "drop_columns", "columns": ["tailnum"]}],
    )

    chain = lineage(store, narrowed)

    assert [v.version for v in chain] == [
        narrowed.version,
        cleaned.version,
        demo_version.version,
    ]
    assert [v.kind for v in chain] == ["cleaned", "cleaned", "raw"]
    assert chain[1].n_rows == int(demo_frame["late"].notna().sum())
    assert "tailnum" not in chain[0].column_names
    assert lineage(store, demo_version) == [demo_version]


# -- failures store nothing -------------------------------------------------------------------
def test_a_source_failing_mid_stream_stores_nothing(store: Store, mixed_table: pa.Table) -> None:
    def failing() -> Iterator[pa.RecordBatch]:
        yield from mixed_table.to_batches(max_chunksize=100)[:2]
        raise DataError("the source broke at row 200")

    with pytest.raises(DataError, match="row 200"):
        snapshot(failing(), store)
    assert stored_objects(store) == []
    assert leftovers(store) == []
    assert store.meta.datasets() == []


def test_a_table_without_rows_is_refused(store: Store, mixed_table: pa.Table) -> None:
    with pytest.raises(DataError, match="no data rows"):
        snapshot(iter([pa.RecordBatch.from_pylist([], schema=mixed_table.schema)]), store)
    with pytest.raises(DataError, match="no columns"):
        snapshot(iter([]), store)
    assert stored_objects(store) == []
    assert leftovers(store) == []


def test_a_target_column_is_checked_without_changing_the_version(
    store: Store, demo_csv: Path, demo_version: DatasetVersion
) -> None:
    source = open_source(DataSource(path=str(demo_csv)), Path("."))
    assert version_source(source, store, target="late").version == demo_version.version


def test_a_missing_target_column_names_the_closest_column(store: Store, demo_csv: Path) -> None:
    source = open_source(DataSource(path=str(demo_csv)), Path("."))
    with pytest.raises(DataError, match="target column `lat` is not in") as info:
        version_source(source, store, target="lat")
    assert "did you mean `late`" in str(info.value)
    assert str(demo_csv) in str(info.value)
    assert stored_objects(store) == []
    assert store.meta.datasets() == []


def test_an_empty_target_column_stores_nothing(
    store: Store, demo_lines: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "unlabelled.csv"
    rows = [line.rsplit(",", 1)[0] + ",\n" for line in demo_lines[1:]]  # `late` left empty
    path.write_text(demo_lines[0] + "".join(rows))
    source = open_source(DataSource(path=str(path)), Path("."))
    with pytest.raises(DataError, match=r"target column `late` .* has no values"):
        version_source(source, store, target="late")
    assert stored_objects(store) == []
    assert leftovers(store) == []
    assert store.meta.datasets() == []


def test_a_nested_column_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"id": [1, 2], "tags": [[1, 2], [3]]}), path)
    with pytest.raises(DataError, match=r"list<.*> is not tabular.*flatten or drop"):
        version_file(store, path)
    assert stored_objects(store) == []
    assert store.meta.datasets() == []


def test_a_nested_column_error_names_the_column(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"id": [1, 2], "tags": [[1, 2], [3]], "n": [1, 2]}), path)
    with pytest.raises(DataError, match="tags"):
        version_file(store, path)


def _write_late_text_csv(path: Path) -> int:
    """A CSV numeric in `code` for the first 8 MB, then text once; returns its row count."""
    rows = 1_000_000
    with open(path, "w") as handle:
        handle.write("id,code\n")
        handle.write("".join(f"{i},{i % 997}\n" for i in range(rows)))
        assert handle.tell() > sources._CSV_BLOCK + (1 << 20)
        handle.write(f"{rows},X12\n")
    return rows + 1


def test_versioning_a_csv_with_late_text_in_a_numeric_column(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    rows = _write_late_text_csv(path)
    version = version_file(store, path)
    assert version.n_rows == rows
    assert dict(zip(version.column_names, [c["type"] for c in version.columns], strict=True)) == {
        "id": "int64",
        "code": "string",
    }
    assert read_dataset(store, version)["code"].iloc[-1] == "X12"


# -- streaming --------------------------------------------------------------------------------
@pytest.mark.slow
def test_versioning_a_large_csv_streams(store: Store, tmp_path: Path) -> None:
    block = "".join(f"{i},{i * 7919 % 100_003},{i % 977}.25,cat{i % 13}\n" for i in range(100_000))
    path = tmp_path / "large.csv"
    with open(path, "w") as handle:
        handle.write("id,count,score,label\n")
        for _ in range(24):
            handle.write(block)
    size = path.stat().st_size
    assert size > 45_000_000

    source = open_source(DataSource(path=str(path)), Path("."))
    baseline = pa.total_allocated_bytes()
    peak = 0

    def sample(_rows: int) -> None:
        nonlocal peak
        peak = max(peak, pa.total_allocated_bytes() - baseline)

    version = version_source(source, store, on_rows=sample)

    assert version.n_rows == 2_400_000
    assert peak > 0, "the callback never saw pyarrow memory in use"
    assert peak < 0.4 * size, f"peak pyarrow memory {peak / size:.0%} of the file size"
