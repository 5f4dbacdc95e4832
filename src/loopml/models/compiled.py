"""A TrainedModel compiled for serving: NumPy lookups and native boosters instead of wrappers.

scikit-learn's ColumnTransformer and LightGBM's sklearn wrapper validate and convert their
input on every call: ~10 ms for one row, against ~25 µs for the booster itself. `compile_model`
reads the fitted pipelines once and returns the same model whose members compute the same
numbers from a `Columns` (or a DataFrame) with plain NumPy:

- numeric and date columns: float conversion (date parts), then the imputer's fill values
  and missing indicators and the scaler's mean and scale, as arrays;
- categorical and boolean columns: each column's encoder output (ordinal code, one-hot
  block, target encoding, scaled) is tabulated once for every category seen in training,
  an unseen one and a missing one, by running the fitted steps on those values; scoring
  looks the values up;
- LightGBM's booster is called directly; scikit-learn trees and forests are walked with
  NumPy (`FlatForest`) for fewer than 128 rows; other estimators get the preprocessed array.

A step of a kind this module does not know (a user's transformer) is run through its fitted
scikit-learn object on a DataFrame of its columns, so every model compiles and scores the
same; `tests/models/test_compiled.py` checks the outputs equal the pipelines' own.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
    TargetEncoder,
)

from loopml.features.columns import Columns, as_columns
from loopml.features.datetimes import DatetimeFeatures
from loopml.features.frames import as_categories, as_floats, as_numbers, category_texts
from loopml.features.preprocess import original_column
from loopml.models.forest import FlatForest
from loopml.models.trained import TrainedModel

_UNSEEN = "\x00loopml: a category not seen in training"
_PER_COLUMN_STEPS = (OrdinalEncoder, OneHotEncoder, TargetEncoder, SimpleImputer, StandardScaler)
_SMALL = 64  # below this many rows a dict lookup beats a hash-table index
_THREADS_FROM = 64  # rows from which the booster predicts on several threads
_FLAT_BELOW = 128  # rows below which NumPy walks a forest faster than scikit-learn does


def compile_model(model: TrainedModel, *, threads: int | None = None) -> TrainedModel:
    """The same model (weights, calibration, threshold) with each member compiled.

    `threads`: how many threads a booster may use for 64 rows or more (default: every core;
    a server with several workers gives each its share). Fewer rows use one thread.
    """
    threads = threads or os.cpu_count() or 1
    return model.with_members([CompiledPipeline(m, threads=threads) for m in model.members])


class CompiledPipeline:
    """One fitted [preprocess, model] pipeline, scoring a `Columns` without the wrappers."""

    def __init__(self, pipeline: Any, *, threads: int = 1) -> None:
        self.pipeline = pipeline
        self.threads = threads
        steps = getattr(pipeline, "steps", None)
        preprocessor = steps[0][1] if steps and len(steps) == 2 else None
        if not isinstance(preprocessor, ColumnTransformer):
            self.blocks = None  # not one of loopml's pipelines: scored as it is
            return
        self.estimator = steps[-1][1]
        self.n_features = int(sum(_width(s) for s in preprocessor.output_indices_.values()))
        self.blocks = [
            (preprocessor.output_indices_[name], _compile_block(step, list(columns)))
            for name, step, columns in preprocessor.transformers_
            if step != "drop" and _width(preprocessor.output_indices_[name]) > 0
        ]
        self.booster = _lightgbm_booster(self.estimator)
        self.forest = FlatForest.of(self.estimator)

    @property
    def classes_(self) -> Any:
        """The class labels, in the order of `predict_proba`'s columns."""
        return self.pipeline.classes_

    def transform(self, data: Any) -> np.ndarray:
        """The preprocessed float64 array, equal to the pipeline's preprocessor output."""
        columns = as_columns(data)
        out = np.empty((len(columns), self.n_features), dtype=np.float64)
        for where, block in self.blocks:
            out[:, where] = block(columns)
        return out

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, columns in `classes_` order."""
        if self.blocks is None:
            return self.pipeline.predict_proba(_frame(data))
        X = self.transform(data)
        if self.booster is not None:
            raw = self._boost(X)
            return np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw
        if self.forest is not None and len(X) < _FLAT_BELOW:
            return self.forest.predict_proba(X)
        return self.estimator.predict_proba(X)

    def predict(self, data: Any) -> np.ndarray:
        """Predicted values (regression) or labels."""
        if self.blocks is None:
            return self.pipeline.predict(_frame(data))
        X = self.transform(data)
        if self.booster is not None and not hasattr(self.estimator, "classes_"):
            return self._boost(X)
        if self.forest is not None and len(X) < _FLAT_BELOW and not self.forest.classifier:
            return self.forest.predict(X)
        out = self.estimator.predict(X)
        labels = getattr(self.pipeline, "labels_", None)  # XGBoost's encoded classes
        return out if labels is None else np.asarray(labels, dtype=object)[out.astype(int)]

    def _boost(self, X: np.ndarray) -> np.ndarray:
        # One thread for a few rows: starting threads costs more than they save there.
        threads = self.threads if len(X) >= _THREADS_FROM else 1
        iteration = getattr(self.estimator, "best_iteration_", None) or None
        return self.booster.predict(X, num_iteration=iteration, num_threads=threads)


def _frame(data: Any) -> pd.DataFrame:
    return data.to_frame() if isinstance(data, Columns) else data


def _width(where: slice) -> int:
    return where.stop - where.start


def _lightgbm_booster(estimator: Any) -> Any:
    if type(estimator).__module__.split(".")[0] != "lightgbm":
        return None
    return getattr(estimator, "booster_", None)


def _compile_block(step: Any, columns: list[str]) -> Any:
    """A function Columns -> the block's output array, for one fitted ColumnTransformer entry."""
    steps = step.steps if isinstance(step, Pipeline) else [("only", step)]
    first, rest = steps[0][1], [s for _, s in steps[1:]]
    if _is_function(first, as_categories) and all(isinstance(s, _PER_COLUMN_STEPS) for s in rest):
        return _Lookup(step, first, rest, columns)
    numeric_tail = all(isinstance(s, SimpleImputer | StandardScaler) for s in rest)
    if numeric_tail and len(rest) <= 2 and _is_function(first, as_numbers):
        return _Numeric(_floats, columns, rest)
    if numeric_tail and len(rest) <= 2 and isinstance(first, DatetimeFeatures):
        return _Numeric(first.transform_columns, columns, rest)
    return _Fallback(step, columns)


