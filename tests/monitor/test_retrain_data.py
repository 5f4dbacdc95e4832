"""The rows of a retrain: each policy's new rows, aligned with the champion's columns, and a
holdout drawn from new rows only (the newest by the time column), the same every time."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from loopml import Project
from loopml.data.versions import dataset_path, get_version
from loopml.monitor.feedback import feedback_folder
from loopml.monitor.log import prediction_folder
from loopml.monitor.retrain_data import collect_rows, record_rows
from loopml.spec import RetrainData
from tests.monitor.conftest import TRAIN, shop_rows
from tests.runs.conftest import write_project


def _dated(frame: pd.DataFrame, first_day: str) -> pd.DataFrame:
    days = pd.date_range(first_day, periods=len(frame), freq="6h").strftime("%Y-%m-%d")
    return frame.assign(day=days)


@pytest.fixture(scope="module")
def dated_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shop project with a `day` column and a time split; version 1 is production."""
    root = tmp_path_factory.mktemp("dated")
    old = _dated(shop_rows(400, seed=0).drop(columns="uid"), "2024-01-01")
    split = {"strategy": "time", "time_column": "day"}
    write_project(root, old, "bought", "binary", train=TRAIN, split=split)
    project = Project(root / "loopml.yaml")
    try:
        project.train()
        project.promote("1", "production")
    finally:
        project.close()
    return root


@pytest.fixture
def dated(dated_trained: Path, tmp_path: Path) -> Project:
    target = tmp_path / "dated"
    shutil.copytree(dated_trained, target)
    project = Project(target / "loopml.yaml")
    yield project
    project.close()


def _collect(project: Project, policy: RetrainData, holdout: float = 0.25) -> object:
    return collect_rows(
        project.spec,
        project.root,
        project.store,
        project.model("production"),
        policy,
        holdout=holdout,
        min_rows=10,
        log_folder=prediction_folder(project),
        feedback_folder=feedback_folder(project),
        now=datetime.now(UTC),
    )


def test_window_rows_join_log_and_feedback_and_hold_out_the_newest(dated: Project) -> None:
    new = _dated(shop_rows(200, seed=1, key="x2"), "2024-06-01")
    root = dated.root
    new.drop(columns="bought").to_csv(root / "new.csv", index=False)
    dated.score("production", root / "new.csv", root / "out.csv", id_columns=["uid"])
    labelled = new.iloc[:160].rename(columns={"uid": "request_id", "bought": "label"})
    labelled[["request_id", "label"]].to_csv(root / "labels.csv", index=False)
    dated.feedback(root / "labels.csv")

    rows = _collect(dated, RetrainData(window="1h", combine=True))
    trained_on = get_version(dated.store, dated.model("production")["dataset_version"])
    assert rows.counts["new"] == 160 and rows.counts["old"] == trained_on.n_rows
    schema = pq.read_schema(dataset_path(dated.store, trained_on))
    # The logged text (dates, labels) is cast back to the training data's types.
    assert {f.name: f.type for f in rows.table.schema} == {
        name: schema.field(name).type for name in rows.table.column_names
    }
    frame = rows.table.to_pandas()
    old, fresh = frame.iloc[: rows.counts["old"]], frame.iloc[rows.counts["old"] :]
    parts = rows.parts[rows.counts["old"] :]
    assert (rows.parts[: rows.counts["old"]] == 0).all()  # earlier rows never held out
    assert pd.to_datetime(fresh["day"]).min() > pd.to_datetime(old["day"]).max()
    held, trained = fresh[parts == 2], fresh[parts == 0]
    assert len(held) == 40 and len(trained) == 120
    assert pd.to_datetime(held["day"]).min() >= pd.to_datetime(trained["day"]).max()
    expected = new.iloc[:160]
    assert sorted(fresh["x1"]) == sorted(expected["x1"])
    assert dict(zip(fresh["x1"], fresh["bought"], strict=True)) == dict(
        zip(expected["x1"], expected["bought"], strict=True)
    )

    first = record_rows(dated.store, dated.spec, rows)
    again = record_rows(
        dated.store, dated.spec, _collect(dated, RetrainData(window="1h", combine=True))
    )
    assert (first[0].version, first[1].id) == (again[0].version, again[1].id)
    assert first[0].parent_version == trained_on.version and first[0].kind == "retrain"
    assert first[1].counts == {"train": rows.counts["train"], "valid": 0, "test": 40}


def test_all_data_holds_out_only_rows_the_champion_never_saw(dated: Project) -> None:
    old = pd.read_csv(dated.root / "data.csv")
    new = _dated(shop_rows(120, seed=2, key="x2").drop(columns="uid"), "2024-06-01")
    again = old.iloc[:5]  # a repeat of rows it trained on is not new data
    pd.concat([old, new, again]).to_csv(dated.root / "data.csv", index=False)

    rows = _collect(dated, RetrainData(all=True))
    trained_on = get_version(dated.store, dated.model("production")["dataset_version"])
    assert rows.counts["seen"] == trained_on.n_rows and rows.counts["fresh"] == 120
    assert rows.counts["duplicates"] == 5 and rows.parent == trained_on.version
    frame = rows.table.to_pandas()
    held = frame[rows.parts == 2]
    assert len(held) == 32 and set(held["x1"]) <= set(new["x1"])  # whole days: 8 of 30
    assert not set(held["x1"]) & set(old["x1"])


def test_a_file_overlapping_the_training_rows_trains_on_them_without_holding_them_out(
    dated: Project,
) -> None:
    old = pd.read_csv(dated.root / "data.csv")
    new = _dated(shop_rows(100, seed=3, key="x2").drop(columns="uid"), "2024-07-01")
    pd.concat([old.iloc[:50], new]).to_csv(dated.root / "export.csv", index=False)
    rows = _collect(dated, RetrainData(path=str(dated.root / "export.csv")))
    assert rows.policy == "source" and rows.parent is None
    assert (rows.counts["new"], rows.counts["seen"], rows.counts["fresh"]) == (150, 50, 100)
    held = rows.table.to_pandas()[rows.parts == 2]
    assert len(held) == 24 and set(held["x1"]) <= set(new["x1"])  # whole days: 6 of 25
    assert rows.counts["train"] == 126  # the 50 seen rows train the challenger
    assert np.isin(old["x1"].iloc[:50], rows.table.column("x1").to_numpy()).all()
