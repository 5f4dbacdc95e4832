"""Scoring latency of a scikit-learn forest: loopml's NumPy walk vs the forest's own predict.

A request to `loopml serve` holds a few rows; a forest's `predict_proba` spends ~20 ms on
one row of 300 trees, nearly all of it per-tree Python. loopml's compiled model walks the
trees with NumPy (`loopml.models.forest.FlatForest`) below 128 rows and hands larger batches
to scikit-learn. This script fits loopml's default forests (300 trees, `max_features`
"sqrt", one job) on scikit-learn's bundled digits (1,797 rows x 64 columns, ten classes),
checks the two give the same probabilities, and prints the median time
of each for 1 to 1,000 rows with the ratio scikit-learn / loopml (above 1: loopml faster).

    python benchmarks/forest_latency.py [--trees 300] [--repeats 50]
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
from _common import median_s
from sklearn.datasets import load_digits
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from loopml.models.forest import FlatForest

ROWS = (1, 8, 32, 64, 127, 256, 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)  # 1,797 rows x 64 pixels, ten classes
    X = X.astype(np.float64)
    print(f"digits: {X.shape[0]:,} rows x {X.shape[1]} columns, {len(set(y))} classes")
    print(f"{'forest':<14}{'rows':>6}{'scikit-learn ms':>18}{'loopml ms':>12}{'ratio':>8}")
    for kind in (RandomForestClassifier, ExtraTreesClassifier):
        forest = kind(n_estimators=args.trees, max_features="sqrt", n_jobs=1, random_state=0)
        forest.fit(X, y)
        flat = FlatForest.of(forest)
        gap = np.abs(flat.predict_proba(X) - forest.predict_proba(X)).max()
        assert gap < 1e-12, f"{kind.__name__}: the probabilities differ by {gap}"
        for rows in ROWS:
            part = X[:rows]
            repeats = max(3, args.repeats * 8 // (8 + rows // 16))
            theirs = median_s(partial(forest.predict_proba, part), repeats) * 1000
            ours = median_s(partial(flat.predict_proba, part), repeats) * 1000
            name = kind.__name__.removesuffix("Classifier")
            print(f"{name:<14}{rows:>6}{theirs:>18.2f}{ours:>12.2f}{theirs / ours:>8.1f}")


if __name__ == "__main__":
    main()
