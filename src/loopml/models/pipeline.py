"""A family's preprocessing and estimator as one scikit-learn Pipeline (invariant 2).

For the native-categorical boosters the category-code columns are known only once the
preprocessor is fitted: `NativePipeline` fits the preprocessor, reads
`categorical_output_indices`, and tells the estimator (HistGradientBoosting's
`categorical_features`, LightGBM's `categorical_feature=` fit argument, XGBoost's
`feature_types`) before fitting it. It is the only custom class here; it adds no attributes.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline

from loopml.features import build_preprocessor, categorical_output_indices
from loopml.models.family import Family, get_family

PREPROCESS = "preprocess"
MODEL = "model"
EARLY_STOPPING_ROUNDS = 50


class NativePipeline(Pipeline):
    """A [preprocess, model] Pipeline that passes the category-code columns to the booster.

    `fit` also takes a validation part (`X_val`, `y_val`, raw columns like X) for early
    stopping: it is run through the fitted preprocessor and given to the booster, which then
    stops after `early_stopping_rounds` rounds without improvement.

    XGBoost's classifiers learn only the labels 0..k-1: for them `fit` encodes the classes
    (kept, as plain values, in `labels_`) and `classes_` / `predict` give the original ones.
    """

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        X_val: Any = None,
        y_val: Any = None,
        early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
        deadline: float | None = None,
        **params: Any,
    ) -> NativePipeline:
        """Fit the preprocessor, set the categorical columns, fit the model (stopping early).

        `deadline` (a time.perf_counter() value) stops LightGBM's boosting when it is passed,
        keeping the rounds made so far; other boosters ignore it.
        """
        if len(self.steps) != 2:
            raise ValueError("NativePipeline holds exactly two steps: preprocess and model")
        (_, preprocessor), (model_name, model) = self.steps
        prefix = f"{model_name}__"
        unknown = [key for key in params if not key.startswith(prefix)]
        if unknown:
            raise TypeError(f"unexpected fit arguments {unknown}; prefix them with `{prefix}`")
        fit_params = {key.removeprefix(prefix): value for key, value in params.items()}
        self.labels_ = None
        if _kind(model) == "xgboost" and is_classifier(model):
            self.labels_ = sorted(pd.unique(np.asarray(y, dtype=object)).tolist())
            y = _encode(y, self.labels_)
            y_val = None if y_val is None else _encode(y_val, self.labels_)
        Xt = preprocessor.fit_transform(X, y)
        columns = categorical_output_indices(preprocessor)
        fit_params.update(_categorical_setting(model, columns, Xt.shape[1]))
        if X_val is not None:
            Xv = preprocessor.transform(X_val)
            fit_params.update(_early_stopping(model, Xv, y_val, early_stopping_rounds))
        if deadline is not None and _kind(model) == "lightgbm":
            fit_params["callbacks"] = [*fit_params.get("callbacks", []), _stop_at(deadline)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*'eval_set' is deprecated")
            model.fit(Xt, y, **fit_params)
        return self

    def fit_predict(self, X: Any, y: Any = None, **params: Any) -> Any:
        """Fit, then predict X."""
        return self.fit(X, y, **params).predict(X)

    @property
    def classes_(self) -> Any:
        """The class labels, in the order of `predict_proba`'s columns."""
        labels = getattr(self, "labels_", None)
        if labels is not None:
            return np.asarray(labels, dtype=object)
        return self.steps[-1][1].classes_

    def predict(self, X: Any, **params: Any) -> Any:
        """Predictions in the original labels."""
        out = super().predict(X, **params)
        labels = getattr(self, "labels_", None)
        if labels is None:
            return out
        return np.asarray(labels, dtype=object)[np.asarray(out, dtype=int)]


def _encode(y: Any, labels: list[Any]) -> np.ndarray:
    position = {value: code for code, value in enumerate(labels)}
    try:
        return np.array([position[value] for value in np.asarray(y, dtype=object).tolist()])
    except KeyError as exc:
        raise ValueError(f"class {exc.args[0]!r} was not among the training classes") from None


def _kind(model: Any) -> str:
    module = type(model).__module__.split(".")[0]
    if module in ("lightgbm", "xgboost"):
        return module
    if "categorical_features" in model.get_params(deep=False):
        return "hist_gradient_boosting"
    return "other"


