"""Shared fixtures: a fresh store, the bundled demo table, small real datasets."""

from __future__ import annotations

import os

# Each pytest-xdist worker already has a core: one OpenMP / BLAS thread per worker, or the
# boosters' spin-waiting threads oversubscribe the machine and run several times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import loopml
from loopml.data.versions import DatasetVersion, version_table
from loopml.store import Store

DEMO_CSV = Path(loopml.__file__).parent / "demo" / "flights.csv"


@pytest.fixture
def demo_csv() -> Path:
    """The bundled NYC flights demo table (5,000 rows, mixed types, a date, missing values)."""
    return DEMO_CSV


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh project store (SQLite + artifact folder) under a temporary folder."""
    created = Store.for_project(tmp_path, "sqlite:///.loopml/metadata.db", ".loopml/artifacts")
    yield created
    created.close()


@pytest.fixture
def add_frame(store: Store) -> Callable[[pd.DataFrame], DatasetVersion]:
    """A function recording a pandas DataFrame as a raw dataset version in `store`."""

    def _add(frame: pd.DataFrame, name: str = "test") -> DatasetVersion:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return version_table(
            table,
            store,
            kind="raw",
            parent=None,
            source={"kind": "memory", "description": name},
            operations=[],
        )

    return _add


@pytest.fixture
def demo_frame(demo_csv: Path) -> pd.DataFrame:
    """The demo table as a DataFrame."""
    return pd.read_csv(demo_csv)
