"""The model a run chooses: fitted pipelines (one, or a weighted ensemble), a calibration, a threshold.

`TrainedModel` is what is saved, loaded, scored and (later) served. It holds only fitted
scikit-learn-compatible pipelines, numbers and lists, so that it is stored with skops and
loaded with an allow-list of exactly the types loopml writes (design invariant 5).

    model.predict_proba(frame)  # classification: (n, k) in `classes` order
    model.predict(frame)        # class labels (binary: P(classes[1]) >= threshold) or values
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError

CLASSIFICATION = ("binary", "multiclass")
_EPS = 1e-12


class Calibration:
    """A fitted probability calibration stored as plain numbers.

    kind "sigmoid" (binary; Platt scaling of the log-odds: a * logit(p) + b),
    "isotonic" (binary; a monotone step function through `x`, `y`, interpolated) or
    "temperature" (multiclass; log-probabilities divided by `t`, then renormalised).
    """

    def __init__(self, kind: str, params: dict[str, Any]) -> None:
        self.kind = kind
        self.params = params

    def __repr__(self) -> str:
        return f"Calibration({self.kind!r})"

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of `proba` ((n, k), rows summing to one)."""
        proba = np.asarray(proba, dtype=float)
        if self.kind == "temperature":
            logs = np.log(np.clip(proba, _EPS, 1.0)) / float(self.params["t"])
            logs -= logs.max(axis=1, keepdims=True)
            out = np.exp(logs)
            return out / out.sum(axis=1, keepdims=True)
        p = proba[:, 1]
        if self.kind == "sigmoid":
            logit = np.log(np.clip(p, _EPS, 1.0)) - np.log(np.clip(1.0 - p, _EPS, 1.0))
            z = float(self.params["a"]) * logit + float(self.params["b"])
            p = 1.0 / (1.0 + np.exp(-z))
        elif self.kind == "isotonic":
            p = np.interp(p, np.asarray(self.params["x"]), np.asarray(self.params["y"]))
        else:
            raise ValueError(f"unknown calibration kind {self.kind!r}")
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])


class TrainedModel:
    """A fitted model: pipelines averaged with `weights`, then calibrated, then thresholded.

    `columns` are the input columns the pipelines read (in order); extra columns in the input
    are ignored, a missing one is a DataError naming it. `classes` is None for regression.
    """

    def __init__(
        self,
        members: list[Any],
        weights: list[float],
        *,
        task: str,
        columns: list[str],
        classes: list[Any] | None = None,
        calibration: Calibration | None = None,
        threshold: float = 0.5,
        names: list[str] | None = None,
    ) -> None:
        if not members or len(members) != len(weights):
            raise ValueError("a TrainedModel needs one weight per member, and some members")
        total = float(sum(weights))
        self.members = list(members)
        self.weights = [float(w) / total for w in weights]
        self.task = task
        self.columns = list(columns)
        self.classes = None if classes is None else list(classes)
        self.calibration = calibration
        self.threshold = float(threshold)
        self.names = (
            list(names) if names is not None else [f"member {i}" for i in range(len(members))]
        )

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}×{w:.2f}" for n, w in zip(self.names, self.weights, strict=True))
        return f"TrainedModel({self.task}: {parts})"

    def with_members(self, members: list[Any], weights: list[float] | None = None) -> TrainedModel:
        """This model (task, columns, classes, calibration, threshold) over other members."""
        return TrainedModel(
            members,
            self.weights if weights is None else weights,
            task=self.task,
            columns=self.columns,
            classes=self.classes,
            calibration=self.calibration,
            threshold=self.threshold,
            names=self.names,
        )

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the order of `predict_proba`'s columns (scikit-learn style)."""
        if self.classes is None:
            raise AttributeError("a regression model has no classes")
        return np.asarray(self.classes, dtype=object)

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [name for name in self.columns if name not in frame.columns]
        if missing:
            shown = ", ".join(f"`{name}`" for name in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise DataError(
                f"the input lacks column(s) {shown}{more} that the model needs; "
                "add them (the model was trained with them)"
            )
        return frame[self.columns]

    def raw_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Weighted mean of the members' probabilities, before calibration ((n, k))."""
        if self.classes is None:
            raise AttributeError("a regression model has no probabilities")
        X = self._inputs(frame)
        out = np.zeros((len(X), len(self.classes)))
        for member, weight in zip(self.members, self.weights, strict=True):
            out += weight * proba_in_order(member, X, self.classes)
        return out

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated class probabilities ((n, k), columns in `classes` order)."""
        proba = self.raw_proba(frame)
        return proba if self.calibration is None else self.calibration.transform(proba)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Class labels (binary: positive when P(classes[1]) >= threshold) or values."""
        if self.classes is None:
            X = self._inputs(frame)
            out = np.zeros(len(X))
            for member, weight in zip(self.members, self.weights, strict=True):
                out += weight * np.asarray(member.predict(X), dtype=float)
            return out
        return self.decide(self.predict_proba(frame))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class labels from `predict_proba`'s output (binary: the threshold, else the most likely)."""
        return np.asarray(self.classes, dtype=object)[self.decision(proba)]

    def decision(self, proba: np.ndarray) -> np.ndarray:
        """The positions in `classes` of the labels `decide` gives."""
        if self.task == "binary":
            return (proba[:, 1] >= self.threshold).astype(np.intp)
        return proba.argmax(axis=1)

    def prediction_frame(self, frame: Any) -> pd.DataFrame:
        """`prediction`, and `proba_<class>` per class for a classifier, one row per input row.

        `frame` is a DataFrame (the output keeps its index) or, for a compiled model, Columns.
        """
        index = frame.index if isinstance(frame, pd.DataFrame) else pd.RangeIndex(len(frame))
        if self.classes is None:
            return pd.DataFrame({"prediction": self.predict(frame)}, index=index)
        proba = self.predict_proba(frame)
        out: dict[str, Any] = {"prediction": pd.array(self.decide(proba).tolist())}
        for j, value in enumerate(self.classes):
            out[f"proba_{value}"] = proba[:, j]
        return pd.DataFrame(out, index=index)


def proba_in_order(model: Any, X: Any, classes: list[Any]) -> np.ndarray:
    """`model.predict_proba(X)` with its columns in `classes` order (absent classes: 0)."""
    position = {_key(value): j for j, value in enumerate(classes)}
    proba = np.asarray(model.predict_proba(X), dtype=float)
    out = np.zeros((len(proba), len(classes)))
    for j, value in enumerate(model.classes_):
        out[:, position[_key(value)]] = proba[:, j]
    return out


def _key(value: Any) -> Any:
    """A dict key under which numpy and Python scalars of the same value meet."""
    return value.item() if isinstance(value, np.generic) else value
