"""The algorithm catalog: the non-model baseline and the model families with their spaces.

    from loopml.models import families_for, make_pipeline
    for family in families_for("binary", ["lightgbm", "logistic"]):
        model = make_pipeline(family, "binary", roles, family.default_params("binary"), seed=42)

Importing this package imports neither Optuna nor any booster.
"""

from loopml.models.catalog import MAX_ROUNDS, register_built_ins
from loopml.models.family import (
    BASELINE,
    FAMILIES,
    TASKS,
    Family,
    families_for,
    get_family,
    register_family,
)
from loopml.models.pipeline import EARLY_STOPPING_ROUNDS, NativePipeline, make_pipeline

register_built_ins()

__all__ = [
    "BASELINE",
    "EARLY_STOPPING_ROUNDS",
    "FAMILIES",
    "MAX_ROUNDS",
    "TASKS",
    "Family",
    "NativePipeline",
    "families_for",
    "get_family",
    "make_pipeline",
    "register_family",
]
