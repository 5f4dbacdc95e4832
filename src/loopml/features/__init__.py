"""Preprocessing per column role: one scikit-learn transformer that travels inside the model.

The names below load on first use, so light modules of this package (`columns`, `frames`,
`datetimes`) can be imported without scikit-learn (monitoring, the CLI's start-up).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "CardinalitySelector": "categorical",
    "DatetimeFeatures": "datetimes",
    "as_categories": "frames",
    "ENCODINGS": "preprocess",
    "build_preprocessor": "preprocess",
    "categorical_output_indices": "preprocess",
    "original_column": "preprocess",
    "output_sources": "preprocess",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
