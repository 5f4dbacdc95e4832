"""Validation and encoding of evaluation inputs (labels, probabilities, predictions).

Every public function of `loopml.evaluate` turns its inputs into plain numpy arrays here:
class labels become integer codes in the order of `classes`, probabilities become float64.
Bad inputs raise `ValueError` with one sentence naming what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.spec import TASKS

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"


@dataclass(frozen=True)
class Prepared:
    """Validated inputs of one evaluation.

    `y` holds codes 0/1 (binary, 1 = `classes[1]`), codes 0..k-1 (multiclass, in `classes`
    order) or float values (regression); `pred` holds the positive-class probability (binary,
    1-d), the (n x k) probability matrix (multiclass) or the predicted values (regression).
    """

    task: str
    y: np.ndarray
    pred: np.ndarray
    classes: list[Any] | None
    threshold: float

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return task


def python_scalar(value: Any) -> Any:
    """A numpy scalar as the plain Python value (JSON-friendly labels)."""
    return value.item() if isinstance(value, np.generic) else value


def labels_array(values: Any, name: str = "y_true") -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty; there is nothing to evaluate")
    return arr


def _lookup_key(value: Any) -> Any:
    # True == 1 in Python but pandas keeps bool and int indexes apart: compare as ints.
    return int(value) if isinstance(value, bool | np.bool_) else python_scalar(value)


def encode(y: np.ndarray, classes: list[Any], name: str = "y_true") -> np.ndarray:
    """Integer codes of the labels `y` in `classes` order; unknown labels raise."""
    keys = [_lookup_key(c) for c in classes]
    index = pd.Index(keys, dtype=object)
    if not index.is_unique:
        raise ValueError(f"classes {list(classes)} hold a label twice")
    values = y.astype(np.int64) if y.dtype.kind == "b" else y
    if values.dtype.kind in "iuf" and all(
        isinstance(k, int | float) and not isinstance(k, bool) for k in keys
    ):
        # Fast path for numeric labels: a binary search in the sorted classes.
        table = np.asarray(keys, dtype=np.float64)
        order = np.argsort(table, kind="stable")
        ordered = table[order]
        pos = np.clip(np.searchsorted(ordered, values), 0, len(ordered) - 1)
        codes = np.where(ordered[pos] == values, order[pos], -1)
    else:
        codes = index.get_indexer(np.asarray(values, dtype=object))
    if (codes < 0).any():
        bad = y[np.flatnonzero(codes < 0)[0]]
        raise ValueError(
            f"{name} holds the label {python_scalar(bad)!r}, which is not among the classes "
            f"{[python_scalar(c) for c in classes]}"
        )
    return codes.astype(np.intp)


def binary_classes(y: np.ndarray, classes: Any = None) -> list[Any]:
    """The two classes [negative, positive] of a binary target; positives are `classes[1]`.

    Without `classes`, the sorted distinct labels of `y` are used; when `y` holds only one
    label, 0/1 (or False/True) targets are completed to [0, 1], others need `classes`.
    """
    if classes is not None:
        found = [python_scalar(c) for c in classes]
        if len(found) != 2:
            raise ValueError(f"a binary task needs exactly two classes, got {found}")
        return found
    try:
        present = [python_scalar(c) for c in np.unique(y)]
    except TypeError as exc:
        raise ValueError("y_true mixes label types; pass classes=[negative, positive]") from exc
    if len(present) == 2:
        return present
    if len(present) == 1:
        if y.dtype.kind == "b":
            return [False, True]
        if y.dtype.kind in "iuf" and present[0] in (0, 1):
            return [0, 1]
        raise ValueError(
            f"y_true holds the single label {present[0]!r}; pass classes=[negative, positive]"
        )
    raise ValueError(f"a binary task needs two classes but y_true holds {len(present)}")


def multiclass_classes(y: np.ndarray, classes: Any, n_columns: int | None) -> list[Any]:
    if classes is None:
        try:
            found = [python_scalar(c) for c in np.unique(y)]
        except TypeError as exc:
            raise ValueError("y_true mixes label types; pass classes") from exc
        if n_columns is not None and len(found) != n_columns:
            raise ValueError(
                f"y_true holds {len(found)} classes but the prediction has {n_columns} "
                "columns; pass classes in the column order"
            )
        return found
    found = [python_scalar(c) for c in classes]
    if len(found) < 2:
        raise ValueError(f"a multiclass task needs at least two classes, got {found}")
    return found


def _probabilities(pred: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(pred, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers") from exc
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds missing or infinite values")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"{name} must hold probabilities between 0 and 1")
    return arr


def prepare(
    task: str,
    y_true: Any,
    prediction: Any,
    *,
    classes: Any = None,
    threshold: float = 0.5,
    name: str = "prediction",
) -> Prepared:
    """Validate and encode one (y_true, prediction) pair for `task`."""
    check_task(task)
    y = labels_array(y_true)
    n = y.shape[0]
    if task == REGRESSION:
        try:
            values = np.asarray(y, dtype=np.float64)
            pred = np.asarray(prediction, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError("a regression target and its prediction must be numbers") from exc
        if pred.ndim == 2 and pred.shape[1] == 1:
            pred = pred[:, 0]
        if pred.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {pred.shape}")
        if not (np.isfinite(values).all() and np.isfinite(pred).all()):
            raise ValueError("y_true or the prediction holds missing or infinite values")
        return Prepared(task, values, pred, None, float(threshold))
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    proba = _probabilities(prediction, name)
    if task == BINARY:
        if proba.ndim == 2 and proba.shape[1] == 2:
            proba = proba[:, 1]  # predict_proba output: keep the positive column
        if proba.shape != (n,):
            raise ValueError(
                f"{name} of a binary task must be the positive-class probability with shape "
                f"({n},), got {proba.shape}"
            )
        found = binary_classes(y, classes)
        codes = encode(y, found)
        return Prepared(task, codes.astype(np.int8), proba, found, float(threshold))
    if proba.ndim != 2 or proba.shape[0] != n:
        raise ValueError(
            f"{name} of a multiclass task must be an (n x k) probability matrix with {n} rows, "
            f"got shape {proba.shape}"
        )
    found = multiclass_classes(y, classes, proba.shape[1])
    if len(found) != proba.shape[1]:
        raise ValueError(
            f"{len(found)} classes given but the prediction has {proba.shape[1]} columns"
        )
    return Prepared(task, encode(y, found), proba, found, float(threshold))
