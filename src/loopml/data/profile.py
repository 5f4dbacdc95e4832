"""The profile stage: version the data, check its quality, describe it, clean it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopml.data.findings import Finding
from loopml.data.stats import ColumnStats


@dataclass
class ProfileResult:
    """Everything `loopml profile` learned about a dataset version."""

    version: str  # the raw dataset version profiled
    source: str
    target: str
    task: str
    rows: int
    columns: int
    column_stats: list[ColumnStats]
    findings: list[Finding]
    # {"kind": "classes", "counts": {label: n}} or {"kind": "numeric", "histogram": Histogram}
    target_summary: dict[str, Any]
    # {"method": "spearman", "columns": [...], "matrix": [[...]]} over numeric-like columns
    correlations: dict[str, Any]
    duplicate_rows: int
    cleaned_version: str | None = None
    cleaned_rows: int | None = None
    cleaned_columns: int | None = None
    cleaning: list[dict[str, Any]] = field(default_factory=list)  # operations applied
    report_path: str | None = None
    elapsed_s: float = 0.0
