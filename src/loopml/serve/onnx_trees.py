"""Decision trees as one float64 `ai.onnx.ml.TreeEnsemble` node, deciding as their library does.

- LightGBM (`lightgbm_forest`, from `Booster.dump_model()`): `x <= threshold` with its
  missing-value rule (NaN follows `default_left` when training saw missing values, else it
  is read as 0), category sets as `BRANCH_MEMBER` (a missing or negative code goes right);
  tree i adds to output i mod trees-per-iteration.
- scikit-learn trees and forests (`sklearn_forest`): the input rounded to float32 as
  scikit-learn does, `x <= threshold`, NaN to the side `missing_go_to_left` says; a
  classifier's tree is repeated once per class (a leaf of the ONNX operator feeds one
  output), its leaves the normalised class fractions; a forest's trees weigh 1/n each.
- HistGradientBoosting (`hist_gradient_boosting_forest`): `x <= threshold`, NaN to the
  `missing_go_to_left` side, category sets with unknown categories sent that side too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loopml.errors import ExportError
from loopml.models.forest import leaf_outputs

_LEQ, _MEMBER = 0, 6  # nodes_modes: BRANCH_LEQ, BRANCH_MEMBER
_FIELDS = ("feature", "split", "mode", "true", "true_leaf", "false", "false_leaf", "missing")


class Forest:
    """Trees added one at a time, then written as one TreeEnsemble node summing their leaves."""

    def __init__(self, n_targets: int) -> None:
        self.n_targets = n_targets
        self.nodes: dict[str, list[Any]] = {k: [] for k in _FIELDS}
        self.members: list[float] = []
        self.leaf_targets: list[int] = []
        self.leaf_weights: list[float] = []
        self.roots: list[int] = []

    def leaf(self, value: float, target: int) -> tuple[int, bool]:
        """A leaf adding `value` to output `target`."""
        self.leaf_targets.append(target)
        self.leaf_weights.append(float(value))
        return len(self.leaf_weights) - 1, True

    def split(
        self, feature: int, threshold: float, missing_left: bool, members: list[float] | None = None
    ) -> int:
        """A split (`x <= threshold`, or `x in members`); its children are set with `children`."""
        at = len(self.nodes["feature"])
        mode = _LEQ if members is None else _MEMBER
        row = (feature, threshold, mode, 0, 0, 0, 0, int(missing_left))
        for key, value in zip(_FIELDS, row, strict=True):
            self.nodes[key].append(value)
        if members is not None:
            self.members.extend([*members, np.nan])
        return at

    def children(
        self, at: int, left: tuple[int, bool], right: tuple[int, bool]
    ) -> tuple[int, bool]:
        """Set the two sides of split `at`; give it back as a (not leaf) child."""
        self.nodes["true"][at], self.nodes["true_leaf"][at] = left[0], int(left[1])
        self.nodes["false"][at], self.nodes["false_leaf"][at] = right[0], int(right[1])
        return at, False

    def tree(self, root: tuple[int, bool]) -> None:
        """Add a tree by its root (a tree of one leaf gets a split whose sides both lead to it)."""
        if root[1]:
            root = self.children(self.split(0, 0.0, False), root, root)
        self.roots.append(root[0])

    def node(self, g: Any, X: str) -> str:
        """The TreeEnsemble node on `X`; its output is (n, n_targets), float64."""
        from onnx import helper, numpy_helper

        def tensor(values: list[Any], kind: Any) -> Any:
            return numpy_helper.from_array(np.asarray(values, kind))

        nodes = self.nodes
        attrs: dict[str, Any] = {
            "aggregate_function": 1,  # SUM
            "post_transform": 0,
            "n_targets": self.n_targets,
            "tree_roots": self.roots,
            "nodes_featureids": nodes["feature"],
            "nodes_splits": tensor(nodes["split"], np.float64),
            "nodes_modes": tensor(nodes["mode"], np.uint8),
            "nodes_truenodeids": nodes["true"],
            "nodes_trueleafs": nodes["true_leaf"],
            "nodes_falsenodeids": nodes["false"],
            "nodes_falseleafs": nodes["false_leaf"],
            "nodes_missing_value_tracks_true": nodes["missing"],
            "leaf_targetids": self.leaf_targets,
            "leaf_weights": tensor(self.leaf_weights, np.float64),
        }
        if self.members:
            attrs["membership_values"] = tensor(self.members, np.float64)
        out = g.name()
        g.nodes.append(
            helper.make_node("TreeEnsemble", [X], [out], name=out, domain="ai.onnx.ml", **attrs)
        )
        return out


def lightgbm_forest(trees: list[dict[str, Any]], n_targets: int) -> Forest:
    """The trees of a LightGBM model dump (`dump_model()["tree_info"]`)."""
    forest = Forest(n_targets)

    def visit(node: dict[str, Any], target: int) -> tuple[int, bool]:
        if "split_feature" not in node:
            return forest.leaf(node["leaf_value"], target)
        feature = int(node["split_feature"])
        if node["decision_type"] == "==":
            chosen = [float(c) for c in str(node["threshold"]).split("||")]
            at = forest.split(feature, 0.0, False, chosen)  # a missing category goes right
        elif node["decision_type"] == "<=":
            threshold = float(node["threshold"])
            if node["missing_type"] == "NaN":
                at = forest.split(feature, threshold, bool(node["default_left"]))
            elif node["missing_type"] == "None":  # NaN is read as 0
                at = forest.split(feature, threshold, threshold >= 0.0)
            else:
                raise ExportError.no_onnx_form("a LightGBM split with zero as missing")
        else:
            raise ExportError.no_onnx_form(f"the LightGBM split `{node['decision_type']}`")
        return forest.children(
            at, visit(node["left_child"], target), visit(node["right_child"], target)
        )

    for position, tree in enumerate(trees):
        forest.tree(visit(tree["tree_structure"], position % n_targets))
    return forest


def sklearn_forest(estimators: list[Any], n_classes: int | None) -> Forest:
    """scikit-learn's fitted trees (one, or a forest's), averaged; per class for a classifier."""
    forest = Forest(n_classes or 1)
    weight = 1.0 / len(estimators)
    for estimator in estimators:
        tree = estimator.tree_
        if tree.n_outputs != 1:
            raise ExportError.no_onnx_form("a tree with several outputs")
        values = leaf_outputs(tree, classifier=n_classes is not None)
        for target in range(forest.n_targets):
            forest.tree(_sklearn_node(forest, tree, values[:, target] * weight, 0, target))
    return forest


def _sklearn_node(
    forest: Forest, tree: Any, leaves: np.ndarray, node: int, target: int
) -> tuple[int, bool]:
    """Node `node` of a scikit-learn tree, its subtree added to `forest`."""
    left, right = int(tree.children_left[node]), int(tree.children_right[node])
    if left == -1:
        return forest.leaf(leaves[node], target)
    missing = getattr(tree, "missing_go_to_left", None)
    at = forest.split(
        int(tree.feature[node]),
        float(tree.threshold[node]),
        bool(missing[node]) if missing is not None else False,
    )
    return forest.children(
        at,
        _sklearn_node(forest, tree, leaves, left, target),
        _sklearn_node(forest, tree, leaves, right, target),
    )


def hist_gradient_boosting_forest(estimator: Any) -> Forest:
    """The trees of a fitted HistGradientBoosting model, without its baseline or link.

    A categorical split sends its left categories left, the other known ones right, and a
    missing, negative or unknown category to the side `missing_go_to_left` says.
    """
    predictors = estimator._predictors
    forest = Forest(len(predictors[0]) if predictors else 1)
    known, f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
    for iteration in predictors:
        for target, predictor in enumerate(iteration):
            nodes, left_sets = predictor.nodes, predictor.raw_left_cat_bitsets

            def visit(
                at: int, target: int = target, nodes: Any = nodes, sets: Any = left_sets
            ) -> tuple[int, bool]:
                node = nodes[at]
                if node["is_leaf"]:
                    return forest.leaf(float(node["value"]), target)
                feature, to_left = int(node["feature_idx"]), bool(node["missing_go_to_left"])
                if node["is_categorical"]:
                    lefts = _bits(sets[node["bitset_idx"]])
                    if to_left:  # the known right categories go right, all else left
                        rights = sorted(set(_bits(known[f_idx_map[feature]])) - set(lefts))
                        split = forest.split(feature, 0.0, False, [float(v) for v in rights])
                        return forest.children(split, visit(node["right"]), visit(node["left"]))
                    split = forest.split(feature, 0.0, False, [float(v) for v in lefts])
                else:
                    split = forest.split(feature, float(node["num_threshold"]), to_left)
                return forest.children(split, visit(node["left"]), visit(node["right"]))

            forest.tree(visit(0))
    return forest


def _bits(bitset: np.ndarray) -> list[int]:
    """The values whose bits are set in a scikit-learn bitset (8 × uint32: values 0-255)."""
    words = np.asarray(bitset, dtype=np.uint64)
    return [v for v in range(32 * len(words)) if (int(words[v // 32]) >> (v % 32)) & 1]
