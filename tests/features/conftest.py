"""The demo table profiled into a real store once, split into train and hold-out parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

import loopml
from loopml.data.profile import column_roles, prepare_dataset
from loopml.data.versions import read_dataset
from loopml.spec import validate_spec
from loopml.store import Store

DEMO_CSV = Path(loopml.__file__).parent / "demo" / "flights.csv"


@dataclass(frozen=True)
class Demo:
    """The cleaned demo table as the store gives it back, its feature roles, and a split."""

    roles: dict[str, str]  # feature column -> role (the target left out)
    frame: pd.DataFrame
    train: pd.DataFrame
    holdout: pd.DataFrame
    y_train: pd.Series  # 1 when late
    y_holdout: pd.Series


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """Roles from `prepare_dataset` + `column_roles`; rows from the cleaned dataset version."""
    root = tmp_path_factory.mktemp("demo-project")
    spec = validate_spec(
        {"name": "t", "data": {"path": str(DEMO_CSV)}, "target": "late", "task": "binary"}
    )
    store = Store.for_project(root, spec.store.metadata, spec.store.artifacts)
    try:
        cleaned = prepare_dataset(spec, root, store)
        roles = column_roles(store, cleaned)
        frame = read_dataset(store, cleaned)
    finally:
        store.close()
    features = {name: role for name, role in roles.items() if role != "target"}
    y = (frame["late"] == "yes").astype(int)
    train, holdout, y_train, y_holdout = train_test_split(
        frame[list(features)], y, test_size=0.3, stratify=y, random_state=0
    )
    return Demo(features, frame, train, holdout, y_train, y_holdout)
