"""Preprocessing per column role: one scikit-learn transformer that travels inside the model."""

from loopml.features.categorical import CardinalitySelector
from loopml.features.datetimes import DatetimeFeatures
from loopml.features.frames import as_categories
from loopml.features.preprocess import (
    ENCODINGS,
    build_preprocessor,
    categorical_output_indices,
    original_column,
    output_sources,
)

__all__ = [
    "ENCODINGS",
    "CardinalitySelector",
    "DatetimeFeatures",
    "as_categories",
    "build_preprocessor",
    "categorical_output_indices",
    "original_column",
    "output_sources",
]
