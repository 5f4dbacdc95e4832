"""The preprocessor: column roles to one scikit-learn ColumnTransformer, fitted inside the model.

Encodings, by the model families they suit:
- "onehot" (linear models, kNN) leaves no NaN: numbers get the median plus a missing indicator
  (only for columns that had missing values in training), categoricals with at most
  `max_onehot` values are one-hot encoded (rare ones grouped, unseen ones all-zero or
  "infrequent"), the others target encoded, cross-fitted in folds shuffled with `seed`.
- "ordinal" (decision tree, random forest, extra trees): categories get their sorted position,
  -1 when unseen in training, -2 when missing (-1 if the column had no missing values then).
- "native" (LightGBM, HistGradientBoosting): categories get codes 0..254 (the 254 most frequent
  their own, the rest one shared code), NaN when unseen or missing; `categorical_output_indices`
  tells the booster which outputs those are.
Numbers keep NaN for "ordinal" and "native" unless `impute`; `scale` standardises the numeric
outputs (numbers, flags, date parts, target encodings). Booleans become 0/1, datetimes their
parts (see DatetimeFeatures). Output names are the input column, or the column followed by
`=category` (one-hot), `__part` (date parts) or `_class` (multiclass target encoding), or
scikit-learn's `missingindicator_` before one of those: `original_column` reads them back.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from loopml.features.categorical import as_text, categorical_transformers
from loopml.features.datetimes import DatetimeFeatures
from loopml.features.frames import as_numbers

ENCODINGS: tuple[str, ...] = ("onehot", "ordinal", "native")
FEATURE_ROLES: tuple[str, ...] = ("numeric", "boolean", "datetime", "categorical")
# Identifiers and constants carry nothing a model can generalise from. Text features (token
# counts, embeddings) are future work: until then text columns are dropped, not faked.
DROPPED_ROLES: tuple[str, ...] = ("identifier", "constant", "text")
_MISSING_PREFIX = "missingindicator_"  # scikit-learn's name for a missing-value indicator


def build_preprocessor(
    roles: dict[str, str],
    *,
    encoding: str = "onehot",
    scale: bool = False,
    impute: bool = False,
    max_onehot: int = 30,
    seed: int = 0,
) -> ColumnTransformer:
    """An unfitted ColumnTransformer from the feature columns (a DataFrame) to a float64 array."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    known = (*FEATURE_ROLES, *DROPPED_ROLES, "target")  # a target column is never a feature
    for column, role in roles.items():
        if role not in known:
            raise ValueError(f"column `{column}` has unknown role {role!r}")
    columns = {role: [c for c, r in roles.items() if r == role] for role in FEATURE_ROLES}
    fill = encoding == "onehot" or impute
    transformers = []
    if columns["numeric"]:
        steps = [("numbers", FunctionTransformer(as_numbers, feature_names_out="one-to-one"))]
        transformers.append(("numeric", _finish(steps, "median", fill, scale), columns["numeric"]))
    if columns["boolean"]:
        steps = [("text", as_text(lowercase=True)), ("encode", _flag_encoder())]
        transformers.append(
            ("boolean", _finish(steps, "most_frequent", fill, scale), columns["boolean"])
        )
    if columns["datetime"]:
        steps = [("parts", DatetimeFeatures())]
        transformers.append(
            ("datetime", _finish(steps, "median", fill, scale), columns["datetime"])
        )
    if columns["categorical"]:
        transformers += categorical_transformers(
            columns["categorical"], encoding=encoding, max_onehot=max_onehot, scale=scale, seed=seed
        )
    if not transformers:
        raise ValueError("no feature columns to learn from: every column is dropped or the target")
    return ColumnTransformer(
        transformers, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False
    )


def categorical_output_indices(preprocessor: ColumnTransformer) -> list[int]:
    """Positions of the outputs holding "native" category codes (empty for other encodings)."""
    check_is_fitted(preprocessor, "output_indices_")
    codes = preprocessor.output_indices_.get("codes", slice(0, 0))
    return list(range(codes.start, codes.stop))


def output_sources(preprocessor: ColumnTransformer) -> list[str]:
    """The input column each output of a fitted preprocessor comes from, in output order.

    Read per transformer from the fitted ColumnTransformer's output positions: a block of one
    input column is all that column's; a wider block's outputs are named by its step and read
    back with `original_column` among that block's own columns only.
    """
    check_is_fitted(preprocessor, "output_indices_")
    width = sum(s.stop - s.start for s in preprocessor.output_indices_.values())
    sources: list[str | None] = [None] * width
    for name, step, columns in preprocessor.transformers_:
        where = preprocessor.output_indices_.get(name, slice(0, 0))
        if step == "drop" or where.stop == where.start:
            continue
        columns = list(columns)
        if len(columns) == 1:
            owners = columns * (where.stop - where.start)
        else:
            owners = [original_column(f, columns) for f in step.get_feature_names_out(columns)]
        sources[where] = owners
    if any(source is None for source in sources):
        raise ValueError("some outputs of the preprocessor come from no input column")
    return sources  # type: ignore[return-value]


def original_column(feature_name: str, columns: Iterable[str]) -> str:
    """The input column (one of `columns`, e.g. the roles) an output feature comes from."""
    names = sorted(columns, key=len, reverse=True)
    if feature_name in names:
        return feature_name
    stem = feature_name.removeprefix(_MISSING_PREFIX)
    for name in names:
        if stem == name or stem.startswith((f"{name}=", f"{name}_")):
            return name
    raise KeyError(f"output feature `{feature_name}` comes from none of the given columns")


def _flag_encoder() -> OrdinalEncoder:
    # Sorted lower-case text puts false before true for every pair the schema reads as
    # boolean (false/true, no/yes, n/y, f/t, 0/1), so false -> 0 and true -> 1.
    return OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        dtype=np.float64,
    )


def _finish(steps: list, strategy: str, fill: bool, scale: bool) -> Pipeline:
    if fill:  # a missing indicator only for columns that had missing values in training
        steps.append(
            ("fill", SimpleImputer(strategy=strategy, add_indicator=True, keep_empty_features=True))
        )
    if scale:
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps)
