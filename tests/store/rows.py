"""Metadata rows for the store tests."""

from __future__ import annotations

from typing import Any


def dataset_row(version: str, **overrides: Any) -> dict[str, Any]:
    """A complete `datasets` row for `version` (a 64-hex id)."""
    row = {
        "version": version,
        "kind": "raw",
        "parent_version": None,
        "source": {"kind": "csv", "path": "data.csv"},
        "operations": [],
        "operations_hash": None,
        "n_rows": 10,
        "n_columns": 2,
        "columns": [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}],
        "artifact_sha256": "f" * 64,
        "artifact_path": f"objects/ff/{'f' * 64}.parquet",
        "artifact_size": 123,
    }
    row.update(overrides)
    return row
