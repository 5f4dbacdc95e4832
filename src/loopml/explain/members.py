"""SHAP values of one fitted member of a model, in the space where its estimator adds up.

Each explainer's `explain(frame, columns)` returns `MemberValues`: a contribution per
feature (n, q, K), the base value (K,), and the link that turns base + contributions into
the member's own output (probabilities in its `classes_` order, or values):

- LightGBM: the booster's own exact TreeSHAP (`pred_contrib=True`, in C) on the preprocessed
  array; it adds up in the booster's raw score (log-odds, softmax logits, or the value).
- scikit-learn decision trees, random forests and extra trees: shap's TreeExplainer
  (path-dependent, exact); it adds up in probabilities (or values).
- linear models (`coef_`, `intercept_`): coef × (x − background mean) per preprocessed
  feature, exact for a linear margin with independent features (shap's LinearExplainer).
- anything else: permutation sampling over the input columns (`sampling.py`).

`features` names, for each of the q contributions, the input column it belongs to (from the
fitted preprocessor, see `output_sources`), so the caller can sum them per original column.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.explain.sampling import permutation_values
from loopml.features.preprocess import output_sources

# LightGBM objectives by how their raw score becomes the output.
_IDENTITY = frozenset(
    ["regression", "regression_l2", "l2", "regression_l1", "l1", "huber", "fair", "quantile"]
)
_EXP = frozenset(["poisson", "gamma", "tweedie"])
_SKLEARN_TREES = frozenset(
    [
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
    ]
)
_THREADS_FROM = 64  # rows from which LightGBM computes contributions on several threads


@dataclass
class MemberValues:
    """Contributions (n, q, K), base value (K,), and the link from their sum to the output."""

    values: np.ndarray
    base: np.ndarray
    link: str  # identity | logistic | softmax | exp
    classes: list[Any] | None  # the member's classes, in K order (binary margin: K = 1)


def explainer_kind(member: Any) -> str:
    """Which explainer a member gets: `lightgbm`, `tree`, `linear` or `sampling`."""
    parts = _parts(member)
    if parts is None:
        return "sampling"
    estimator = parts[1]
    if _lightgbm_link(estimator) is not None:
        return "lightgbm"
    if type(estimator).__name__ in _SKLEARN_TREES and type(estimator).__module__.startswith(
        "sklearn."
    ):
        return "tree"
    if _is_linear(estimator):
        return "linear"
    return "sampling"


def member_explainer(
    member: Any,
    columns: list[str],
    background: pd.DataFrame | None,
    *,
    classifier: bool,
    seed: int = 0,
) -> Any:
    """The explainer of `member` (see `explainer_kind`); `background` rows are needed by the
    linear and sampling explainers (raw input columns, a sample of the training rows)."""
    kind = explainer_kind(member)
    if kind in ("linear", "sampling") and background is None:
        raise ValueError(f"the {kind} explainer needs background rows")
    if kind == "lightgbm":
        return LightGBMValues(member)
    if kind == "tree":
        return TreeValues(member)
    if kind == "linear":
        return LinearValues(member, background)
    return SamplingValues(member, columns, background, classifier=classifier, seed=seed)


class LightGBMValues:
    """Exact TreeSHAP from the LightGBM booster itself, in its raw score."""

    method = "tree SHAP (LightGBM)"

    def __init__(self, member: Any) -> None:
        self.member = member
        preprocessor, self.estimator = _parts(member)
        self.features = output_sources(preprocessor)
        self.link = _lightgbm_link(self.estimator)
        self.classes = list(_classes(member)) if hasattr(self.estimator, "classes_") else None

    def explain(self, frame: pd.DataFrame, columns: Any) -> MemberValues:
        """The booster's contributions for each row."""
        X = _transform(self.member, frame, columns)
        booster = self.estimator.booster_
        iteration = getattr(self.estimator, "best_iteration_", None) or None
        threads = (os.cpu_count() or 1) if len(X) >= _THREADS_FROM else 1
        raw = booster.predict(X, num_iteration=iteration, pred_contrib=True, num_threads=threads)
        q = X.shape[1]
        k = raw.shape[1] // (q + 1)
        blocks = raw.reshape(len(X), k, q + 1)
        base = blocks[:, :, -1].mean(axis=0)  # the same in every row: the expected raw score
        values = np.ascontiguousarray(blocks[:, :, :-1].transpose(0, 2, 1))
        classes = self.classes[1:] if self.link == "logistic" else self.classes
        return MemberValues(values, base, self.link, classes)


