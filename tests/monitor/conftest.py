"""A small shop project trained and in production once per session, for the retrain tests.

Its planted structure: `bought` is "yes" when `x1` (plus noise) is positive. Data with a
concept shift follows `x2` instead, so a model trained on the old rows is no better than a
coin on them while a model trained on the new rows is as good as the old one was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.commands import loopml
from tests.runs.conftest import write_project

TRAIN = {"time_budget": 60, "families": ["logistic"], "max_trials": 1, "jobs": 1}
RETRAIN = {"data": "1d", "holdout": 0.3, "min_rows": 100}


def shop_rows(n: int, seed: int, key: str = "x1", first: int = 0) -> pd.DataFrame:
    """`n` rows whose label follows `key`; `uid` numbers them from `first`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n).round(6),
            "x2": rng.normal(size=n).round(6),
            "x3": rng.normal(size=n).round(6),
            "shop": rng.choice(["north", "south", "east"], size=n),
        }
    )
    signal = frame[key] + 0.3 * rng.normal(size=n)
    frame["bought"] = np.where(signal > 0, "yes", "no")
    frame["uid"] = [f"u{first + i}" for i in range(n)]
    return frame


@pytest.fixture(scope="session")
def shop_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop project: version 1 (logistic, trained on the `x1` rows) is production."""
    root = tmp_path_factory.mktemp("shop")
    old = shop_rows(800, seed=0).drop(columns="uid")
    write_project(root, old, "bought", "binary", train=TRAIN, retrain=RETRAIN)
    loopml("train", cwd=root, check=True)
    loopml("models", "promote", "1", "production", cwd=root, check=True)
    return root


@pytest.fixture
def shop(shop_trained: Path, tmp_path: Path) -> Path:
    """A private copy of the shop project, for a test that changes its store."""
    target = tmp_path / "shop"
    shutil.copytree(shop_trained, target)
    return target


def score_and_label(
    root: Path, frame: pd.DataFrame, name: str, *, labels: int | None = None
) -> None:
    """Score `frame` with production through `loopml score` (logged, ids from `uid`) and send
    the labels of its first `labels` rows (all by default) through `loopml feedback`."""
    source = root / f"{name}.csv"
    frame.drop(columns="bought").to_csv(source, index=False)
    out = root / f"{name}_scored.csv"
    loopml("score", "production", str(source), str(out), "--id", "uid", cwd=root, check=True)
    if labels == 0:
        return
    chosen = frame if labels is None else frame.iloc[:labels]
    truth = chosen.rename(columns={"uid": "request_id", "bought": "label"})
    truth[["request_id", "label"]].to_csv(root / f"{name}_labels.csv", index=False)
    loopml("feedback", str(root / f"{name}_labels.csv"), cwd=root, check=True)