def _is_function(step: Any, function: Any) -> bool:
    return isinstance(step, FunctionTransformer) and step.func is function


def _floats(data: Columns, names: list[str]) -> np.ndarray:
    columns = [as_floats(data[name]) for name in names]
    return np.column_stack(columns) if columns else np.empty((len(data), 0))


class _Numeric:
    """Numbers or date parts, then the fitted imputer's fills and indicators and the scaler."""

    def __init__(self, source: Any, columns: list[str], rest: list[Any]) -> None:
        self.source = source
        self.columns = columns
        self.fill = self.indicators = self.mean = self.scale = None
        for step in rest:
            if isinstance(step, SimpleImputer):
                # keep_empty_features: a column with no value in training is filled with 0
                self.fill = np.nan_to_num(np.asarray(step.statistics_, dtype=np.float64))
                indicator = getattr(step, "indicator_", None)
                self.indicators = None if indicator is None else np.asarray(indicator.features_)
            else:
                self.mean = None if step.mean_ is None else np.asarray(step.mean_, dtype=float)
                self.scale = None if step.scale_ is None else np.asarray(step.scale_, dtype=float)

    def __call__(self, data: Columns) -> np.ndarray:
        X = self.source(data, self.columns)
        if self.fill is not None:
            missing = np.isnan(X)
            flags = None if self.indicators is None else missing[:, self.indicators]
            X = np.where(missing, self.fill, X)
            if flags is not None and flags.shape[1]:
                X = np.hstack([X, flags.astype(np.float64)])
        if self.mean is not None:
            X = X - self.mean
        if self.scale is not None:
            X = X / self.scale
        return X


class _Lookup:
    """Per-column encoders tabulated: each category's output row, looked up at scoring time."""

    def __init__(self, step: Any, text_step: Any, rest: list[Any], columns: list[str]) -> None:
        self.columns = columns
        self.lowercase = bool((text_step.kw_args or {}).get("lowercase", False))
        encoder = next(s for s in rest if hasattr(s, "categories_"))
        known = [
            [value for value in categories if isinstance(value, str)]
            for categories in encoder.categories_
        ]
        rows = max(len(values) for values in known) + 2
        # Row i of column j: its i-th category, then an unseen one, then a missing one.
        probe = {
            name: np.array((values + [_UNSEEN] * (rows - 1 - len(values)) + [np.nan]), dtype=object)
            for name, values in zip(columns, known, strict=True)
        }
        table = np.asarray(step.transform(pd.DataFrame(probe, dtype=object)), dtype=np.float64)
        owners = [original_column(name, columns) for name in step.get_feature_names_out(columns)]
        self.positions = [[k for k, o in enumerate(owners) if o == name] for name in columns]
        self.tables = []
        self.index = []
        for values, where in zip(known, self.positions, strict=True):
            block = table[:, where]
            # rows: the categories, then the unseen one, then the missing one
            self.tables.append(np.vstack([block[: len(values)], block[-2], block[-1]]))
            index = pd.Index(values, dtype=object)  # object: no conversion to Arrow strings
            self.index.append((index, {value: i for i, value in enumerate(values)}))
        self.width = len(owners)

    def __call__(self, data: Columns) -> np.ndarray:
        out = np.empty((len(data), self.width), dtype=np.float64)
        for name, where, table, (index, codes) in zip(
            self.columns, self.positions, self.tables, self.index, strict=True
        ):
            rows = data.per_value(name, partial(self._rows, index=index, codes=codes))
            out[:, where] = table[rows]
        return out

    def _rows(self, values: np.ndarray, index: pd.Index, codes: dict[str, int]) -> np.ndarray:
        unseen, missing = len(codes), len(codes) + 1
        if len(values) < _SMALL:
            return np.array(
                [self._row(v, codes, unseen, missing) for v in values.tolist()], np.intp
            )
        texts = category_texts(np.asarray(values, dtype=object), self.lowercase)
        rows = index.get_indexer(pd.Index(texts, dtype=object))  # object: no Arrow round trip
        rows[rows < 0] = unseen
        rows[pd.isna(texts)] = missing
        return rows

    def _row(self, value: Any, codes: dict[str, int], unseen: int, missing: int) -> int:
        if value is None or (type(value) is not str and pd.isna(value)):
            return missing
        text = value if type(value) is str else category_texts(np.array([value], object))[0]
        if self.lowercase:
            text = text.lower()
        return codes.get(text, unseen)


class _Fallback:
    """A step this module does not compile, run through scikit-learn on its columns."""

    def __init__(self, step: Any, columns: list[str]) -> None:
        self.step = step
        self.columns = columns

    def __call__(self, data: Columns) -> np.ndarray:
        frame = data[self.columns].to_frame()
        return np.asarray(self.step.transform(frame), dtype=np.float64)
