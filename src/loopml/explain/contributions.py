"""SHAP contributions of a whole model, per original input column, in the model's output space.

The space explained is what the model outputs (what `/predict` returns):

- regression: the predicted value;
- binary: the (calibrated) probability of the positive class, `classes[1]`;
- multiclass: the (calibrated) probability of each class.

For every row, base value + the sum of the contributions = that output (to float precision).

How the pieces meet: each member is explained in its own additive space (a booster's raw
score, a linear margin, a forest's probability; see `members.py`); its contributions per
preprocessed feature are summed per original column (one-hot groups, date parts, missing
indicators go back to the column they came from). A margin becomes a probability by scaling
each row's contributions by the secant of the link between the base margin and the row's
margin (sigmoid, exp) — the sign and the ranking of the contributions are kept and they add
up exactly; softmax margins are carried through the link's Jacobian, averaged between the
two ends, and the remainder is shared in proportion to the contributions' sizes. The model
averages its members' probabilities (or values) with its weights, and so are their
contributions. A calibration is carried the same way (secant for binary, remainder shared
for multiclass). With one uncalibrated booster, the contributions are its exact TreeSHAP
values scaled per row; in the raw log-odds they would be exactly the booster's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError
from loopml.explain.members import (
    MemberValues,
    SamplingValues,
    explainer_kind,
    member_explainer,
)
from loopml.features.columns import Columns
from loopml.models.trained import TrainedModel

_FLAT = 1e-9  # below this change of the margin, the link's slope stands for its secant


@dataclass
class Contributions:
    """Per row and original column, the contribution to each explained output.

    `values` (n, d, K) in `columns` order, `base` (K,), `outputs` names the K outputs (the
    positive class, each class, or `prediction`), `space` says what they are in words.
    """

    values: np.ndarray
    base: np.ndarray
    columns: list[str]
    outputs: list[str]
    space: str
    methods: list[str] = field(default_factory=list)

    @property
    def output(self) -> np.ndarray:
        """base + contributions: the model's output per row and explained output (n, K)."""
        return self.base[None, :] + self.values.sum(axis=1)


class Explainer:
    """SHAP contributions of a TrainedModel (compiled or not) per original input column.

    `background`: rows of the model's input columns (a sample of its training rows), needed
    only when a member is linear or explained by sampling (`needs_background`).
    """

    def __init__(
        self, model: TrainedModel, background: pd.DataFrame | None = None, *, seed: int = 0
    ) -> None:
        self.model = model
        self.columns = list(model.columns)
        if background is not None:
            background = background[self.columns].reset_index(drop=True)
        classifier = model.classes is not None
        self.members = [
            member_explainer(m, self.columns, background, classifier=classifier, seed=seed)
            for m in model.members
        ]
        position = {name: j for j, name in enumerate(self.columns)}
        self.maps = [_source_matrix(e.features, position) for e in self.members]
        self.methods = sorted({e.method for e in self.members})

    @staticmethod
    def needs_background(model: TrainedModel) -> bool:
        """Whether some member of `model` needs background rows to be explained."""
        return any(explainer_kind(m) in ("linear", "sampling") for m in model.members)

    @property
    def sampled(self) -> list[str]:
        """The members explained by (model-agnostic, slow) permutation sampling, by name."""
        return [
            _member_name(name, member)
            for name, member, explainer in zip(
                self.model.names, self.model.members, self.members, strict=True
            )
            if explainer.method == SamplingValues.method
        ]

    @property
    def space(self) -> str:
        """The output the contributions add up to, in words."""
        if self.model.classes is None:
            return "the predicted value"
        if self.model.task == "binary":
            return f"the probability of class `{self.model.classes[1]}`"
        return "the probability of each class"

    @property
    def outputs(self) -> list[str]:
        """Names of the explained outputs."""
        if self.model.classes is None:
            return ["prediction"]
        if self.model.task == "binary":
            return [str(self.model.classes[1])]
        return [str(c) for c in self.model.classes]

    def explain(self, data: pd.DataFrame | Columns) -> Contributions:
        """Contributions of every row of `data` (a DataFrame or Columns of the input columns)."""
        if isinstance(data, Columns):
            columns, frame = data, data[self.columns].to_frame()
        else:
            frame, columns = _select(data, self.columns), None
        classes = self.model.classes
        k = 1 if classes is None else len(classes)
        values = np.zeros((len(frame), len(self.columns), k))
        base = np.zeros(k)
        for explainer, sources, weight in zip(
            self.members, self.maps, self.model.weights, strict=True
        ):
            part = explainer.explain(frame, columns)
            v, b = _to_output(part, classes)
            values += weight * np.einsum("nqk,qd->ndk", v, sources)
            base += weight * b
        if self.model.calibration is not None:
            values, base = _calibrated(values, base, self.model)
        if self.model.task == "binary":
            values, base = values[:, :, 1:], base[1:]
        return Contributions(values, base, self.columns, self.outputs, self.space, self.methods)


