"""Model families declared in `train.custom_families` of loopml.yaml: any scikit-learn estimator."""

from __future__ import annotations

import importlib
from typing import Any

from loopml.errors import SpecError
from loopml.models.family import Family
from loopml.spec import CustomFamily, ParamRange


def import_estimator(path: str) -> type:
    """The class at import path `path` (`sklearn.svm.SVC`); a SpecError if it is not there."""
    module_name, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise SpecError(
            f"`train.custom_families` names estimator `{path}`, which cannot be imported; "
            "install its package or fix the import path"
        ) from None
    if not isinstance(cls, type) or not hasattr(cls, "fit"):
        raise SpecError(f"`{path}` is not an estimator class with a `fit` method")
    return cls


def _draw(trial: Any, name: str, bounds: ParamRange) -> Any:
    if bounds.choices is not None:
        return trial.suggest_categorical(name, bounds.choices)
    if bounds.integer:
        return trial.suggest_int(name, int(bounds.low), int(bounds.high), log=bounds.log)
    return trial.suggest_float(name, bounds.low, bounds.high, log=bounds.log)


def custom_family(declared: CustomFamily) -> Family:
    """A Family for a spec-declared estimator: its params as defaults, its space drawn by Optuna."""
    cls = import_estimator(declared.estimator)
    accepted = set(cls().get_params()) if hasattr(cls, "get_params") else set()

    def build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        extra = {}
        if "random_state" in accepted:
            extra["random_state"] = seed
        if "n_jobs" in accepted:
            extra["n_jobs"] = n_jobs
        return cls(**{**extra, **params})

    space = None
    if declared.space:

        def space(trial: Any, task: str) -> dict[str, Any]:
            return {name: _draw(trial, name, bounds) for name, bounds in declared.space.items()}

    return Family(
        name=declared.name,
        tasks=tuple(declared.tasks),
        encoding=declared.encoding,
        build=build,
        defaults=lambda task: dict(declared.params),
        space=space,
        scale=declared.scale,
        cost=declared.cost,
        description=f"{declared.estimator} (declared in loopml.yaml)",
    )
