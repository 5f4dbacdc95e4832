"""scikit-learn forests walked with NumPy, for the few rows a request holds.

A forest's `predict_proba` runs each tree through joblib and its own input checks: ~20 ms
for one row of a 300-tree forest, nearly all of it Python per tree. `FlatForest` lays every
tree's nodes end to end once and walks all trees together, one NumPy step per level for the
paths not at a leaf yet, deciding as scikit-learn does: the input rounded to float32, `x <= threshold`
goes left, NaN goes to the side `missing_go_to_left` says. A classifier's leaves are the
normalised class fractions, averaged over trees; a regressor's are the leaf means.

Past a hundred rows or so scikit-learn's compiled loop is faster; `CompiledPipeline` keeps
using it there. A forest of more than `MAX_NODES` nodes is left to scikit-learn too: its flat
copy (~40 bytes a node) would cost more memory than the time it saves is worth.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_NODES = 5_000_000


class FlatForest:
    """The trees of a fitted scikit-learn forest, as flat arrays."""

    def __init__(self, estimator: Any) -> None:
        trees = [t.tree_ for t in estimator.estimators_]
        self.classifier = hasattr(estimator, "classes_")
        starts = np.cumsum([0] + [t.node_count for t in trees])
        self.roots = starts[:-1].astype(np.int32)
        left, right, feature, threshold, missing_left, values = [], [], [], [], [], []
        for start, tree in zip(starts, trees, strict=False):
            leaf = tree.children_left == -1
            own = np.arange(tree.node_count) + start
            left.append(np.where(leaf, own, tree.children_left + start))
            right.append(np.where(leaf, own, tree.children_right + start))
            feature.append(np.where(leaf, 0, tree.feature))
            threshold.append(np.where(leaf, np.inf, tree.threshold))
            missing = getattr(tree, "missing_go_to_left", None)
            missing_left.append(leaf if missing is None else (np.asarray(missing, bool) | leaf))
            value = tree.value[:, 0, :].astype(np.float64)
            if self.classifier:
                totals = value.sum(axis=1, keepdims=True)
                value = value / np.where(totals == 0.0, 1.0, totals)
            values.append(value)
        self.left = np.concatenate(left).astype(np.int32)
        self.right = np.concatenate(right).astype(np.int32)
        self.feature = np.concatenate(feature).astype(np.int32)
        self.threshold = np.concatenate(threshold).astype(np.float64)
        self.missing_left = np.concatenate(missing_left)
        self.is_leaf = self.left == np.arange(len(self.left))
        self.values = np.concatenate(values)  # (nodes, classes) or (nodes, 1)

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
