"""Experiment tracking in the metadata store (schema 2): runs and trials on real SQLite."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopml.errors import NotFoundError
from loopml.store import metadata as metadata_module
from loopml.store.metadata import MIGRATIONS, SCHEMA_VERSION, MetadataStore, create_engine, writing
from tests.store.rows import dataset_row

DATASET = "d" * 64
SPLIT = "5" * 64


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'metadata.db'}"


def split_row() -> dict[str, Any]:
    return {
        "id": SPLIT,
        "dataset_version": DATASET,
        "strategy": "random",
        "params": {"test_size": 0.2},
        "seed": 7,
        "counts": {"train": 8, "test": 2},
        "artifact_sha256": "e" * 64,
        "artifact_path": f"objects/ee/{'e' * 64}.parquet",
        "artifact_size": 45,
    }


def run_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "project": "churn",
        "spec": {"task": "binary", "target": "churned", "metric": "roc_auc"},
        "spec_hash": "a" * 64,
        "dataset_version": DATASET,
        "split_id": SPLIT,
        "seed": 42,
        "time_budget_s": 60.0,
        "environment": {
            "python": "3.12.1",
            "packages": {"loopml": "0.1.0", "scikit-learn": "1.5.0"},
            "platform": "Linux-x86_64",
            "git_commit": None,
        },
    }
    row.update(overrides)
    return row


def trial_row(run_id: str, number: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "run_id": run_id,
        "number": number,
        "family": "lightgbm",
        "params": {"num_leaves": 31, "learning_rate": 0.05},
        "status": "complete",
        "fold_scores": [0.81, 0.83, 0.8],
        "score": 0.8133,
        "fit_s": 1.5,
        "predict_s": 0.02,
    }
    row.update(overrides)
    return row


@pytest.fixture
def meta(db_url: str) -> MetadataStore:
    opened = MetadataStore(db_url)
    opened.add_dataset(dataset_row(DATASET))
    opened.add_split(split_row())
    yield opened
    opened.close()


def versions(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return [
            r[0] for r in conn.exec_driver_sql("SELECT version FROM schema_migrations ORDER BY 1")
        ]


# -- schema -----------------------------------------------------------------------------------
def test_a_fresh_store_is_at_the_latest_schema_with_run_tables(meta: MetadataStore) -> None:
    assert SCHEMA_VERSION == 5
    assert versions(meta.engine) == [1, 2, 3, 4, 5]
    inspector = sa.inspect(meta.engine)
    assert {"runs", "trials", "monitor_checks", "retrain_decisions"} <= set(
        inspector.get_table_names()
    )
    assert "ix_trials_run" in {ix["name"] for ix in inspector.get_indexes("trials")}
    trial_fks = {fk["referred_table"] for fk in inspector.get_foreign_keys("trials")}
    run_fks = {fk["referred_table"] for fk in inspector.get_foreign_keys("runs")}
    assert trial_fks == {"runs"}
    assert run_fks == {"datasets", "splits"}


def test_a_v1_store_is_upgraded_in_place_and_keeps_its_rows(db_url: str) -> None:
    # Build a store exactly as a schema-1 loopml left it: only migration 1 applied.
    engine = create_engine(db_url)
    with writing(engine) as conn:
        metadata_module.schema_migrations.create(conn)
        MIGRATIONS[0](conn)
        conn.execute(
            metadata_module.schema_migrations.insert().values(
                version=1, applied_at="2024-01-01T00:00:00+00:00"
            )
        )
    with writing(engine) as conn:
        conn.execute(
            metadata_module.datasets.insert().values(
                created_at="2024-01-01T00:00:01+00:00", **dataset_row(DATASET)
            )
        )
    assert "runs" not in sa.inspect(engine).get_table_names()
    engine.dispose()

    upgraded = MetadataStore(db_url)
    try:
        assert versions(upgraded.engine) == [1, 2, 3, 4, 5]
        assert {"runs", "trials"} <= set(sa.inspect(upgraded.engine).get_table_names())
        assert [row["version"] for row in upgraded.datasets()] == [DATASET]
        assert upgraded.dataset(DATASET)["columns"] == dataset_row(DATASET)["columns"]
        upgraded.add_split(split_row())
        run_id = upgraded.add_run(run_row())  # the new tables are usable
        assert upgraded.run(run_id)["dataset_version"] == DATASET
    finally:
        upgraded.close()


# -- runs -------------------------------------------------------------------------------------
def test_add_and_update_a_run_round_trips_json(meta: MetadataStore) -> None:
    run_id = meta.add_run(run_row())
    assert len(run_id) == 32
    assert all(c in "0123456789abcdef" for c in run_id)

    started = meta.run(run_id)
    assert started["status"] == "running"
    assert started["spec"] == run_row()["spec"]
    assert started["environment"] == run_row()["environment"]
    assert started["started_at"]
    assert started["finished_at"] is None
    assert started["chosen"] is None

    chosen = {
        "family": "lightgbm",
        "params": {"num_leaves": 31},
        "model": {"artifact_sha256": "b" * 64, "artifact_path": "objects/bb/x.joblib"},
    }
    leaderboard = [{"family": "lightgbm", "score": 0.81}, {"family": "baseline", "score": 0.5}]
    meta.update_run(
        run_id,
        status="complete",
        chosen=chosen,
        leaderboard=leaderboard,
        test_metrics={"roc_auc": {"value": 0.8, "ci": [0.75, 0.85]}},
        baseline_test_metrics={"roc_auc": {"value": 0.5, "ci": [0.5, 0.5]}},
        report_path="reports/run.html",
        finished_at=metadata_module.utcnow(),
    )
    done = meta.run(run_id)
    assert done["status"] == "complete"
    assert done["chosen"] == chosen
    assert done["leaderboard"] == leaderboard
    assert done["test_metrics"]["roc_auc"]["ci"] == [0.75, 0.85]
    assert done["baseline_test_metrics"]["roc_auc"]["value"] == 0.5
    assert done["report_path"] == "reports/run.html"
    assert done["finished_at"] >= done["started_at"]
    assert done["error"] is None


def test_a_failed_run_keeps_its_error(meta: MetadataStore) -> None:
    run_id = meta.add_run(run_row())
    meta.update_run(run_id, status="failed", error="out of memory")
    assert meta.run(run_id)["error"] == "out of memory"


def test_update_run_rejects_unknown_columns_ids_and_runs(meta: MetadataStore) -> None:
    run_id = meta.add_run(run_row())
    with pytest.raises(ValueError, match="no_such"):
        meta.update_run(run_id, no_such=1)
    with pytest.raises(ValueError, match="id"):
        meta.update_run(run_id, id="f" * 32)
    with pytest.raises(NotFoundError):
        meta.update_run("0" * 32, status="failed")


def test_a_run_status_outside_the_allowed_set_is_refused(meta: MetadataStore) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        meta.add_run(run_row(status="finished"))


def test_runs_by_latest_prefix_and_newest_first(meta: MetadataStore) -> None:
    older = meta.add_run(run_row(id="abcdef01" + "1" * 24))
    time.sleep(0.002)
    newer = meta.add_run(run_row(id="abcdef02" + "2" * 24))

    assert meta.run("latest")["id"] == newer
    assert meta.run("abcdef01")["id"] == older
    assert meta.run(newer[:10].upper())["id"] == newer
    assert [row["id"] for row in meta.runs()] == [newer, older]
    with pytest.raises(NotFoundError, match="ambiguous"):
        meta.run("abcdef")


@pytest.mark.parametrize(
    ("ref", "message"),
    [("123456", "no run matches"), ("abc", "not a valid reference"), ("latest", "latest")],
)
def test_unknown_run_refs_are_not_found(meta: MetadataStore, ref: str, message: str) -> None:
    with pytest.raises(NotFoundError, match=message):
        meta.run(ref)


def test_a_run_must_name_a_known_dataset_and_split(meta: MetadataStore) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        meta.add_run(run_row(dataset_version="9" * 64))
    with pytest.raises(sa.exc.IntegrityError):
        meta.add_run(run_row(split_id="9" * 64))


# -- trials -----------------------------------------------------------------------------------
def test_trials_round_trip_in_number_order(meta: MetadataStore) -> None:
    run_id = meta.add_run(run_row())
    other = meta.add_run(run_row())
    meta.add_trial(trial_row(run_id, 2, family="random_forest", params={"max_depth": None}))
    meta.add_trial(
        trial_row(
            run_id,
            0,
            status="failed",
            fold_scores=[],
            score=None,
            fit_s=None,
            predict_s=None,
            error="ValueError: bad",
        )
    )
    first_id = meta.add_trial(trial_row(run_id, 1))
    meta.add_trial(trial_row(other, 0))
    assert isinstance(first_id, int)

    found = meta.trials(run_id)
    assert [t["number"] for t in found] == [0, 1, 2]
    failed, complete, forest = found
    assert failed["status"] == "failed"
    assert failed["score"] is None
    assert failed["error"] == "ValueError: bad"
    assert complete["fold_scores"] == [0.81, 0.83, 0.8]
    assert complete["params"] == {"num_leaves": 31, "learning_rate": 0.05}
    assert complete["fit_s"] == 1.5
    assert complete["created_at"]
    assert forest["params"] == {"max_depth": None}
    assert len(meta.trials(other)) == 1
    assert meta.trials("0" * 32) == []


def test_a_trial_for_an_unknown_run_is_refused(meta: MetadataStore) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        meta.add_trial(trial_row("0" * 32, 0))


def test_trial_numbers_are_unique_within_a_run_and_statuses_checked(
    meta: MetadataStore,
) -> None:
    run_id = meta.add_run(run_row())
    meta.add_trial(trial_row(run_id, 0))
    with pytest.raises(sa.exc.IntegrityError):
        meta.add_trial(trial_row(run_id, 0))
    with pytest.raises(sa.exc.IntegrityError):
        meta.add_trial(trial_row(run_id, 1, status="done"))
    meta.add_trial(trial_row(run_id, 1, status="pruned", score=None))
    assert [t["status"] for t in meta.trials(run_id)] == ["complete", "pruned"]
