"""Encoders for categorical columns: one-hot or target encoding, ordinal codes, native codes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
    TargetEncoder,
)

from loopml.features.frames import as_categories

# HistGradientBoosting takes at most max_bins (255) categories: the 254 most frequent keep a
# code of their own and the rest share one "other" code.
MAX_CODES = 255
# Categories seen in fewer training rows are one-hot encoded together as "infrequent".
MIN_FREQUENCY = 5
UNKNOWN_CODE = -1  # "ordinal": a category not seen in training
MISSING_CODE = -2  # "ordinal": a missing value, when the column had some in training
TARGET_FOLDS = 5


class CardinalitySelector:
    """Picks, when fitting, the columns with at most (or, if `above`, more than) `max_unique` values."""

    def __init__(self, columns: list[str], max_unique: int, above: bool = False) -> None:
        self.columns = list(columns)
        self.max_unique = max_unique
        self.above = above

    def __call__(self, X: pd.DataFrame) -> list[str]:
        """The selected column names of X."""
        return [
            name
            for name in self.columns
            if (as_categories(X[[name]])[name].nunique(dropna=True) > self.max_unique) == self.above
        ]

    def __repr__(self) -> str:
        sign = ">" if self.above else "<="
        return f"CardinalitySelector({len(self.columns)} columns, unique {sign} {self.max_unique})"


def onehot_name(column: str, category: Any) -> str:
    """The output name of one category of a one-hot encoded column: `carrier=AA`."""
    return f"{column}={category}"


def as_text(lowercase: bool = False) -> FunctionTransformer:
    """The shared first step of every categorical encoding: values to object text, np.nan missing."""
    kw_args = {"lowercase": True} if lowercase else None
    return FunctionTransformer(as_categories, kw_args=kw_args, feature_names_out="one-to-one")


def categorical_transformers(
    columns: list[str], *, encoding: str, max_onehot: int, scale: bool, seed: int
) -> list[tuple[str, Any, Any]]:
    """ColumnTransformer entries encoding `columns` the way `encoding` asks."""
    if encoding == "onehot":
        onehot = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=MIN_FREQUENCY,
            sparse_output=False,
            feature_name_combiner=onehot_name,
            dtype=np.float64,
        )
        target_steps = [("text", as_text()), ("encode", target_encoder(seed))]
        if scale:
            target_steps.append(("scale", StandardScaler()))
        return [
            (
                "onehot",
                Pipeline([("text", as_text()), ("encode", onehot)]),
                CardinalitySelector(columns, max_onehot),
            ),
            (
                "target",
                Pipeline(target_steps),
                CardinalitySelector(columns, max_onehot, above=True),
            ),
        ]
    if encoding == "ordinal":
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=UNKNOWN_CODE,
            encoded_missing_value=MISSING_CODE,
            dtype=np.float64,
        )
        return [("ordinal", Pipeline([("text", as_text()), ("encode", encoder)]), columns)]
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        max_categories=MAX_CODES,
        dtype=np.float64,
    )
    return [("codes", Pipeline([("text", as_text()), ("encode", encoder)]), columns)]


def target_encoder(seed: int) -> TargetEncoder:
    """A TargetEncoder whose cross-fitting folds are shuffled with `seed`."""
    if TargetEncoder().get_params()["shuffle"] == "deprecated":  # scikit-learn >= 1.9
        return TargetEncoder(cv=KFold(TARGET_FOLDS, shuffle=True, random_state=seed))
    return TargetEncoder(cv=TARGET_FOLDS, shuffle=True, random_state=seed)
