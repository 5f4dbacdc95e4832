"""The profile stage: version the data, check its quality, describe it, clean it."""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loopml.data.association import association, bin_codes, bin_numeric
from loopml.data.checks import (
    check_columns,
    check_correlated_columns,
    check_duplicate_columns,
    check_duplicate_rows,
    check_leakage,
    check_target,
)
from loopml.data.cleaning import apply_cleaning, plan_cleaning
from loopml.data.findings import SEVERITY_RANK, Finding
from loopml.data.schema import check_task
from loopml.data.sources import open_source
from loopml.data.stats import NUMERIC_ROLES, ColumnScan, ColumnStats, scan_column
from loopml.data.versions import (
    DatasetVersion,
    dataset_path,
    get_version,
    require_column,
    version_source,
)
from loopml.errors import DataError, NotFoundError, SpecError
from loopml.progress import NoProgress, Progress
from loopml.spec import ProjectSpec
from loopml.store import Store


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

    @property
    def findings_by_severity(self) -> dict[str, int]:
        """How many findings of each severity."""
        counts = {"error": 0, "warning": 0, "info": 0}
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (what `loopml profile --json` prints)."""
        return {
            "version": self.version,
            "source": self.source,
            "target": self.target,
            "task": self.task,
            "rows": self.rows,
            "columns": self.columns,
            "duplicate_rows": self.duplicate_rows,
            "findings": [f.to_dict() for f in self.findings],
            "column_stats": [s.to_dict() for s in self.column_stats],
            "cleaning": self.cleaning,
            "cleaned_version": self.cleaned_version,
            "cleaned_rows": self.cleaned_rows,
            "cleaned_columns": self.cleaned_columns,
            "report": self.report_path,
            "elapsed_s": round(self.elapsed_s, 3),
        }


# Bump when profiling logic changes what a profile (and so a cleaned version) contains.
_PROFILE_FORM = "loopml-profile-v1"
_ROW_HASH_PRIME = np.uint64(0x100000001B3)


def profile_key(spec: ProjectSpec, raw_version: str) -> str:
    """Identity of a profile: the raw version plus every spec setting that shapes it."""
    relevant = spec.model_dump(
        mode="json", include={"target", "task", "columns", "cleaning", "checks", "seed"}
    )
    payload = json.dumps(
        {"form": _PROFILE_FORM, "raw": raw_version, "spec": relevant}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def profile_dataset(
    spec: ProjectSpec,
    root: Path,
    store: Store,
    *,
    report_path: Path | None = None,
    progress: Progress | None = None,
) -> ProfileResult:
    """Version the spec's data source, profile it, clean it, and write the HTML report."""
    progress = progress or NoProgress()
    started = time.perf_counter()
    raw = _version_spec_source(spec, root, store, progress)
    return _profile_and_record(spec, root, store, raw, report_path, progress, started)


def prepare_dataset(
    spec: ProjectSpec, root: Path, store: Store, *, progress: Progress | None = None
) -> DatasetVersion:
    """The cleaned dataset version of the current data, profiling only when not done before."""
    progress = progress or NoProgress()
    started = time.perf_counter()
    raw = _version_spec_source(spec, root, store, progress)
    key = profile_key(spec, raw.version)
    for row in store.meta.profiles(raw.version):
        if row["summary"].get("profile_key") == key:
            cleaned = get_version(store, row["summary"]["cleaned_version"])
            if store.artifacts.exists(cleaned.artifact):
                return cleaned
    result = _profile_and_record(spec, root, store, raw, None, progress, started)
    return get_version(store, result.cleaned_version or raw.version)


def column_roles(store: Store, version: DatasetVersion) -> dict[str, str]:
    """The role of each column of a (raw or cleaned) version, from the profile that made it."""
    raw = version if version.parent_version is None else get_version(store, version.parent_version)
    for row in store.meta.profiles(raw.version):
        roles = row["summary"].get("roles")
        made_it = version is raw or row["summary"].get("cleaned_version") == version.version
        if roles and made_it:
            return {name: roles[name] for name in version.column_names if name in roles}
    raise NotFoundError(
        f"dataset version {version.short} has no profile with column roles; run `loopml profile`"
    )


