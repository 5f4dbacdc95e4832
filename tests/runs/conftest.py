"""A demo project trained once per test session through the real CLI, and project builders."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.commands import loopml

FAMILIES = "logistic,decision_tree,lightgbm"


@dataclass
class Trained:
    """A trained demo project: its folder and what `train --json` printed."""

    root: Path
    result: dict[str, Any]


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The demo project after `loopml train` (three families, six trials, refit on all rows)."""
    root = tmp_path_factory.mktemp("demo")
    loopml("init", "--demo", cwd=root, check=True)
    proc = loopml(
        "train",
        "--time-budget",
        "120",
        "--families",
        FAMILIES,
        "--max-trials",
        "6",
        "--jobs",
        "1",
        "--json",
        cwd=root,
        check=True,
    )
    return Trained(root, json.loads(proc.stdout))


@pytest.fixture
def demo_copy(trained_demo: Trained, tmp_path: Path) -> Path:
    """A private copy of the trained demo project, for tests that change its store."""
    target = tmp_path / "project"
    shutil.copytree(trained_demo.root, target)
    return target


def write_project(root: Path, frame: pd.DataFrame, target: str, task: str, **sections: Any) -> Path:
    """A project folder holding `frame` as data.csv and a loopml.yaml with `sections`."""
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "data.csv", index=False)
    spec = {"name": "test", "data": {"path": "data.csv"}, "target": target, "task": task}
    spec.update(sections)
    (root / "loopml.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root / "loopml.yaml"
