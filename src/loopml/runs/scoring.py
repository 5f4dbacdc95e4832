"""Load a run's chosen model (checked against the store) and score a table with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.errors import DataError, NotFoundError
from loopml.registry.signature import Signature
from loopml.spec import ProjectSpec
from loopml.store import ArtifactRef, Store

_RUN_ID = re.compile(r"^[0-9a-f]{6,64}$")


def load_reference(store: Store, project: str, ref: str, spec: ProjectSpec | None = None) -> Any:
    """The model a reference names: a version number, an alias, `latest`, or a run id."""
    return resolve_model(store, project, ref, spec)[0]


def resolve_model(
    store: Store, project: str, ref: str, spec: ProjectSpec | None = None
) -> tuple[Any, Signature, int | None]:
    """(model, its input signature, its version number) for a model reference."""
    from loopml.registry.versions import resolve

    try:
        version = resolve(store, project, ref)
    except NotFoundError:
        if not _RUN_ID.match(ref):
            raise
        run = model_run(store, ref)
        number = None
    else:
        run = store.meta.run(version["run_id"])
        number = version["version"]
    signature = (run["chosen"] or {}).get("signature")
    if signature is None:
        raise NotFoundError(
            f"run {run['id'][:12]} was trained before models recorded their input signature; "
            "retrain it to score with it"
        )
    return load_run_model(store, run, spec), Signature.from_dict(signature), number


def model_run(store: Store, ref: str) -> dict[str, Any]:
    """The complete run a model reference names: a run id or prefix, or `latest`."""
    if ref == "latest":
        for row in store.meta.runs():
            if row["status"] == "complete":
                return row
        raise NotFoundError("no complete training run yet; run `loopml train` first")
    row = store.meta.run(ref)
    if row["status"] != "complete":
        raise NotFoundError(
            f"run {row['id'][:12]} is {row['status']} and has no model; see `loopml runs list`"
        )
    return row


def load_run_model(store: Store, run: dict[str, Any], spec: ProjectSpec | None = None) -> Any:
    """The run's deployment model (all rows when refitted so), verified by sha256, via skops."""
    from loopml.models.persist import load_model

    ref, path = model_artifact(store, run)
    trusted = trusted_types(spec, run["spec"]["task"])
    return load_model(path.read_bytes(), sha256=ref.sha256, trusted=trusted)


def model_artifact(store: Store, run: dict[str, Any]) -> tuple[ArtifactRef, Path]:
    """The run's deployment model file, its sha256 checked against the store (not loaded)."""
    chosen = run["chosen"] or {}
    row = chosen.get("model_all_rows") or chosen.get("model")
    if not row:
        raise NotFoundError(f"run {run['id'][:12]} recorded no model artifact")
    ref = ArtifactRef.from_row(row)
    return ref, store.artifacts.verified_path(ref)


def trusted_types(spec: ProjectSpec | None, task: str) -> list[str]:
    """Estimator types beyond loopml's own that this project's models may hold."""
    declared = [_type_name(f.estimator) for f in (spec.train.custom_families if spec else [])]
    return declared + _registered_types(task)


def _type_name(path: str) -> str:
    """The name skops records for the class at import path `path` (its defining module)."""
    from loopml.models.custom import import_estimator

    cls = import_estimator(path)
    return f"{cls.__module__}.{cls.__qualname__}"


def _registered_types(task: str) -> list[str]:
    """Estimator types of the families registered from Python in this process: their code is
    already imported and trusted by the user, so their fitted estimators may be loaded."""
    from loopml.models import FAMILIES
    from loopml.models.catalog import is_built_in

    names = []
    for family in FAMILIES.values():
        if is_built_in(family) or not family.supports(task):
            continue
        cls = type(family.make_estimator(task))
        names.append(f"{cls.__module__}.{cls.__qualname__}")
    return names


def read_input(path: Path) -> pd.DataFrame:
    """A CSV, Parquet or JSON Lines file as a DataFrame, read the way training data is."""
    from loopml.data.sources import open_source, read_table
    from loopml.spec import DataSource

    source = open_source(DataSource(path=str(path)), Path.cwd(), origin=None)
    return read_table(source).to_pandas()


def score_frame(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """`prediction` (and `proba_<class>` per class) for every row of `frame`."""
    if len(frame) == 0:
        raise DataError("the input has no rows to score")
    return model.prediction_frame(frame)
