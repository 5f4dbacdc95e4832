"""Real datasets split once per session, and fitted default pipelines shared between tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.model_selection import train_test_split

from loopml.models import make_pipeline
from tests.conftest import DEMO_CSV

SEED = 7
DEMO_NUMERIC = [
    "sched_dep_time",
    "sched_arr_time",
    "distance",
    "temp",
    "humid",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
    "flight",
]
DEMO_CATEGORICAL = ["carrier", "origin", "dest", "tailnum"]


@dataclass
class Data:
    name: str
    task: str
    roles: dict[str, str]
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    fitted: dict[str, Any] = field(default_factory=dict)

    def fit(self, family: str, **params: Any) -> Any:
        """The pipeline of `family` with defaults (and `params`), fitted once and cached."""
        key = family if not params else f"{family}{sorted(params.items())}"
        if key not in self.fitted:
            model = make_pipeline(family, self.task, self.roles, params, seed=SEED, n_jobs=1)
            self.fitted[key] = model.fit(self.X_train, self.y_train)
        return self.fitted[key]


def _split(name: str, task: str, X: pd.DataFrame, y: pd.Series, roles: dict[str, str]) -> Data:
    stratify = y if task != "regression" else None
    parts = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=stratify)
    return Data(name, task, roles, *parts)


def _sklearn(name: str, task: str, loader: Any) -> Data:
    X, y = loader(return_X_y=True, as_frame=True)
    return _split(name, task, X, y, dict.fromkeys(X.columns, "numeric"))


def _flights() -> Data:
    frame = pd.read_csv(DEMO_CSV)
    frame = frame[frame["late"].notna()].reset_index(drop=True)
    roles = {
        "flight_date": "datetime",
        **dict.fromkeys(DEMO_NUMERIC, "numeric"),
        **dict.fromkeys(DEMO_CATEGORICAL, "categorical"),
    }
    return _split("flights", "binary", frame.drop(columns="late"), frame["late"], roles)


@pytest.fixture(scope="session")
def datasets() -> dict[str, Data]:
    """breast_cancer (binary), wine (multiclass), diabetes (regression), flights (binary)."""
    return {
        "breast_cancer": _sklearn("breast_cancer", "binary", load_breast_cancer),
        "wine": _sklearn("wine", "multiclass", load_wine),
        "diabetes": _sklearn("diabetes", "regression", load_diabetes),
        "flights": _flights(),
    }