def _member_name(name: str, member: Any) -> str:
    """A member's name (`knn #3`), or its estimator's class when it was saved without one."""
    if not name.startswith("member "):
        return name
    pipeline = getattr(member, "pipeline", member)
    steps = getattr(pipeline, "steps", None)
    return type(steps[-1][1] if steps else pipeline).__name__


def _select(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        shown = ", ".join(f"`{name}`" for name in missing[:5])
        raise DataError(
            f"the rows to explain lack column(s) {shown} that the model needs; add them"
        )
    return frame[columns].reset_index(drop=True)


def _source_matrix(features: list[str], position: dict[str, int]) -> np.ndarray:
    """(q, d): 1 where feature i comes from input column j."""
    out = np.zeros((len(features), len(position)))
    out[np.arange(len(features)), [position[f] for f in features]] = 1.0
    return out


def _to_output(part: MemberValues, classes: list[Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """A member's contributions in output space, in `classes` order ((n, q, K), (K,))."""
    values, base = part.values, np.asarray(part.base, dtype=float)
    if part.link in ("logistic", "exp"):
        link, slope = (_sigmoid, _sigmoid_slope) if part.link == "logistic" else (np.exp, np.exp)
        values, base = _secant(values, base, link, slope)
        if part.link == "logistic":  # one margin, for the member's second class
            values = np.concatenate([-values, values], axis=2)
            base = np.concatenate([1.0 - base, base])
    elif part.link == "softmax":
        values, base = _softmax_values(values, base)
    if classes is None:
        return values, base
    member_classes = part.classes if part.link != "logistic" else None
    if member_classes is None:  # binary margin: the member's classes are the model's two
        return values, base
    position = {_key(c): j for j, c in enumerate(classes)}
    out = np.zeros((*values.shape[:2], len(classes)))
    out_base = np.zeros(len(classes))
    for j, value in enumerate(member_classes):
        out[:, :, position[_key(value)]] = values[:, :, j]
        out_base[position[_key(value)]] = base[j]
    return out, out_base


def _secant(
    values: np.ndarray, base: np.ndarray, link: Any, slope: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Contributions scaled per row by (link(out) − link(base)) / (out − base)."""
    margin = base[None, :] + values.sum(axis=1)  # (n, K)
    change = margin - base[None, :]
    flat = np.abs(change) < _FLAT
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(flat, slope(margin), (link(margin) - link(base)[None, :]) / change)
    return values * scale[:, None, :], link(base)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _sigmoid_slope(z: np.ndarray) -> np.ndarray:
    p = _sigmoid(z)
    return p * (1.0 - p)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_values(values: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logit contributions carried to probabilities through the softmax's mean Jacobian."""
    p = _softmax(base[None, :] + values.sum(axis=1))  # (n, K)
    p0 = _softmax(base)

    def jacobian(q: np.ndarray) -> np.ndarray:
        return q[..., :, None] * (np.eye(q.shape[-1]) - q[..., None, :])

    mean = 0.5 * (jacobian(p) + jacobian(p0)[None])  # (n, K, K)
    moved = np.einsum("nkc,nqc->nqk", mean, values)
    return _share_remainder(moved, p - p0[None, :]), p0


def _share_remainder(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`values` (n, q, K) plus (target − their sum), shared in proportion to |values|."""
    rest = target - values.sum(axis=1)  # (n, K)
    size = np.abs(values)
    total = size.sum(axis=1, keepdims=True)
    q = values.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, size / total, 1.0 / max(q, 1))
    return values + share * rest[:, None, :]


def _calibrated(values: np.ndarray, base: np.ndarray, model: TrainedModel) -> Any:
    """Contributions to the raw probabilities carried to the calibrated ones."""
    raw = base[None, :] + values.sum(axis=1)
    calibration = model.calibration
    out = calibration.transform(raw)
    out_base = calibration.transform(base[None, :])[0]
    if model.task != "binary":
        return _share_remainder(values, out - out_base[None, :]), out_base
    change = raw[:, 1] - base[1]
    flat = np.abs(change) < _FLAT
    h = 1e-6
    around = np.column_stack([1.0 - raw[:, 1] - h, raw[:, 1] + h])
    below = np.column_stack([1.0 - raw[:, 1] + h, raw[:, 1] - h])
    slope = (calibration.transform(around)[:, 1] - calibration.transform(below)[:, 1]) / (2 * h)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(flat, slope, (out[:, 1] - out_base[1]) / change)
    positive = values[:, :, 1] * scale[:, None]
    # When the calibration is flat where the secant is undefined, the remainder is shared.
    positive = _share_remainder(positive[:, :, None], (out[:, 1] - out_base[1])[:, None])[:, :, 0]
    return np.stack([-positive, positive], axis=2), out_base


def _key(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
