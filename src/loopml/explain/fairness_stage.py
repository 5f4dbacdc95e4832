"""The `fairness` stage: a model version's per-group report, at training or on demand.

At training the report is made on the sealed test part (the one logged access of the final
evaluation) and kept with the run and the model version's card, where the promotion gate
reads its threshold checks. On demand (`loopml fairness REF`) the version's test part is
opened again through a logged `unseal_test`, or a labelled file is used instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError, UsageError
from loopml.spec import ProjectSpec, sensitive_problem
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


def check_sensitive(
    columns: list[str],
    *,
    target: str,
    drop_columns: list[str],
    present: list[str],
    where: str,
    key: str = "`fairness.sensitive`",
) -> None:
    """Refuse, in one sentence naming `key`, the first of `columns` that breaks the rule of
    sensitive columns (`loopml.spec.sensitive_problem`: in the data, not the target, …)."""
    for column in columns:
        problem = sensitive_problem(
            column, target=target, drop_columns=drop_columns, present=present, where=where
        )
        if problem:
            raise DataError(f"{key} {problem}")


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
        test[fairness.sensitive],
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

    model, number, run, rows, where, columns = open_rows(
        store, spec, ref, data, "fairness check", sensitive
    )
    prediction = model.predict(rows)
    report = fairness_report(
        model.task,
        rows[run["spec"]["target"]].to_numpy(),
        np.asarray(prediction),
        rows[columns],
        classes=model.classes,
        thresholds=spec.fairness.thresholds if spec.fairness else {},
        min_group_size=spec.fairness.min_group_size if spec.fairness else 30,
        seed=spec.seed,
    )
    from loopml.runs.records import jsonable

    return jsonable({"model_version": number, "rows": where, **report})


def open_rows(
    store: Store,
    spec: ProjectSpec,
    ref: str,
    data: Any,
    purpose: str,
    sensitive: list[str] | None,
    check: Callable[[Any, dict[str, Any]], None] | None = None,
) -> tuple[Any, int | None, dict[str, Any], pd.DataFrame, str, list[str]]:
    """(model, version number, its run, labelled rows, where they come from, the sensitive
    columns): the version's test part through a logged unseal, or `data` (a file or a
    DataFrame) when given. The sensitive columns (`sensitive`, else the spec's) and
    `check(model, run)` come first: a refused request never opens the test part."""
    from loopml.data.splits import load_split, open_split
    from loopml.data.versions import get_version
    from loopml.runs.scoring import read_input, resolve_model

    model, _, number = resolve_model(store, spec.name, str(ref), spec)
    run = _run(store, spec, str(ref), number)
    target = run["spec"]["target"]
    columns = _columns(spec, sensitive)
    if check is not None:
        check(model, run)
    rule = {
        "target": target,
        "drop_columns": (run["spec"].get("cleaning") or {}).get("drop_columns") or [],
        "key": "--sensitive" if sensitive else "`fairness.sensitive`",
    }
    if data is None:
        split = load_split(store, run["split_id"])
        where = f"the test part of split {split.short}"
        present = get_version(store, split.dataset_version).column_names
        check_sensitive(columns, present=present, where=where, **rule)
        label = f"version {number}" if number is not None else f"run {run['id'][:12]}"
        rows = open_split(store, split).unseal_test(f"{purpose} of {label}")
    else:
        if isinstance(data, pd.DataFrame):
            rows, where = data, "the given rows"
        elif not Path(data).is_file():
            raise DataError(f"the file {data} does not exist; check the path")
        else:
            rows, where = read_input(Path(data)), str(data)
        check_sensitive(columns, present=list(rows.columns), where=where, **rule)
    if target not in rows.columns:
        raise DataError(f"{where} has no target column `{target}`; fairness needs labelled rows")
    rows = rows[rows[target].notna()]
    if rows.empty:
        raise DataError(f"{where} has no labelled row (target `{target}` is always missing)")
    return model, number, run, rows.reset_index(drop=True), where, columns


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
