"""Step 1, define the task: write a `loopml.yaml` for a data file and its target column."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from loopml.data.schema import check_task, infer_task
from loopml.data.sources import open_source, read_source
from loopml.data.versions import require_column
from loopml.errors import DataError, UsageError
from loopml.spec import SPEC_FILE, DataSource, ProjectSpec, validate_spec
from loopml.spec_writer import write_spec

DEMO_DATA = Path(__file__).parent / "demo" / "flights.csv"
DEMO_TARGET = "late"
_INFERENCE_ROWS = 200_000


@dataclass(frozen=True)
class TableHead:
    """The column names of a data source and the target's values from its first rows."""

    columns: list[str]
    target_values: pa.Array | None


def read_head(source: DataSource, root: Path, target: str | None) -> TableHead:
    """Read the first rows of a source: enough to list columns and infer the task."""
    table = open_source(source, root)

    def first_rows(batches: Iterator[pa.RecordBatch]) -> tuple[list[str] | None, list[pa.Array]]:
        names, chunks, rows = None, [], 0
        for batch in batches:
            names = batch.schema.names
            if target is None or target not in names:
                break
            chunks.append(batch.column(names.index(target)))
            rows += batch.num_rows
            if rows >= _INFERENCE_ROWS:
                break
        return names, chunks

    names, chunks = read_source(table, first_rows)
    if names is None:
        raise DataError(f"{table.description} returned no columns; it is not a table")
    values = pa.concat_arrays(chunks) if chunks else None
    return TableHead(names, values)


def define_project(
    root: Path,
    *,
    data: str,
    target: str,
    task: str | None = None,
    metric: str | None = None,
    name: str | None = None,
    force: bool = False,
) -> tuple[ProjectSpec, Path]:
    """Validate the choices against the data and write `root/loopml.yaml`."""
    spec_path = root / SPEC_FILE
    if spec_path.exists() and not force:
        raise UsageError(f"{spec_path} already exists; pass --force to overwrite it")
    source = _source_for(data, root)
    head = read_head(source, root, target)
    require_column(target, head.columns, data, "target column")
    values = head.target_values
    if values is None or values.null_count == len(values):
        raise DataError(
            f"target column `{target}` in {data} has no values in its first rows; "
            "fill it or choose another target"
        )
    task = task or infer_task(values)
    check_task(task, values, target, data)
    raw = {
        "name": name or _project_name(root),
        "data": source.model_dump(exclude_defaults=True),
        "target": target,
        "task": task,
    }
    if metric:
        raw["metric"] = metric
    spec = validate_spec(raw, source="loopml init")
    root.mkdir(parents=True, exist_ok=True)
    return spec, write_spec(spec, spec_path)


def define_demo_project(
    root: Path, *, metric: str | None = None, name: str | None = None, force: bool = False
) -> tuple[ProjectSpec, Path]:
    """Copy the bundled demo table into `root/data/` and define a project on it."""
    target_file = root / "data" / DEMO_DATA.name
    target_file.parent.mkdir(parents=True, exist_ok=True)
    if not target_file.exists():
        shutil.copyfile(DEMO_DATA, target_file)
    return define_project(
        root,
        data=str(target_file.resolve()),
        target=DEMO_TARGET,
        metric=metric,
        name=name or "flights-delay",
        force=force,
    )


def _source_for(data: str, root: Path) -> DataSource:
    if "://" in data:
        raise UsageError(
            "for a SQL source, write `data.url` and `data.table` or `data.query` in loopml.yaml; "
            "`--data` takes a file path"
        )
    path = Path(data).expanduser()
    absolute = path if path.is_absolute() else (Path.cwd() / path)
    try:
        stored = str(absolute.resolve().relative_to(root.resolve()))
    except ValueError:
        stored = str(absolute.resolve())
    return DataSource(path=stored)


def _project_name(root: Path) -> str:
    cleaned = re.sub(r"[^\w.-]+", "-", root.resolve().name).strip("-.") or "project"
    return cleaned if cleaned[0].isalnum() else f"p{cleaned}"
