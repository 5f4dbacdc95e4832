"""scikit-learn forests walked with NumPy, for the few rows a request holds.

A forest's `predict_proba` runs each tree through joblib and its own input checks: ~20 ms
for one row of a 300-tree forest, nearly all of it Python per tree. `FlatForest` lays every
tree's nodes end to end once and walks all trees together, one NumPy step per level for the
paths not at a leaf yet, deciding as scikit-learn does: the input rounded to float32,
`x <= threshold` goes left, NaN goes to the side `missing_go_to_left` says. A classifier's leaves are the
normalised class fractions, averaged over trees; a regressor's are the leaf means.

Past a hundred rows or so scikit-learn's compiled loop is faster; `CompiledPipeline` keeps
using it there. A forest of more than `MAX_NODES` nodes is left to scikit-learn too: its flat
copy (~40 bytes a node) would cost more memory than the time it saves is worth.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_NODES = 5_000_000


def leaf_outputs(tree: Any, classifier: bool) -> np.ndarray:
    """What each node of a fitted scikit-learn tree (`tree_`) outputs, (nodes, K): a
    classifier's normalised class fractions (all 0 stays 0), a regressor's mean, as float64."""
    values = tree.value[:, 0, :].astype(np.float64)
    if not classifier:
        return values
    totals = values.sum(axis=1, keepdims=True)
    return values / np.where(totals == 0.0, 1.0, totals)


class FlatForest:
    """The trees of a fitted scikit-learn forest, as flat arrays."""

    def __init__(self, estimator: Any) -> None:
        trees = [t.tree_ for t in estimator.estimators_]
        self.classifier = hasattr(estimator, "classes_")
        counts = [t.node_count for t in trees]
        starts = np.cumsum([0, *counts[:-1]])
        self.roots = starts.astype(np.int32)
        shift = np.repeat(starts, counts)  # each node's tree's first index
        children_left = np.concatenate([t.children_left for t in trees])
        self.is_leaf = children_left == -1  # a leaf's children are never read: its path stops
        self.left = (children_left + shift).astype(np.int32)
        self.right = (np.concatenate([t.children_right for t in trees]) + shift).astype(np.int32)
        self.feature = np.concatenate([t.feature for t in trees]).astype(np.int32)
        self.threshold = np.concatenate([t.threshold for t in trees]).astype(np.float64)
        self.missing_left = np.concatenate([t.missing_go_to_left for t in trees]).astype(bool)
        self.values = np.concatenate([leaf_outputs(t, self.classifier) for t in trees])

    @classmethod
    def of(cls, estimator: Any) -> FlatForest | None:
        """The flat form of a scikit-learn forest of single-output trees, else None."""
        from sklearn.ensemble import (
            ExtraTreesClassifier,
            ExtraTreesRegressor,
            RandomForestClassifier,
            RandomForestRegressor,
        )

        kinds = (
            ExtraTreesClassifier,
            ExtraTreesRegressor,
            RandomForestClassifier,
            RandomForestRegressor,
        )
        if not isinstance(estimator, kinds) or getattr(estimator, "n_outputs_", 1) != 1:
            return None
        if sum(t.tree_.node_count for t in estimator.estimators_) > MAX_NODES:
            return None
        return cls(estimator)

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """The leaf each row reaches in each tree: (rows, trees) node indices."""
        X = np.asarray(X, dtype=np.float32)  # scikit-learn compares float32 inputs
        rows, trees = len(X), len(self.roots)
        flat = X.ravel()
        node = np.tile(self.roots, rows)  # row by row, each row's trees together
        start = np.repeat(np.arange(rows, dtype=np.intp) * X.shape[1], trees)
        has_nan = bool(np.isnan(flat).any())
        walking = np.flatnonzero(~self.is_leaf[node])  # only the paths not at a leaf yet
        while walking.size:
            at = node[walking]
            x = flat[start[walking] + self.feature[at]]
            to_left = x <= self.threshold[at]
            if has_nan:
                to_left |= np.isnan(x) & self.missing_left[at]
            at = np.where(to_left, self.left[at], self.right[at])
            node[walking] = at
            walking = walking[~self.is_leaf[at]]
        return node.reshape(rows, trees)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, as the estimator's `predict_proba` gives them."""
        return self.values[self.leaves(X)].mean(axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """A regressor's predictions, as the estimator's `predict` gives them."""
        return self.values[self.leaves(X), 0].mean(axis=1)