def _version_spec_source(
    spec: ProjectSpec, root: Path, store: Store, progress: Progress
) -> DatasetVersion:
    source = open_source(spec.data, root)
    progress.phase(f"Reading and versioning {Path(source.description).name}")
    return version_source(source, store, on_rows=progress.advance, target=spec.target)


def _profile_and_record(
    spec: ProjectSpec,
    root: Path,
    store: Store,
    raw: DatasetVersion,
    report_path: Path | None,
    progress: Progress,
    started: float,
) -> ProfileResult:
    from loopml.report.profile_report import write_profile_report

    result = profile_version(spec, store, raw, progress=progress)
    report_path = report_path or root / "reports" / f"profile-{raw.short}.html"
    progress.phase("Writing the HTML report")
    result.elapsed_s = time.perf_counter() - started
    write_profile_report(result, report_path)
    result.report_path = str(report_path)
    result.elapsed_s = time.perf_counter() - started  # the report included
    ref = store.artifacts.put_file(report_path, suffix=".html")
    store.meta.add_profile(
        {
            "dataset_version": raw.version,
            "summary": {
                "profile_key": profile_key(spec, raw.version),
                "cleaned_version": result.cleaned_version,
                "rows": result.rows,
                "columns": result.columns,
                "findings_by_severity": result.findings_by_severity,
                "roles": {s.name: s.role for s in result.column_stats},
            },
            "findings": [f.to_dict() for f in result.findings],
            "report_sha256": ref.sha256,
            "report_path": str(report_path),
        }
    )
    return result


def profile_version(
    spec: ProjectSpec, store: Store, raw: DatasetVersion, *, progress: Progress | None = None
) -> ProfileResult:
    """Profile and clean a stored raw version (no report, nothing recorded but the cleaning)."""
    progress = progress or NoProgress()
    path = dataset_path(store, raw)
    names = raw.column_names
    _check_spec_columns(spec, names, raw)
    n = raw.n_rows
    target_column = pq.read_table(path, columns=[spec.target]).column(0)
    target = scan_column(spec.target, target_column, spec.checks, role_override=None)
    target.stats.role = "target"
    check_task(spec.task, target_column, spec.target, raw.source.get("description", "the data"))
    labelled = np.flatnonzero(~np.asarray(target_column.is_null().to_numpy(zero_copy_only=False)))
    rng = np.random.default_rng(spec.seed)
    sample = labelled
    if len(labelled) > spec.checks.sample_rows:
        sample = np.sort(rng.choice(labelled, size=spec.checks.sample_rows, replace=False))
    y = (target.numeric if spec.task == "regression" else target.codes)[sample]
    corr_rows = sample[: min(len(sample), 50_000)]

    row_hash = np.zeros(n, dtype=np.uint64)
    scans: list[ColumnScan] = []
    leak_scores: dict[str, float] = {}
    numeric_sample: dict[str, np.ndarray] = {}

    def scan(name: str) -> ColumnScan:
        if name == spec.target:
            return target
        column = pq.read_table(path, columns=[name]).column(0)
        found = scan_column(name, column, spec.checks, spec.columns.get(name))
        _associate(found, sample, y, spec, leak_scores)
        return found

    progress.phase("Profiling columns", total=len(names))
    # Columns are independent: scan them on all cores (pyarrow and numpy release the GIL);
    # results come back in column order, so the row hash is the same as a serial scan.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for found in pool.map(scan, names):
            name = found.stats.name
            if name != spec.target:
                if found.numeric is not None and found.stats.role in NUMERIC_ROLES:
                    numeric_sample[name] = found.numeric[corr_rows]
                found.numeric = None
                scans.append(found)
            row_hash = row_hash * _ROW_HASH_PRIME + (found.codes.astype(np.uint64) + np.uint64(1))
            found.codes = found.codes[:0]  # free memory; the digest stays for duplicate columns
            progress.advance()

    _, first = np.unique(row_hash, return_index=True)
    is_first = np.zeros(n, dtype=bool)
    is_first[first] = True
    has_target = np.zeros(n, dtype=bool)
    has_target[labelled] = True
    keep_rows = np.ones(n, dtype=bool)
    if spec.cleaning.drop_duplicate_rows:
        keep_rows &= is_first
    removed_for_target = int((keep_rows & ~has_target).sum())
    if spec.cleaning.drop_missing_target:
        keep_rows &= has_target
    duplicates = int(n - len(first))
    target_summary = _target_summary(spec, target, target_column)
    correlations = _correlations(numeric_sample)
    findings = (
        check_target(target, spec, target_summary.get("counts", {}))
        + check_leakage(scans, spec, leak_scores)
        + check_duplicate_rows(duplicates, n, spec)
        + check_duplicate_columns(scans, {c["name"]: c["digest"] for c in raw.columns})
        + check_correlated_columns(correlations, spec)
        + check_columns(scans, spec)
    )
    findings.sort(key=lambda f: -SEVERITY_RANK[f.severity])
    progress.phase("Cleaning")
    stats = [s.stats for s in scans]
    ops = plan_cleaning(spec, stats, findings, duplicates, removed_for_target)
    cleaned = apply_cleaning(store, raw, ops, keep_rows)
    return ProfileResult(
        version=raw.version,
        source=raw.source.get("description", ""),
        target=spec.target,
        task=spec.task,
        rows=n,
        columns=raw.n_columns,
        column_stats=[target.stats, *stats],
        findings=findings,
        target_summary=target_summary,
        correlations=correlations,
        duplicate_rows=duplicates,
        cleaned_version=cleaned.version,
        cleaned_rows=cleaned.n_rows,
        cleaned_columns=cleaned.n_columns,
        cleaning=ops,
    )


