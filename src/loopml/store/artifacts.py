"""Content-addressed artifact store: files named by the sha256 of their bytes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from loopml.errors import StoreError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArtifactRef:
    """Where an artifact lives: its sha256, size in bytes and path relative to the store root."""

    sha256: str
    size: int
    relpath: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ArtifactRef:
        """Read the `artifact_*` columns of a metadata row."""
        return cls(row["artifact_sha256"], row["artifact_size"], row["artifact_path"])

    def as_row(self) -> dict[str, Any]:
        """The `artifact_*` columns of a metadata row."""
        return {
            "artifact_sha256": self.sha256,
            "artifact_path": self.relpath,
            "artifact_size": self.size,
        }


class ArtifactStore(Protocol):
    """What every artifact backend offers; a fsspec-backed store implements the same."""

    def staging_path(self, suffix: str = "") -> contextlib.AbstractContextManager[Path]: ...
    def put_file(self, path: Path, *, suffix: str = "", move: bool = False) -> ArtifactRef: ...
    def put_bytes(self, data: bytes, *, suffix: str = "") -> ArtifactRef: ...
    def path(self, ref: ArtifactRef) -> Path: ...
    def verified_path(self, ref: ArtifactRef) -> Path: ...
    def exists(self, ref: ArtifactRef) -> bool: ...


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class LocalArtifactStore:
    """Artifacts under a local folder: `objects/ab/abcdef….ext`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _ensure(self) -> None:
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def staging_path(self, suffix: str = "") -> Iterator[Path]:
        """A scratch path inside the store (same filesystem, so the final rename is atomic)."""
        self._ensure()
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", suffix=suffix)
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def put_file(self, path: Path, *, suffix: str = "", move: bool = False) -> ArtifactRef:
        """Store a file under its sha256; identical content is stored once."""
        self._ensure()
        sha = sha256_file(path)
        relpath = f"objects/{sha[:2]}/{sha}{suffix}"
        final = self._inside(relpath)
        size = path.stat().st_size
        if final.exists() and final.stat().st_size == size and sha256_file(final) == sha:
            return ArtifactRef(sha, size, relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp", suffix=suffix)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if move:
                os.replace(path, tmp)
            else:
                shutil.copyfile(path, tmp)
            _fsync_file(tmp)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return ArtifactRef(sha, size, relpath)

    def put_bytes(self, data: bytes, *, suffix: str = "") -> ArtifactRef:
        """Store bytes under their sha256."""
        with self.staging_path(suffix) as tmp:
            tmp.write_bytes(data)
            return self.put_file(tmp, suffix=suffix, move=True)

    def path(self, ref: ArtifactRef) -> Path:
        """The artifact's local path, checked to stay inside the store root."""
        return self._inside(ref.relpath)

    def verified_path(self, ref: ArtifactRef) -> Path:
        """The artifact's path after checking its bytes still hash to `ref.sha256`."""
        path = self.path(ref)
        if not path.exists():
            raise StoreError(
                f"artifact {ref.sha256[:12]} is missing from {self.root}; "
                "the store was moved or pruned"
            )
        actual = sha256_file(path)
        if actual != ref.sha256:
            raise StoreError(
                f"artifact {path} does not match its recorded sha256 "
                f"({actual[:12]} != {ref.sha256[:12]}); it was modified or truncated: refusing it"
            )
        return path

    def exists(self, ref: ArtifactRef) -> bool:
        """True when the artifact's file is present."""
        return self.path(ref).exists()

    def _inside(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if not path.is_relative_to(self.root):
            raise StoreError(f"artifact path {relpath!r} escapes the store root {self.root}")
        return path


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can fsync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
