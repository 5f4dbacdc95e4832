"""The content-addressed artifact store on a real folder: addressing, dedup, checks, atomicity."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from loopml.errors import StoreError
from loopml.store import ArtifactRef, sha256_file
from loopml.store.artifacts import LocalArtifactStore


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    """A file of a bit more than 2 MiB, so hashing crosses the 1 MiB read chunks."""
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(2 * (1 << 20) + 12345))
    return path


def stored_files(store: LocalArtifactStore, folder: str = "objects") -> list[Path]:
    root = store.root / folder
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- addressing -------------------------------------------------------------------------------
def test_sha256_file_matches_hashlib_across_chunks(payload: Path) -> None:
    assert sha256_file(payload) == sha256_of(payload)


def test_put_file_addresses_by_sha256_of_the_bytes(
    artifacts: LocalArtifactStore, payload: Path
) -> None:
    ref = artifacts.put_file(payload, suffix=".bin")

    expected = sha256_of(payload)
    assert ref.sha256 == expected
    assert ref.size == payload.stat().st_size
    assert ref.relpath == f"objects/{expected[:2]}/{expected}.bin"
    stored = artifacts.path(ref)
    assert stored.is_relative_to(artifacts.root)
    assert stored.read_bytes() == payload.read_bytes()
    assert payload.exists(), "put_file without move must leave the source in place"


def test_put_file_with_move_takes_the_source(artifacts: LocalArtifactStore, payload: Path) -> None:
    expected = sha256_of(payload)
    ref = artifacts.put_file(payload, move=True)
    assert not payload.exists()
    assert sha256_of(artifacts.path(ref)) == expected


def test_put_bytes_addresses_by_sha256(artifacts: LocalArtifactStore) -> None:
    data = b"loopml artifact \x00\x01\x02" * 1000
    ref = artifacts.put_bytes(data, suffix=".dat")
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert ref.relpath.endswith(".dat")
    assert artifacts.verified_path(ref).read_bytes() == data


def test_identical_content_is_stored_once(
    artifacts: LocalArtifactStore, payload: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "elsewhere" / "copy.bin"
    copy.parent.mkdir()
    shutil.copyfile(payload, copy)

    first = artifacts.put_file(payload)
    second = artifacts.put_file(copy)
    third = artifacts.put_bytes(payload.read_bytes())

    assert first == second == third
    assert stored_files(artifacts) == [artifacts.path(first)]


def test_different_content_gets_different_addresses(artifacts: LocalArtifactStore) -> None:
    a = artifacts.put_bytes(b"a,b\n1,2\n")
    b = artifacts.put_bytes(b"a,b\n1,3\n")
    assert a.sha256 != b.sha256
    assert a.relpath != b.relpath
    assert len(stored_files(artifacts)) == 2


def test_putting_again_repairs_a_truncated_object(
    artifacts: LocalArtifactStore, payload: Path
) -> None:
    ref = artifacts.put_file(payload)
    stored = artifacts.path(ref)
    stored.write_bytes(stored.read_bytes()[:100])

    assert artifacts.put_file(payload) == ref
    assert artifacts.verified_path(ref) == stored


def test_putting_again_repairs_a_same_size_corruption(
    artifacts: LocalArtifactStore, payload: Path
) -> None:
    ref = artifacts.put_file(payload)
    stored = artifacts.path(ref)
    data = bytearray(stored.read_bytes())
    data[10] ^= 0xFF
    stored.write_bytes(bytes(data))

    artifacts.put_file(payload)
    assert artifacts.verified_path(ref) == stored


# -- verification -----------------------------------------------------------------------------
def test_verified_path_accepts_an_intact_object(
    artifacts: LocalArtifactStore, payload: Path
) -> None:
    ref = artifacts.put_file(payload)
    assert artifacts.exists(ref)
    assert artifacts.verified_path(ref) == artifacts.path(ref)


def test_verified_path_refuses_a_tampered_object(
    artifacts: LocalArtifactStore, payload: Path
) -> None:
    ref = artifacts.put_file(payload)
    stored = artifacts.path(ref)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one bit flipped
    stored.write_bytes(bytes(data))

    with pytest.raises(StoreError, match="sha256") as info:
        artifacts.verified_path(ref)
    message = str(info.value)
    assert ref.sha256[:12] in message
    assert sha256_of(stored)[:12] in message
    assert "does not match" in message


def test_verified_path_refuses_a_truncated_object(
    artifacts: LocalArtifactStore, payload: Path
) -> None:
    ref = artifacts.put_file(payload)
    stored = artifacts.path(ref)
    with open(stored, "r+b") as handle:
        handle.truncate(ref.size // 3)

    with pytest.raises(StoreError, match="does not match its recorded sha256"):
        artifacts.verified_path(ref)


def test_verified_path_refuses_a_missing_object(
    artifacts: LocalArtifactStore, payload: Path
) -> None:
    ref = artifacts.put_file(payload)
    artifacts.path(ref).unlink()

    assert not artifacts.exists(ref)
    with pytest.raises(StoreError, match="missing") as info:
        artifacts.verified_path(ref)
    assert ref.sha256[:12] in str(info.value)


def test_verified_path_refuses_a_ref_to_content_never_stored(
    artifacts: LocalArtifactStore,
) -> None:
    sha = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(StoreError, match="missing"):
        artifacts.verified_path(ArtifactRef(sha, 12, f"objects/{sha[:2]}/{sha}"))


# -- paths stay inside the root ---------------------------------------------------------------
@pytest.mark.parametrize(
    "relpath",
    [
        "../../etc/passwd",
        "objects/../../outside.bin",
        "/etc/passwd",
        "../artifacts-evil/file.bin",  # a sibling folder sharing the root's name as a prefix
    ],
)
def test_paths_escaping_the_root_are_refused(
    artifacts: LocalArtifactStore, tmp_path: Path, relpath: str
) -> None:
    (tmp_path / "artifacts-evil").mkdir()
    (tmp_path / "artifacts-evil" / "file.bin").write_bytes(b"x")
    (tmp_path / "outside.bin").write_bytes(b"x")
    ref = ArtifactRef("0" * 64, 1, relpath)

    for method in (artifacts.path, artifacts.verified_path, artifacts.exists):
        with pytest.raises(StoreError, match="escapes the store root"):
            method(ref)


def test_a_symlink_out_of_the_root_is_refused(
    artifacts: LocalArtifactStore, payload: Path, tmp_path: Path
) -> None:
    ref = artifacts.put_file(payload)
    outside = tmp_path / "outside.bin"
    shutil.copyfile(payload, outside)
    link = artifacts.root / "objects" / "link.bin"
    link.symlink_to(outside)

    with pytest.raises(StoreError, match="escapes the store root"):
        artifacts.verified_path(ArtifactRef(ref.sha256, ref.size, "objects/link.bin"))


# -- atomicity --------------------------------------------------------------------------------
def test_put_leaves_nothing_in_tmp(artifacts: LocalArtifactStore, payload: Path) -> None:
    artifacts.put_file(payload)
    artifacts.put_file(payload)  # the deduplicated path
    artifacts.put_bytes(b"some bytes")
    with artifacts.staging_path(".parquet") as staging:
        staging.write_bytes(b"staged")
        artifacts.put_file(staging, move=True)

    assert (artifacts.root / "tmp").is_dir()
    assert stored_files(artifacts, "tmp") == []


def test_a_crash_at_the_final_rename_stores_nothing(
    artifacts: LocalArtifactStore, payload: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def crashing_replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if "objects" in Path(dst).parts:
            raise OSError("simulated crash while publishing the object")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crashing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        artifacts.put_file(payload)
    with pytest.raises(OSError, match="simulated crash"):
        artifacts.put_bytes(b"bytes that never land")

    assert stored_files(artifacts) == []
    assert stored_files(artifacts, "tmp") == []
    assert payload.exists()

    # Once the crash is gone, the same content stores and verifies normally.
    monkeypatch.setattr(os, "replace", real_replace)
    ref = artifacts.put_file(payload)
    assert artifacts.verified_path(ref).read_bytes() == payload.read_bytes()


def test_a_crash_half_way_through_the_copy_leaves_no_partial_object(
    artifacts: LocalArtifactStore, payload: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_copy(src: Path, dst: Path) -> None:
        data = Path(src).read_bytes()
        Path(dst).write_bytes(data[: len(data) // 2])
        raise OSError("simulated crash: disk full")

    monkeypatch.setattr(shutil, "copyfile", half_copy)
    with pytest.raises(OSError, match="disk full"):
        artifacts.put_file(payload)

    assert stored_files(artifacts) == []
    assert stored_files(artifacts, "tmp") == []


# -- staging ----------------------------------------------------------------------------------
def test_staging_path_is_inside_the_store_and_removed_on_exit(
    artifacts: LocalArtifactStore,
) -> None:
    with artifacts.staging_path(".parquet") as staging:
        assert staging.parent == artifacts.root / "tmp"
        assert staging.suffix == ".parquet"
        staging.write_bytes(b"partial")
        assert staging.exists()
    assert not staging.exists()


def test_staging_path_is_removed_when_the_body_raises(artifacts: LocalArtifactStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), artifacts.staging_path() as staging:
        staging.write_bytes(b"half-written")
        raise RuntimeError("boom")
    assert not staging.exists()
    assert stored_files(artifacts, "tmp") == []


def test_staging_paths_are_distinct(artifacts: LocalArtifactStore) -> None:
    with artifacts.staging_path() as first, artifacts.staging_path() as second:
        assert first != second
