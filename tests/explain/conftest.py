"""The real datasets of tests/models and the trained demo project of tests/runs, shared here,
and small projects with a planted group disparity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.commands import loopml
from tests.models.conftest import datasets
from tests.runs.conftest import demo_copy, trained_demo, write_project

__all__ = ["datasets", "demo_copy", "knn_project", "planted", "trained_demo"]


def planted(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Group B gets positives far more often (planted), and `proxy` gives the group away."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.65, "A", "B")
    b = (group == "B").astype(float)
    x1 = rng.normal(size=n)
    proxy = b + rng.normal(scale=0.3, size=n)
    y = (x1 + 1.5 * b + rng.normal(scale=0.5, size=n) > 0.75).astype(int)
    return pd.DataFrame({"x1": x1.round(4), "proxy": proxy.round(4), "group": group, "y": y})


@pytest.fixture(scope="module")
def knn_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kNN model (explained by sampling, no sample weights) on the planted data, `group`
    a sensitive column left out of its features."""
    root = tmp_path_factory.mktemp("knn")
    write_project(
        root,
        planted(),
        "y",
        "binary",
        fairness={"sensitive": ["group"]},
        train={"time_budget": 30, "families": ["knn"], "max_trials": 1, "jobs": 1},
    )
    loopml("train", cwd=root, check=True)
    return root
