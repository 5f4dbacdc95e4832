"""The metadata store on a real SQLite file: migrations, pragmas, references, concurrency."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopml.errors import NotFoundError, StoreError
from loopml.store import Store
from loopml.store import metadata as metadata_module
from loopml.store.metadata import SCHEMA_VERSION, MetadataStore
from tests.store.rows import dataset_row

TABLES = {"schema_migrations", "datasets", "profiles", "splits", "test_access"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'metadata.db'}"


@pytest.fixture
def meta(db_url: str) -> MetadataStore:
    opened = MetadataStore(db_url)
    yield opened
    opened.close()


def hex_id(prefix: str, fill: str = "0") -> str:
    return (prefix + fill * 64)[:64]


def migrations(url: str) -> list[tuple[int, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT version, applied_at FROM schema_migrations ORDER BY version"
            )
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


# -- migrations -------------------------------------------------------------------------------
def test_a_fresh_store_gets_all_tables_and_the_schema_version(
    meta: MetadataStore, db_url: str
) -> None:
    assert set(sa.inspect(meta.engine).get_table_names()) >= TABLES
    recorded = migrations(db_url)
    assert [version for version, _ in recorded] == list(range(1, SCHEMA_VERSION + 1))
    assert recorded[-1][0] == SCHEMA_VERSION


def test_reopening_does_not_run_migrations_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    MetadataStore(db_url).close()
    before = migrations(db_url)

    calls: list[int] = []

    def spy(index: int, migration: Callable[[Any], None]) -> Callable[[Any], None]:
        def run(conn: Any) -> None:
            calls.append(index)
            migration(conn)

        return run

    spies = [spy(i, m) for i, m in enumerate(metadata_module.MIGRATIONS)]
    monkeypatch.setattr(metadata_module, "MIGRATIONS", spies)

    reopened = MetadataStore(db_url)
    reopened.add_dataset(dataset_row(hex_id("ab")))  # the tables are usable
    reopened.close()

    assert calls == []
    assert migrations(db_url) == before


def test_a_new_migration_is_applied_once_to_an_existing_store(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    MetadataStore(db_url).close()
    ran: list[int] = []

    def add_notes(conn: Any) -> None:
        ran.append(1)
        conn.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")

    monkeypatch.setattr(metadata_module, "MIGRATIONS", [*metadata_module.MIGRATIONS, add_notes])
    monkeypatch.setattr(metadata_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)

    MetadataStore(db_url).close()
    MetadataStore(db_url).close()

    assert ran == [1]
    assert [v for v, _ in migrations(db_url)] == list(range(1, SCHEMA_VERSION + 2))


def test_a_store_from_a_newer_loopml_is_refused(db_url: str) -> None:
    MetadataStore(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            metadata_module.schema_migrations.insert().values(
                version=SCHEMA_VERSION + 1, applied_at="2099-01-01T00:00:00+00:00"
            )
        )
    engine.dispose()

    with pytest.raises(StoreError, match="upgrade loopml") as info:
        MetadataStore(db_url)
    assert f"schema {SCHEMA_VERSION + 1}" in str(info.value)


# -- connections ------------------------------------------------------------------------------
def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(meta: MetadataStore) -> None:
    # Check several pooled connections, not only the one that ran the migrations.
    with meta.engine.connect() as first, meta.engine.connect() as second:
        for conn in (first, second):
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_foreign_keys_are_enforced(meta: MetadataStore) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        meta.add_dataset(dataset_row(hex_id("aa"), parent_version=hex_id("bb")))


def test_store_for_project_resolves_a_relative_sqlite_path(tmp_path: Path) -> None:
    store = Store.for_project(tmp_path, "sqlite:///state/meta.db", "state/artifacts")
    try:
        store.meta.add_dataset(dataset_row(hex_id("cc")))
        assert (tmp_path / "state" / "meta.db").is_file()
        assert store.artifacts_root == (tmp_path / "state" / "artifacts").resolve()
    finally:
        store.close()


# -- bad URLs and files -----------------------------------------------------------------------
@pytest.mark.parametrize("url", ["notadb://x", "sqlite//missing-colon", "", "not a url"])
def test_an_unusable_url_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError, match="not usable"):
        MetadataStore(url)


def test_an_unreachable_sqlite_file_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the metadata store"):
        MetadataStore(f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'm.db'}")


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    garbage = tmp_path / "metadata.db"
    garbage.write_bytes(b"this is not an SQLite file at all\n" * 200)
    with pytest.raises(StoreError, match=str(garbage)):
        MetadataStore(f"sqlite:///{garbage}")


def test_store_errors_do_not_reveal_a_password() -> None:
    with pytest.raises(StoreError) as info:
        MetadataStore("sqlite+nosuchdriver://loopml:s3cr3t-pw@db.example/meta")
    assert "s3cr3t-pw" not in str(info.value)


# -- datasets ---------------------------------------------------------------------------------
def test_add_dataset_is_idempotent(meta: MetadataStore) -> None:
    version = hex_id("0123456789abcdef")
    meta.add_dataset(dataset_row(version))
    first = meta.dataset(version)
    meta.add_dataset(dataset_row(version, n_rows=999))

    assert len(meta.datasets()) == 1
    again = meta.dataset(version)
    assert again == first
    assert again["n_rows"] == 10
    assert again["columns"] == dataset_row(version)["columns"]  # JSON round-trips


@pytest.fixture
def two_datasets(meta: MetadataStore) -> tuple[str, str]:
    """Two versions sharing the prefix `abcdef12`; the second is newer."""
    older, newer = hex_id("abcdef1200", "1"), hex_id("abcdef1299", "2")
    meta.add_dataset(dataset_row(older))
    time.sleep(0.002)
    meta.add_dataset(dataset_row(newer))
    return older, newer


def test_dataset_by_full_id_prefix_and_latest(
    meta: MetadataStore, two_datasets: tuple[str, str]
) -> None:
    older, newer = two_datasets
    assert meta.dataset(older)["version"] == older
    assert meta.dataset(newer[:10])["version"] == newer
    assert meta.dataset(older[:10].upper())["version"] == older
    assert meta.dataset("latest")["version"] == newer
    assert [row["version"] for row in meta.datasets()] == [newer, older]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("abcdef12", "ambiguous"),  # shared by both versions
        ("abcdef", "ambiguous"),
        ("abcde", "not a valid reference"),  # too short
        ("", "not a valid reference"),
        ("ghijkl", "not a valid reference"),  # not hex
        ("abcdef%", "not a valid reference"),  # a LIKE wildcard is not a prefix
        ("abcde_", "not a valid reference"),
        ("123456", "no dataset version matches"),  # valid but unknown
        (hex_id("fe"), "no dataset version matches"),
    ],
)
def test_dataset_refs_that_name_nothing(
    meta: MetadataStore, two_datasets: tuple[str, str], ref: str, message: str
) -> None:
    with pytest.raises(NotFoundError, match=message):
        meta.dataset(ref)


def test_latest_of_an_empty_store_is_not_found(meta: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="latest"):
        meta.dataset("latest")


# -- concurrency ------------------------------------------------------------------------------
def _add_many(url: str, worker: int, count: int) -> list[str]:
    """Open the store independently and add `count` datasets (runs in another process)."""
    store = MetadataStore(url)
    try:
        added = []
        for i in range(count):
            version = f"{worker:02x}{i:062x}"
            store.add_dataset(dataset_row(version))
            added.append(version)
        return added
    finally:
        store.close()


def test_threads_write_datasets_concurrently(meta: MetadataStore, db_url: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_add_many, [db_url] * 4, range(4), [25] * 4))
    expected = {version for batch in results for version in batch}
    assert len(expected) == 100
    assert {row["version"] for row in meta.datasets()} == expected


def test_processes_write_datasets_concurrently(db_url: str) -> None:
    MetadataStore(db_url).close()  # migrated, and no open connection crosses the fork
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
        results = list(pool.map(_add_many, [db_url] * 3, range(10, 13), [40] * 3))
    expected = {version for batch in results for version in batch}
    assert len(expected) == 120
    check = MetadataStore(db_url)
    try:
        assert {row["version"] for row in check.datasets()} == expected
    finally:
        check.close()


def test_two_first_opens_of_a_fresh_store_both_succeed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slow migration 1 down, as a big migration on a slow disk would be; a correct store
    # serialises the openers, so the second one simply waits and finds the schema current.
    real = metadata_module.MIGRATIONS[0]

    def slow_migration(conn: Any) -> None:
        time.sleep(0.5)
        real(conn)

    monkeypatch.setattr(
        metadata_module, "MIGRATIONS", [slow_migration, *metadata_module.MIGRATIONS[1:]]
    )
    start = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            MetadataStore(db_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert [v for v, _ in migrations(db_url)] == list(range(1, SCHEMA_VERSION + 1))
