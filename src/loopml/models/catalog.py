"""The built-in model families: defaults that work untuned, search spaces, seeded builders.

Search ranges follow FLAML's and AutoGluon's (log-uniform for scales and counts), narrowed to
what pays off within minutes. Boosters get `MAX_ROUNDS` rounds from `suggest`: stopping them
early is the caller's job (`NativePipeline.fit(..., X_val=, y_val=)`).

Determinism (same data + params + seed -> same model): every estimator gets the seed.
LightGBM needs `deterministic=True` together with `force_row_wise=True` (or force_col_wise:
its docs ask for one of them so that the histogram construction is not chosen by a timing
test) and `seed`; results are then bitwise stable for the same number of threads (`n_jobs`),
so keep `n_jobs` fixed when comparing runs. XGBoost with tree_method="hist" and CatBoost
(`thread_count` fixed) are deterministic on CPU given their seed. HistGradientBoosting has
no n_jobs: it uses OpenMP threads (limit them with threadpoolctl) and is deterministic.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from loopml.models.family import BASELINE, CLASSIFICATION, TASKS, Family, register_family

MAX_ROUNDS = 1000  # boosting rounds drawn by `suggest`; the caller stops early


def _classifier(task: str) -> bool:
    return task in CLASSIFICATION


# --- baseline --------------------------------------------------------------------------------


def _baseline_defaults(task: str) -> dict[str, Any]:
    return {"strategy": "prior" if _classifier(task) else "mean"}


def _baseline_build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if _classifier(task):
        return DummyClassifier(random_state=seed, **params)
    return DummyRegressor(**params)


# --- logistic / linear -----------------------------------------------------------------------


def _logistic_defaults(task: str) -> dict[str, Any]:
    return {"C": 1.0, "max_iter": 1000}


def _logistic_space(trial: Any, task: str) -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 1e-3, 1e3, log=True)}


def _logistic_build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    # lbfgs fits one multinomial model: n_jobs would change nothing.
    return LogisticRegression(random_state=seed, **params)


def _linear_defaults(task: str) -> dict[str, Any]:
    return {"alpha": 1.0}


def _linear_space(trial: Any, task: str) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


def _linear_build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(random_state=seed, **params)


# --- k nearest neighbours --------------------------------------------------------------------


def _knn_defaults(task: str) -> dict[str, Any]:
    return {"n_neighbors": 15, "weights": "distance"}


def _knn_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "n_neighbors": trial.suggest_int("n_neighbors", 1, 100, log=True),
        "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
        "p": trial.suggest_categorical("p", [1, 2]),
    }


def _knn_build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    # kNN draws nothing at random: the seed is not needed.
    cls = KNeighborsClassifier if _classifier(task) else KNeighborsRegressor
    return cls(n_jobs=n_jobs, **params)


# --- trees -----------------------------------------------------------------------------------


def _criteria(task: str) -> list[str]:
    if _classifier(task):
        return ["gini", "entropy"]
    return ["squared_error"]  # friedman_mse is the same since scikit-learn 1.9


def _tree_defaults(task: str) -> dict[str, Any]:
    return {"min_samples_leaf": 20, "max_depth": 10}


def _tree_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 32, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 128, log=True),
        "max_features": trial.suggest_float("max_features", 0.3, 1.0),
        "criterion": trial.suggest_categorical("criterion", _criteria(task)),
    }


def _tree_build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeClassifier if _classifier(task) else DecisionTreeRegressor
    return cls(random_state=seed, **params)


def _forest_defaults(task: str) -> dict[str, Any]:
    return {"n_estimators": 300, "max_features": "sqrt" if _classifier(task) else 1.0}


def _forest_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 1000, log=True),
        "max_features": trial.suggest_float("max_features", 0.05, 1.0, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 32, log=True),
        "criterion": trial.suggest_categorical("criterion", _criteria(task)),
    }


def _forest_builder(kind: str) -> Any:
    def build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        from sklearn import ensemble

        suffix = "Classifier" if _classifier(task) else "Regressor"
        cls = getattr(ensemble, f"{kind}{suffix}")
        return cls(random_state=seed, n_jobs=n_jobs, **params)

    build.__name__ = f"build_{kind}"
    return build


# --- HistGradientBoosting --------------------------------------------------------------------


def _hgb_defaults(task: str) -> dict[str, Any]:
    return {
        "learning_rate": 0.05,
        "max_iter": MAX_ROUNDS,  # early stopping finds the number; the refit reuses it
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 1.0,
    }


def _hgb_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "max_iter": MAX_ROUNDS,
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 4, 256, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 2, 128, log=True),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-8, 10.0, log=True),
        "max_features": trial.suggest_float("max_features", 0.3, 1.0),
    }


def _hgb_build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if _classifier(task) else HistGradientBoostingRegressor
    # Categorical columns are set by NativePipeline once the preprocessor is fitted; until
    # then none (not "from_dtype": the preprocessor outputs a plain float array).
    params = {"categorical_features": None, "early_stopping": False, **params}
    return cls(random_state=seed, **params)


# --- LightGBM --------------------------------------------------------------------------------


def _lightgbm_defaults(task: str) -> dict[str, Any]:
    return {
        "n_estimators": MAX_ROUNDS,  # early stopping finds the number; the refit reuses it
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_child_samples": 20,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1e-3,
    }


def _lightgbm_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "n_estimators": MAX_ROUNDS,
        "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 512, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 2, 128, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-8, 10.0, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-8, 10.0, log=True),
    }


# Tried first when LightGBM is tuned: a large-leaf, low-rate model (AutoGluon's "GBMLarge")
# and a small-leaf, fast one; both do well on many tables.
_LIGHTGBM_PORTFOLIO = (
    {
        "learning_rate": 0.03,
        "num_leaves": 128,
        "min_child_samples": 3,
        "subsample": 1.0,
        "colsample_bytree": 0.9,
        "reg_alpha": 1e-8,
        "reg_lambda": 1e-8,
    },
    {
        "learning_rate": 0.1,
        "num_leaves": 16,
        "min_child_samples": 20,
        "subsample": 0.8,
        "colsample_bytree": 0.6,
        "reg_alpha": 1e-3,
        "reg_lambda": 1.0,
    },
)


def _lightgbm_build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    import lightgbm

    cls = lightgbm.LGBMClassifier if _classifier(task) else lightgbm.LGBMRegressor
    # See the module docstring: deterministic + force_row_wise + seed, fixed n_jobs.
    fixed = {"deterministic": True, "force_row_wise": True, "verbose": -1}
    return cls(random_state=seed, n_jobs=n_jobs, **{**fixed, **params})


# --- optional boosters (registered only when installed) --------------------------------------


def _xgboost_defaults(task: str) -> dict[str, Any]:
    return {
        "n_estimators": 300,
        "learning_rate": 0.05,
        "max_depth": 6,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
    }


def _xgboost_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "n_estimators": MAX_ROUNDS,
        "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 12),
        "min_child_weight": trial.suggest_float("min_child_weight", 1e-2, 100.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-8, 10.0, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-8, 10.0, log=True),
    }


def _xgboost_build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    import xgboost

    cls = xgboost.XGBClassifier if _classifier(task) else xgboost.XGBRegressor
    # NativePipeline sets feature_types ("c" for the category codes) after the preprocessor fit.
    fixed = {"tree_method": "hist", "enable_categorical": True, "verbosity": 0}
    return cls(random_state=seed, n_jobs=n_jobs, **{**fixed, **params})


def _catboost_defaults(task: str) -> dict[str, Any]:
    return {"iterations": 500, "learning_rate": 0.08, "depth": 6}


def _catboost_space(trial: Any, task: str) -> dict[str, Any]:
    return {
        "iterations": MAX_ROUNDS,
        "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.3, log=True),
        "depth": trial.suggest_int("depth", 3, 10),
        "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 1.0, 30.0, log=True),
    }


def _catboost_build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    import catboost

    cls = catboost.CatBoostClassifier if _classifier(task) else catboost.CatBoostRegressor
    fixed = {"verbose": False, "allow_writing_files": False}
    return cls(random_seed=seed, thread_count=n_jobs, **{**fixed, **params})


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


BUILT_IN: tuple[Family, ...] = (
    Family(
        BASELINE,
        TASKS,
        "ordinal",
        _baseline_build,
        _baseline_defaults,
        None,
        cost=0,
        description="class priors / mean of the target: the bar every model must clear",
    ),
    Family(
        "lightgbm",
        TASKS,
        "native",
        _lightgbm_build,
        _lightgbm_defaults,
        _lightgbm_space,
        cost=1,
        portfolio=_LIGHTGBM_PORTFOLIO,
        description="LightGBM gradient boosting",
    ),
    Family(
        "logistic",
        CLASSIFICATION,
        "onehot",
        _logistic_build,
        _logistic_defaults,
        _logistic_space,
        scale=True,
        cost=1,
        description="L2-regularised logistic regression",
    ),
    Family(
        "linear",
        ("regression",),
        "onehot",
        _linear_build,
        _linear_defaults,
        _linear_space,
        scale=True,
        cost=1,
        description="ridge regression",
    ),
    Family(
        "decision_tree",
        TASKS,
        "ordinal",
        _tree_build,
        _tree_defaults,
        _tree_space,
        cost=1,
        description="a single CART tree",
    ),
    Family(
        "knn",
        TASKS,
        "onehot",
        _knn_build,
        _knn_defaults,
        _knn_space,
        scale=True,
        cost=3,
        description="k nearest neighbours",
    ),
    Family(
        "hist_gradient_boosting",
        TASKS,
        "native",
        _hgb_build,
        _hgb_defaults,
        _hgb_space,
        cost=4,
        description="scikit-learn histogram gradient boosting",
    ),
    Family(
        "extra_trees",
        TASKS,
        "ordinal",
        _forest_builder("ExtraTrees"),
        _forest_defaults,
        _forest_space,
        cost=5,
        description="extremely randomised trees",
    ),
    Family(
        "random_forest",
        TASKS,
        "ordinal",
        _forest_builder("RandomForest"),
        _forest_defaults,
        _forest_space,
        cost=5,
        description="random forest",
    ),
)

OPTIONAL: dict[str, Family] = {
    "xgboost": Family(
        "xgboost",
        TASKS,
        "native",
        _xgboost_build,
        _xgboost_defaults,
        _xgboost_space,
        cost=6,
        description="XGBoost gradient boosting (optional extra)",
    ),
    # CatBoost's categorical features must be integers or text, never NaN: it gets ordinal
    # codes as numbers until a CatBoost-specific encoding exists.
    "catboost": Family(
        "catboost",
        TASKS,
        "ordinal",
        _catboost_build,
        _catboost_defaults,
        _catboost_space,
        cost=7,
        description="CatBoost gradient boosting (optional extra)",
    ),
}


def is_built_in(family: Family) -> bool:
    """Whether `family` is one of loopml's own (not a user's, not replaced by one)."""
    own = next((f for f in BUILT_IN if f.name == family.name), OPTIONAL.get(family.name))
    return own is family


def register_built_ins() -> None:
    """Register the built-in families, and the optional boosters whose package is installed."""
    for family in BUILT_IN:
        register_family(family, replace=True)
    for package, family in OPTIONAL.items():
        if _installed(package):
            register_family(family, replace=True)
