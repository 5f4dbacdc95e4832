"""The store: a metadata database plus a content-addressed artifact folder."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from loopml.store.artifacts import ArtifactRef, ArtifactStore, LocalArtifactStore, sha256_file
from loopml.store.metadata import MetadataStore

__all__ = ["ArtifactRef", "ArtifactStore", "MetadataStore", "Store", "sha256_file"]


@dataclass
class Store:
    """Both halves of the store for one project, opened lazily on first use."""

    metadata_url: str
    artifacts_root: Path

    @classmethod
    def for_project(cls, root: Path, metadata: str, artifacts: str) -> Store:
        """Resolve the spec's store settings against the project folder `root`."""
        from loopml.urls import sqlite_url_in

        return cls(sqlite_url_in(metadata, root), (root / artifacts).resolve())

    @cached_property
    def meta(self) -> MetadataStore:
        """The metadata database (created and migrated on first access)."""
        if self.metadata_url.startswith("sqlite:///"):
            Path(self.metadata_url.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        return MetadataStore(self.metadata_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store."""
        return LocalArtifactStore(self.artifacts_root)

    def close(self) -> None:
        """Release database connections."""
        if "meta" in self.__dict__:
            self.meta.close()