class TreeValues:
    """shap's exact path-dependent TreeSHAP for scikit-learn trees and forests."""

    method = "tree SHAP (scikit-learn trees)"

    def __init__(self, member: Any) -> None:
        with warnings.catch_warnings():  # shap's own colour maps use deprecated matplotlib calls
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            import shap

        self.member = member
        preprocessor, estimator = _parts(member)
        self.features = output_sources(preprocessor)
        self.classes = list(_classes(member)) if hasattr(estimator, "classes_") else None
        self.explainer = shap.TreeExplainer(estimator)

    def explain(self, frame: pd.DataFrame, columns: Any) -> MemberValues:
        """Contributions to each class's probability (or to the value)."""
        X = _transform(self.member, frame, columns)
        values = np.asarray(self.explainer.shap_values(X, check_additivity=False), dtype=float)
        base = np.atleast_1d(np.asarray(self.explainer.expected_value, dtype=float))
        if values.ndim == 2:
            values = values[:, :, None]
        return MemberValues(values, base, "identity", self.classes)


class LinearValues:
    """coef × (x − mean) per preprocessed feature: exact for a linear margin."""

    method = "linear SHAP"

    def __init__(self, member: Any, background: pd.DataFrame) -> None:
        self.member = member
        preprocessor, estimator = _parts(member)
        self.features = output_sources(preprocessor)
        coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=float))  # (K, q)
        intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype=float))
        self.coef = coef
        self.mean = np.asarray(preprocessor.transform(background), dtype=float).mean(axis=0)
        self.base = coef @ self.mean + intercept
        if hasattr(estimator, "classes_"):
            classes = list(_classes(member))
            self.link = "logistic" if coef.shape[0] == 1 else "softmax"
            self.classes = classes[1:] if coef.shape[0] == 1 else classes
        else:
            self.link, self.classes = "identity", None

    def explain(self, frame: pd.DataFrame, columns: Any) -> MemberValues:
        """Contributions to the margin (log-odds, logits or the value)."""
        X = _transform(self.member, frame, columns)
        values = (X - self.mean)[:, :, None] * self.coef.T[None, :, :]
        return MemberValues(values, self.base, self.link, self.classes)


class SamplingValues:
    """Permutation sampling over the input columns, for a member of any kind."""

    method = "permutation SHAP (sampled)"

    def __init__(
        self,
        member: Any,
        columns: list[str],
        background: pd.DataFrame,
        *,
        classifier: bool,
        seed: int = 0,
    ) -> None:
        self.member = member
        self.features = list(columns)
        self.background = background[self.features].reset_index(drop=True)
        self.seed = seed
        self.classes = list(_classes(member)) if classifier else None

    def _predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.classes is not None:
            return np.asarray(self.member.predict_proba(frame), dtype=float)
        return np.asarray(self.member.predict(frame), dtype=float)[:, None]

    def explain(self, frame: pd.DataFrame, columns: Any) -> MemberValues:
        """Sampled contributions to each class's probability (or to the value)."""
        values, base = permutation_values(
            self._predict, frame[self.features], self.background, seed=self.seed
        )
        return MemberValues(values, base, "identity", self.classes)


def _parts(member: Any) -> tuple[Any, Any] | None:
    """(fitted ColumnTransformer, estimator) of a loopml pipeline (compiled or not), else None."""
    from sklearn.compose import ColumnTransformer

    pipeline = getattr(member, "pipeline", member)
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) != 2 or not isinstance(steps[0][1], ColumnTransformer):
        return None
    return steps[0][1], steps[1][1]


def _classes(member: Any) -> np.ndarray:
    return np.asarray(getattr(member, "pipeline", member).classes_, dtype=object)


def _transform(member: Any, frame: pd.DataFrame, columns: Any) -> np.ndarray:
    """The preprocessed float array: the compiled path when the member has one."""
    if getattr(member, "blocks", None) is not None:
        return member.transform(columns if columns is not None else frame)
    preprocessor = _parts(member)[0]
    return np.asarray(preprocessor.transform(frame), dtype=np.float64)


def _lightgbm_link(estimator: Any) -> str | None:
    if type(estimator).__module__.split(".")[0] != "lightgbm":
        return None
    if getattr(estimator, "booster_", None) is None:
        return None
    objective = str(getattr(estimator, "objective_", "") or "")
    if objective == "binary":
        return "logistic"
    if objective in ("multiclass", "softmax"):
        return "softmax"
    if objective in _IDENTITY:
        return "identity"
    if objective in _EXP:
        return "exp"
    return None  # another objective: explained by sampling


def _is_linear(estimator: Any) -> bool:
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    return isinstance(estimator, LinearRegression | LogisticRegression | Ridge) and hasattr(
        estimator, "coef_"
    )
