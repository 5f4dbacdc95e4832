"""Reference statistics: what training data and predictions looked like, kept as plain numbers.

Computed once when a model is trained and stored with its version (the run's `chosen`
record), so that drift checks compare new data against these numbers and never reload the
training rows. Per feature:

- numeric (and datetime, as days since 1970): missing rate; bin edges at the deciles of the
  training values with the share of values in each bin (for PSI); 101 quantiles (for the
  Wasserstein distance and a Kolmogorov-Smirnov statistic); mean, standard deviation.
- categorical and boolean: missing rate; the share of each of the (at most 100) most
  frequent categories and of all the others together; the number of distinct categories.

Predictions get the same treatment: P(positive) for a binary classifier (numeric), the
predicted class for a multiclass one (categorical), the value for a regressor (numeric).
For classifiers a seeded sample of the test probabilities is kept too (`prediction_sample`,
at most 2,000 rows): the label-free performance estimate of a window is compared with the
same estimate on these rows, so a model's calibration bias cancels out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopml.features.columns import as_columns
from loopml.features.frames import as_floats, category_texts

SAMPLE_ROWS = 2000
N_BINS = 10
N_QUANTILES = 101
MAX_CATEGORIES = 100
OTHER = "__other__"  # the share of categories beyond the most frequent ones


def reference_statistics(
    features: Any,
    roles: dict[str, str],
    prediction: np.ndarray,
    *,
    task: str,
    classes: list[Any] | None = None,
) -> dict[str, Any]:
    """Reference statistics of the feature columns of `features` and of `prediction`."""
    columns = as_columns(features)
    stats = {
        name: column_statistics(columns[name], roles.get(name, "categorical"))
        for name in columns.columns
    }
    out = {
        "rows": len(columns),
        "features": stats,
        "prediction": _prediction(prediction, task, classes),
    }
    if task != "regression":
        out["prediction_sample"] = _sample(np.asarray(prediction, dtype=np.float64))
    return out


def column_statistics(values: np.ndarray, role: str) -> dict[str, Any]:
    """The reference statistics of one column (see the module docstring)."""
    if role in ("numeric", "datetime"):
        numbers = as_numbers(values, role)
        present = numbers[~np.isnan(numbers)]
        out: dict[str, Any] = {
            "role": role,
            "kind": "numeric",
            "count": len(numbers),
            "missing_rate": _rate(len(numbers) - len(present), len(numbers)),
        }
        if len(present):
            edges = np.unique(np.quantile(present, np.linspace(0, 1, N_BINS + 1)[1:-1]))
            out |= {
                "edges": edges.tolist(),
                "shares": bin_shares(present, edges).tolist(),
                "quantiles": np.quantile(present, np.linspace(0, 1, N_QUANTILES)).tolist(),
                "mean": float(present.mean()),
                "std": float(present.std()),
            }
        return out
    texts = category_texts(np.asarray(values, dtype=object), lowercase=role == "boolean")
    present = pd.Series(texts[~pd.isna(texts)], dtype=object)
    counts = present.value_counts()
    kept = counts.iloc[:MAX_CATEGORIES]
    shares = {str(k): float(v) / max(len(present), 1) for k, v in kept.items()}
    rest = int(counts.iloc[MAX_CATEGORIES:].sum())
    if rest:
        shares[OTHER] = rest / len(present)
    return {
        "role": role,
        "kind": "categorical",
        "count": len(texts),
        "missing_rate": _rate(len(texts) - len(present), len(texts)),
        "shares": shares,
        "n_categories": len(counts),
    }


def as_numbers(values: np.ndarray, role: str) -> np.ndarray:
    """A numeric or datetime column as float64 (dates: days since 1970), NaN where missing."""
    if role == "datetime":
        from loopml.features.datetimes import to_timestamps  # loads scikit-learn

        stamps = to_timestamps(values)
        days = (stamps - np.datetime64(0, "us")) / np.timedelta64(1, "D")
        return np.where(np.isnat(stamps), np.nan, days)
    return as_floats(values)


def bin_shares(present: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The share of `present` values in each bin (-inf, e1], (e1, e2], …, (ek, inf)."""
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    return counts / max(len(present), 1)


def _prediction(prediction: np.ndarray, task: str, classes: list[Any] | None) -> dict[str, Any]:
    prediction = np.asarray(prediction)
    if task == "multiclass":
        labels = np.asarray(classes, dtype=object)[prediction.argmax(axis=1)]
        return column_statistics(labels, "categorical")
    return column_statistics(prediction.astype(np.float64), "numeric")


def _sample(prediction: np.ndarray) -> list[Any]:
    """At most SAMPLE_ROWS predictions (P(positive), or a row of probabilities), seeded."""
    if len(prediction) > SAMPLE_ROWS:
        rows = np.random.default_rng(0).choice(len(prediction), SAMPLE_ROWS, replace=False)
        prediction = prediction[np.sort(rows)]
    return np.round(prediction, 6).tolist()


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
