"""A forest walked by NumPy answers exactly as scikit-learn's own `predict_proba` / `predict`."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier

from loopml.models import forest
from loopml.models.forest import FlatForest

SEED = 7


def _with_holes(X: np.ndarray, share: float) -> np.ndarray:
    """`X` with `share` of its values replaced by NaN (the same ones for the same seed)."""
    X = X.astype(np.float64)
    X[np.random.default_rng(SEED).random(X.shape) < share] = np.nan
    return X


@pytest.mark.parametrize("kind", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("share", [0.0, 0.1])
def test_classifier_probabilities_equal_scikit_learns(kind: type, share: float) -> None:
    X, y = load_wine(return_X_y=True)  # three classes
    X = _with_holes(X, share)
    estimator = kind(n_estimators=40, min_samples_leaf=2, random_state=SEED).fit(X, y)
    flat = FlatForest.of(estimator)
    assert flat is not None and flat.classifier
    for rows in (X[:1], X[:17], X):
        expected = estimator.predict_proba(rows)  # equal up to the order trees are summed in
        np.testing.assert_allclose(flat.predict_proba(rows), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", [RandomForestRegressor, ExtraTreesRegressor])
@pytest.mark.parametrize("share", [0.0, 0.1])
def test_regressor_predictions_equal_scikit_learns(kind: type, share: float) -> None:
    X, y = load_diabetes(return_X_y=True)
    X = _with_holes(X, share)
    estimator = kind(n_estimators=40, random_state=SEED).fit(X, y)
    flat = FlatForest.of(estimator)
    assert flat is not None and not flat.classifier
    for rows in (X[:1], X[:17], X):
        np.testing.assert_allclose(flat.predict(rows), estimator.predict(rows), rtol=1e-12)


def test_inputs_are_rounded_to_float32_as_scikit_learn_rounds_them() -> None:
    # Extra trees draw thresholds between float32 values; a float64 input just above one
    # can round to a float32 at or below it, and then scikit-learn sends it left.
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(300, 1))
    estimator = ExtraTreesClassifier(n_estimators=5, random_state=SEED)
    estimator.fit(X, rng.integers(0, 2, 300))
    thresholds = np.concatenate([t.tree_.threshold[t.tree_.children_left >= 0] for t in estimator])
    probes = np.nextafter(thresholds, np.inf)
    assert (probes.astype(np.float32) <= thresholds).any()  # rounding changes some decisions
    leaves = FlatForest.of(estimator).leaves(probes[:, None])
    for t, tree in enumerate(estimator.estimators_):
        offset = sum(e.tree_.node_count for e in estimator.estimators_[:t])
        assert np.array_equal(leaves[:, t] - offset, tree.apply(probes[:, None]))


def test_only_forests_of_modest_size_are_flattened(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = load_wine(return_X_y=True)
    assert FlatForest.of(DecisionTreeClassifier(random_state=SEED).fit(X, y)) is None
    assert FlatForest.of(HistGradientBoostingClassifier(max_iter=5).fit(X, y)) is None
    estimator = RandomForestClassifier(n_estimators=10, random_state=SEED).fit(X, y)
    nodes = sum(t.tree_.node_count for t in estimator.estimators_)
    monkeypatch.setattr(forest, "MAX_NODES", nodes - 1)
    assert FlatForest.of(estimator) is None
    monkeypatch.setattr(forest, "MAX_NODES", nodes)
    assert FlatForest.of(estimator) is not None
