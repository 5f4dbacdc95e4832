"""The Python face: `Project("loopml.yaml")` runs the same stages as the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from loopml.spec import ProjectSpec, load_spec, spec_path_for
from loopml.store import Store

if TYPE_CHECKING:
    from loopml.data.profile import ProfileResult
    from loopml.data.splits import SplitInfo, SplitView
    from loopml.data.versions import DatasetVersion
    from loopml.progress import Progress


class Project:
    """A loopml project: its spec, its folder and its store."""

    def __init__(self, path: str | Path = "loopml.yaml") -> None:
        self.spec_path = spec_path_for(path).resolve()
        self.spec: ProjectSpec = load_spec(self.spec_path)
        self.root = self.spec_path.parent
        self.store = Store.for_project(
            self.root, self.spec.store.metadata, self.spec.store.artifacts
        )

    def __repr__(self) -> str:
        return f"Project({str(self.spec_path)!r})"

    def profile(
        self, *, report_path: Path | None = None, progress: Progress | None = None
    ) -> ProfileResult:
        """Version the data, run the quality checks, clean it and write the EDA report."""
        from loopml.data.profile import profile_dataset

        return profile_dataset(
            self.spec, self.root, self.store, report_path=report_path, progress=progress
        )

    def prepare(self, *, progress: Progress | None = None) -> DatasetVersion:
        """The cleaned dataset version of the current data (profiled if it is new)."""
        from loopml.data.profile import prepare_dataset

        return prepare_dataset(self.spec, self.root, self.store, progress=progress)

    def split(self, *, progress: Progress | None = None) -> SplitInfo:
        """Split the cleaned dataset into train / validation / test (same inputs, same split)."""
        from loopml.data.splits import split_dataset

        version = self.prepare(progress=progress)
        if progress is not None:
            progress.phase("Splitting")
        return split_dataset(self.store, version, self.spec)

    def open_split(self, ref: str = "latest") -> SplitView:
        """Access a split's parts; the test part stays sealed until `unseal_test`."""
        from loopml.data.splits import load_split, open_split

        return open_split(self.store, load_split(self.store, ref))

    def splits(self) -> list[SplitInfo]:
        """Every split in the store, newest first."""
        from loopml.data.splits import SplitInfo

        return [SplitInfo.from_row(row) for row in self.store.meta.splits()]

    def datasets(self) -> list[DatasetVersion]:
        """Every dataset version in the store, newest first."""
        from loopml.data.versions import DatasetVersion

        return [DatasetVersion.from_row(row) for row in self.store.meta.datasets()]

    def dataset(self, ref: str = "latest") -> DatasetVersion:
        """A dataset version by id, unique prefix, or `latest`."""
        from loopml.data.versions import get_version

        return get_version(self.store, ref)

    def lineage(self, version: DatasetVersion) -> list[DatasetVersion]:
        """A dataset version and its ancestors, newest first."""
        from loopml.data.versions import lineage

        return lineage(self.store, version)

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()
