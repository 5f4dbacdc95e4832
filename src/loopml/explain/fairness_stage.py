"""The `fairness` stage: a model version's per-group report, at training or on demand.

At training the report is made on the sealed test part (the one logged access of the final
evaluation) and kept with the run and the model version's card, where the promotion gate
reads its threshold checks. On demand (`loopml fairness REF`) the version's test part is
opened again through a logged `unseal_test`, or a labelled file is used instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError, UsageError
from loopml.spec import ProjectSpec
from loopml.store import Store


def decisions(task: str, classes: list[Any] | None, threshold: float | None, prediction: Any):
    """Class labels from what the metrics take (binary P(positive), multiclass (n, k)), or
    the values themselves for regression."""
    if task == "regression":
        return np.asarray(prediction, dtype=float)
    labels = np.asarray(classes, dtype=object)
    prediction = np.asarray(prediction)
    if task == "binary":
        return labels[(prediction >= threshold).astype(int)]
    return labels[prediction.argmax(axis=1)]


def sensitive_frame(frame: pd.DataFrame, columns: list[str], where: str) -> pd.DataFrame:
    """The sensitive columns of `frame`; a DataError naming any that it lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"the sensitive column `{missing[0]}` is not in {where}; check `fairness.sensitive` "
            "in loopml.yaml (or --sensitive) against the data's columns"
        )
    return frame[columns]


def fairness_at_training(
    spec: ProjectSpec,
    classes: list[Any] | None,
    threshold: float | None,
    prediction: Any,
    test: pd.DataFrame,
) -> dict[str, Any] | None:
    """The fairness report of the final evaluation (None when the spec names no columns)."""
    from loopml.explain.fairness import fairness_report

    if spec.fairness is None:
        return None
    fairness = spec.fairness
    return fairness_report(
        spec.task,
        test[spec.target].to_numpy(),
        decisions(spec.task, classes, threshold, prediction),
        sensitive_frame(test, fairness.sensitive, "the test part"),
        classes=classes,
        thresholds=fairness.thresholds,
        min_group_size=fairness.min_group_size,
        seed=spec.seed,
    )


def check_fairness(
    store: Store,
    spec: ProjectSpec,
    ref: str,
    *,
    sensitive: list[str] | None = None,
    data: str | Path | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Model `ref`'s fairness report on its test part (logged access) or on labelled `data`."""
    from loopml.explain.fairness import fairness_report

    model, number, run, rows, where = open_rows(store, spec, ref, data, "fairness check")
    target = run["spec"]["target"]
    columns = _columns(spec, sensitive)
    y = rows[target]
    frame = sensitive_frame(rows, columns, where)
    prediction = model.predict(rows)
    report = fairness_report(
        model.task,
        y.to_numpy(),
        np.asarray(prediction),
        frame,
        classes=model.classes,
        thresholds=spec.fairness.thresholds if spec.fairness else {},
        min_group_size=spec.fairness.min_group_size if spec.fairness else 30,
        seed=spec.seed,
    )
    from loopml.runs.records import jsonable

    return jsonable({"model_version": number, "rows": where, **report})


def open_rows(
    store: Store, spec: ProjectSpec, ref: str, data: Any, purpose: str
) -> tuple[Any, int | None, dict[str, Any], pd.DataFrame, str]:
    """(model, version number, its run, labelled rows, where they come from): the version's
    test part through a logged unseal, or `data` (a file or a DataFrame) when given."""
    from loopml.data.splits import load_split, open_split
    from loopml.runs.scoring import read_input, resolve_model

    model, _, number = resolve_model(store, spec.name, str(ref), spec)
    run = _run(store, spec, str(ref), number)
    target = run["spec"]["target"]
    if data is None:
        split = load_split(store, run["split_id"])
        label = f"version {number}" if number is not None else f"run {run['id'][:12]}"
        rows = open_split(store, split).unseal_test(f"{purpose} of {label}")
        where = f"the test part of split {run['split_id'][:12]}"
    elif isinstance(data, pd.DataFrame):
        rows, where = data, "the given rows"
    else:
        if not Path(data).is_file():
            raise DataError(f"the file {data} does not exist; check the path")
        rows, where = read_input(Path(data)), str(data)
    if target not in rows.columns:
        raise DataError(f"{where} has no target column `{target}`; fairness needs labelled rows")
    rows = rows[rows[target].notna()]
    if rows.empty:
        raise DataError(f"{where} has no labelled row (target `{target}` is always missing)")
    return model, number, run, rows.reset_index(drop=True), where


def _columns(spec: ProjectSpec, sensitive: list[str] | None) -> list[str]:
    if sensitive:
        return list(dict.fromkeys(sensitive))
    if spec.fairness is None:
        raise UsageError(
            "name the sensitive column(s): add `fairness: {sensitive: [COLUMN]}` to loopml.yaml "
            "or pass --sensitive COLUMN"
        )
    return list(spec.fairness.sensitive)


def _run(store: Store, spec: ProjectSpec, ref: str, number: int | None) -> dict[str, Any]:
    from loopml.registry.versions import resolve
    from loopml.runs.scoring import model_run

    if number is None:
        return model_run(store, ref)
    return store.meta.run(resolve(store, spec.name, str(number))["run_id"])