def _categorical_setting(model: Any, columns: list[int], n_features: int) -> dict[str, Any]:
    """Set the categorical columns on `model`; return what its `fit` needs for them."""
    kind = _kind(model)
    if kind == "hist_gradient_boosting":
        model.set_params(categorical_features=columns or None)
    elif kind == "lightgbm":
        return {"categorical_feature": columns or "auto"}
    elif kind == "xgboost":
        types = ["q"] * n_features
        for column in columns:
            types[column] = "c"
        model.set_params(feature_types=types)
    return {}


def _stop_at(deadline: float) -> Any:
    """A LightGBM callback that ends boosting once time.perf_counter() passes `deadline`."""
    import lightgbm

    def callback(env: Any) -> None:
        if time.perf_counter() > deadline:
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callback.order = 40  # type: ignore[attr-defined]  # after early stopping (30)
    return callback


def _early_stopping(model: Any, X_val: Any, y_val: Any, rounds: int) -> dict[str, Any]:
    kind = _kind(model)
    if kind == "hist_gradient_boosting":
        model.set_params(early_stopping=True, n_iter_no_change=rounds)
        return {"X_val": X_val, "y_val": y_val}
    if kind == "lightgbm":
        import lightgbm

        callback = lightgbm.early_stopping(rounds, first_metric_only=True, verbose=False)
        # Not LightGBM 4.7's eval_X/eval_y: its classifiers do not encode eval_y's labels.
        return {"eval_set": [(X_val, y_val)], "callbacks": [callback]}
    if kind == "xgboost":
        model.set_params(early_stopping_rounds=rounds)
        return {"eval_set": [(X_val, y_val)], "verbose": False}
    raise ValueError(f"{type(model).__name__} has no early stopping on a validation part")


def make_pipeline(
    family: Family | str,
    task: str,
    roles: dict[str, str],
    params: dict[str, Any] | None = None,
    *,
    seed: int,
    n_jobs: int = 1,
) -> Pipeline:
    """The unfitted pipeline of `family` for `task`: preprocessing from `roles`, then the model.

    `params` are laid over the family's defaults. A "native" family gets a NativePipeline so
    that its booster learns the categorical columns as categories.
    """
    if isinstance(family, str):
        family = get_family(family)
    estimator = family.make_estimator(task, params, seed=seed, n_jobs=n_jobs)
    preprocessor = build_preprocessor(
        roles, encoding=family.encoding, scale=family.scale, seed=seed
    )
    cls = NativePipeline if family.encoding == "native" else Pipeline
    return cls([(PREPROCESS, preprocessor), (MODEL, estimator)])


# The parameter that sets the number of boosting rounds, by booster kind.
_ROUNDS_PARAM = {
    "lightgbm": "n_estimators",
    "xgboost": "n_estimators",
    "hist_gradient_boosting": "max_iter",
    "catboost": "iterations",
}


def _booster_kind(model: Any) -> str:
    if type(model).__module__.split(".")[0] == "catboost":
        return "catboost"
    return _kind(model)


def stops_early(pipeline: Any) -> bool:
    """Whether `pipeline.fit` takes a validation part to stop its booster early."""
    return isinstance(pipeline, NativePipeline) and _kind(pipeline.steps[-1][1]) != "other"


def rounds_param(pipeline: Any) -> str | None:
    """The name of the model's rounds parameter (`n_estimators`, `max_iter`, ...), if a booster."""
    return _ROUNDS_PARAM.get(_booster_kind(pipeline.steps[-1][1]))


def fitted_rounds(pipeline: Any) -> int | None:
    """The rounds a fitted booster kept (its best iteration when it stopped early)."""
    model = pipeline.steps[-1][1]
    kind = _booster_kind(model)
    if kind == "lightgbm":
        best = getattr(model, "best_iteration_", None)
        return int(best) if best else int(model.n_estimators_)
    if kind == "hist_gradient_boosting":
        return int(model.n_iter_)
    if kind == "xgboost":
        best = getattr(model, "best_iteration", None)
        return int(best) + 1 if best is not None else int(model.n_estimators)
    if kind == "catboost":
        best = model.get_best_iteration()
        return int(best) + 1 if best is not None else int(model.tree_count_)
    return None