def _check_spec_columns(spec: ProjectSpec, names: list[str], raw: DatasetVersion) -> None:
    where = raw.source.get("description", "the data")
    require_column(spec.target, names, where, "target column")
    for key, columns in (
        ("columns", list(spec.columns)),
        ("cleaning.drop_columns", spec.cleaning.drop_columns),
    ):
        for column in columns:
            try:
                require_column(column, names, where)
            except DataError as exc:
                raise SpecError(f"`{key}` names a missing column: {exc.message}") from None


def _associate(
    scan: ColumnScan,
    sample: np.ndarray,
    y: np.ndarray,
    spec: ProjectSpec,
    leak_scores: dict[str, float],
) -> None:
    role = scan.stats.role
    if role in ("constant", "text") or not len(sample):
        return
    if scan.numeric is not None and role in NUMERIC_ROLES:
        bins = bin_numeric(scan.numeric[sample])
    else:
        bins = bin_codes(scan.codes[sample])
    found = association(bins, y, spec.task, spec.seed)
    scan.stats.target_association = found.score
    scan.stats.association_metric = found.metric
    leak_scores[scan.stats.name] = found.leak_score


def _target_summary(
    spec: ProjectSpec, target: ColumnScan, column: pa.ChunkedArray
) -> dict[str, Any]:
    if spec.task == "regression":
        return {"kind": "numeric", "histogram": target.stats.histogram}
    counts = pc.value_counts(column.drop_null()).to_pylist()
    ordered = sorted(counts, key=lambda item: -item["counts"])
    return {"kind": "classes", "counts": {str(i["values"]): int(i["counts"]) for i in ordered}}


def _correlations(columns: dict[str, np.ndarray]) -> dict[str, Any]:
    """Spearman correlations (Pearson on ranks, pairwise complete) of numeric-like columns."""
    import pandas as pd

    names = [n for n, v in columns.items() if np.isfinite(v).sum() > 1 and np.nanstd(v) > 0][:60]
    if len(names) < 2:
        return {"method": "spearman", "columns": names, "matrix": []}
    ranks = pd.DataFrame({n: pd.Series(columns[n]).rank() for n in names})
    matrix = ranks.corr(min_periods=10).to_numpy()
    cells = [[None if not np.isfinite(v) else round(float(v), 4) for v in row] for row in matrix]
    return {"method": "spearman", "columns": names, "matrix": cells}
