"""The training stage through the Python API: tasks, decisions, bad input, determinism."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

import loopml
from loopml.errors import SpecError, UsageError
from loopml.models import FAMILIES, Family, register_family
from loopml.progress import NoProgress
from loopml.runs.prepare import prepare_training
from tests.commands import loopml as run_loopml
from tests.runs.conftest import write_project
from tests.search.slow import SlowClassifier


def _frame(loader, target: str = "y") -> pd.DataFrame:
    X, y = loader(return_X_y=True, as_frame=True)
    return X.assign(**{target: y})


def _runs(root: Path) -> list[tuple]:
    db = root / ".loopml" / "metadata.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT status, error FROM runs").fetchall()


def test_regression_reports_residuals_and_beats_the_mean(tmp_path: Path) -> None:
    spec = write_project(tmp_path, _frame(load_diabetes), "y", "regression")
    project = loopml.Project(spec)
    result = project.train(time_budget=60, families=["linear", "lightgbm"], max_trials=4, jobs=1)
    metrics = result.test_metrics
    assert {"rmse", "mae", "mape", "r2", "residuals"} <= set(metrics)
    assert metrics["rmse"] < result.baseline_test_metrics["rmse"]
    assert metrics["r2"] > 0.2
    assert isinstance(result.leaderboard, pd.DataFrame)
    assert (
        result.leaderboard.iloc[0]["cv_score"]
        <= result.leaderboard.query("name == 'baseline'").iloc[0]["cv_score"]
    )
    frame = pd.read_csv(tmp_path / "data.csv").drop(columns="y")
    predicted = result.model.predict(frame)
    assert predicted.shape == (len(frame),) and np.isfinite(predicted).all()
    assert result.chosen["threshold"] is None and result.chosen["calibration"] is None
    project.close()


def test_multiclass_has_per_class_metrics(tmp_path: Path) -> None:
    frame = _frame(load_wine)
    frame["y"] = frame["y"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    spec = write_project(tmp_path, frame, "y", "multiclass")
    project = loopml.Project(spec)
    result = project.train(
        time_budget=60, families=["logistic", "random_forest"], max_trials=3, jobs=1
    )
    assert set(result.test_metrics["per_class"]) == {"barbera", "barolo", "grignolino"}
    assert result.test_metrics["log_loss"] < result.baseline_test_metrics["log_loss"]
    proba = result.model.predict_proba(frame.drop(columns="y"))
    assert proba.shape == (len(frame), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    project.close()


def test_business_value_sets_the_threshold(tmp_path: Path) -> None:
    frame = _frame(load_breast_cancer)
    value = {"tp": 1.0, "fp": -2.0, "tn": 0.0, "fn": -6.0}
    spec = write_project(tmp_path, frame, "y", "binary", train={"value": value})
    project = loopml.Project(spec)
    result = project.train(time_budget=60, families=["logistic"], max_trials=2, jobs=1)
    chosen, business = result.chosen, result.evaluation["business"]
    assert chosen["threshold_reason"].startswith("highest expected value")
    # Missing a positive costs three times a false alarm: the threshold sits below 0.5.
    assert chosen["threshold"] < 0.5
    assert business["threshold"] == chosen["threshold"]
    assert business["expected_value"] > business["baseline_expected_value"]
    project.close()


def test_same_seed_gives_the_same_model_and_metrics(tmp_path: Path) -> None:
    frame = _frame(load_breast_cancer)
    results = []
    for name in ("a", "b"):
        spec = write_project(tmp_path / name, frame, "y", "binary", seed=3)
        project = loopml.Project(spec)
        results.append(
            project.train(time_budget=60, families=["logistic", "lightgbm"], max_trials=4, jobs=1)
        )
        project.close()
    a, b = results
    assert a.chosen["name"] == b.chosen["name"] and a.chosen["params"] == b.chosen["params"]
    assert a.test_metrics == b.test_metrics
    assert a.model_sha256 == b.model_sha256  # same model, same bytes, same address
    pd.testing.assert_series_equal(a.leaderboard["cv_score"], b.leaderboard["cv_score"])


def test_refit_all_keeps_test_metrics_and_deploys_the_refit(tmp_path: Path) -> None:
    spec = write_project(tmp_path, _frame(load_breast_cancer), "y", "binary")
    project = loopml.Project(spec)
    result = project.train(
        time_budget=60, families=["logistic"], max_trials=1, refit_all=True, jobs=1
    )
    row = project.run(result.run_id)
    chosen = row["chosen"]
    assert chosen["model_all_rows"]["artifact_sha256"] != chosen["model"]["artifact_sha256"]
    deployed = project.load_model(result.run_id)
    assert deployed.members[0] is not result.model.members[0]
    # The test metrics are those measured before the refit on every row.
    assert row["test_metrics"]["metrics"]["roc_auc"] == result.test_metrics["roc_auc"]
    project.close()


def test_a_crashing_trial_is_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    broken = {
        "name": "broken_svm",
        "estimator": "sklearn.svm.SVC",
        "tasks": ["binary"],
        "params": {"kernel": "no-such-kernel", "probability": True},
    }
    spec = write_project(
        tmp_path, _frame(load_breast_cancer), "y", "binary", train={"custom_families": [broken]}
    )
    project = loopml.Project(spec)
    result = project.train(
        time_budget=60, families=["broken_svm", "logistic"], max_trials=2, jobs=1
    )
    trials = {t["family"]: t for t in project.run(result.run_id)["trials"]}
    assert trials["broken_svm"]["status"] == "failed"
    assert "kernel" in trials["broken_svm"]["error"]
    assert result.chosen["family"] == "logistic"
    project.close()


def test_custom_family_is_searched_and_scored(tmp_path: Path) -> None:
    svm = {
        "name": "svm",
        "estimator": "sklearn.svm.SVC",
        "tasks": ["binary"],
        "scale": True,
        "params": {"probability": True},
        "space": {"C": {"low": 0.1, "high": 10, "log": True}},
    }
    spec = write_project(
        tmp_path, _frame(load_breast_cancer), "y", "binary", train={"custom_families": [svm]}
    )
    proc = run_loopml("train", "--families", "svm", "--max-trials", "2", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "svm" in proc.stdout
    out = run_loopml("score", "latest", "data.csv", "out.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert spec.exists()


def test_single_class_target_is_refused_before_a_run(tmp_path: Path) -> None:
    frame = _frame(load_breast_cancer).assign(y="yes")
    write_project(tmp_path, frame, "y", "binary")
    proc = run_loopml("train", cwd=tmp_path)
    assert proc.returncode == 2
    assert "single class" in proc.stderr and "Traceback" not in proc.stderr
    assert _runs(tmp_path) == []


def test_unknown_family_is_refused_before_a_run(tmp_path: Path) -> None:
    write_project(tmp_path, _frame(load_breast_cancer), "y", "binary")
    proc = run_loopml("train", "--families", "logistic,nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown model family `nope`" in proc.stderr
    assert _runs(tmp_path) == []


def test_no_usable_feature_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [f"row{i}" for i in range(300)], "y": [i % 2 for i in range(300)]})
    frame["empty"] = np.nan
    write_project(tmp_path, frame, "y", "binary", cleaning={"drop_constant_columns": False})
    proc = run_loopml("train", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert ("no column can be used" in proc.stderr) or (
        "every feature column is missing" in proc.stderr
    )
    assert _runs(tmp_path) == []


def test_a_rare_class_lowers_the_folds(tmp_path: Path) -> None:
    frame = _frame(load_wine)
    # Class 2 keeps 5 rows: 4 in training after the split, fewer than five folds need.
    keep = frame.index[frame["y"] != 2].tolist() + frame.index[frame["y"] == 2][:5].tolist()
    spec = write_project(tmp_path, frame.loc[keep], "y", "multiclass")
    project = loopml.Project(spec)
    result = project.train(time_budget=60, families=["logistic"], max_trials=1, jobs=1)
    assert any("folds lowered" in note for note in result.notes)
    project.close()


def test_a_budget_too_small_fails_clearly(tmp_path: Path) -> None:
    write_project(tmp_path, _frame(load_breast_cancer), "y", "binary")
    proc = run_loopml("train", "--time-budget", "0.01", cwd=tmp_path)
    assert proc.returncode != 0
    assert "too small" in proc.stderr and "Traceback" not in proc.stderr
    assert [status for status, _ in _runs(tmp_path)] == ["failed"]


def test_spec_train_keys_are_validated(tmp_path: Path) -> None:
    write_project(tmp_path, _frame(load_diabetes), "y", "regression", train={"value": {"tp": 1}})
    with pytest.raises(SpecError, match="binary tasks only"):
        loopml.Project(tmp_path / "loopml.yaml")
    write_project(tmp_path, _frame(load_diabetes), "y", "regression", train={"folds": 1})
    with pytest.raises(SpecError, match=r"train\.folds"):
        loopml.Project(tmp_path / "loopml.yaml")


def test_wrong_task_family_is_a_usage_error(tmp_path: Path) -> None:
    spec = write_project(tmp_path, _frame(load_diabetes), "y", "regression")
    project = loopml.Project(spec)
    with pytest.raises(UsageError, match="cannot learn a regression task"):
        project.train(families=["logistic"])
    with pytest.raises(UsageError, match="no model family named"):
        project.train(families=[""])
    project.close()


def _build_prior(task: str, params: dict, seed: int, n_jobs: int) -> SlowClassifier:
    return SlowClassifier(**params)


def test_family_registered_from_python_trains_and_loads(tmp_path: Path) -> None:
    family = Family("py_prior", ("binary",), "ordinal", _build_prior, lambda task: {"seconds": 0.0})
    register_family(family, replace=True)
    try:
        spec = write_project(tmp_path, _frame(load_breast_cancer), "y", "binary")
        project = loopml.Project(spec)
        result = project.train(time_budget=60, families=["py_prior"], max_trials=1, jobs=1)
        assert result.chosen["family"] == "py_prior"
        # Its type is not one loopml writes, but the user registered it in this process.
        loaded = project.load_model(result.run_id)
        assert type(loaded.members[0].steps[-1][1]) is SlowClassifier
        project.close()
    finally:
        FAMILIES.pop("py_prior", None)


@pytest.mark.parametrize(
    ("sections", "kind"),
    [
        ({"train": {"holdout_rows": 1000}}, "holdout"),
        ({"split": {"valid_size": 0.2}}, "given_valid"),
    ],
)
def test_large_data_and_a_validation_part_validate_on_one_fold(
    tmp_path: Path, sections: dict, kind: str
) -> None:
    frame = _frame(load_diabetes)
    frame = pd.concat([frame] * 4, ignore_index=True)  # 1,768 rows: above holdout_rows
    frame["bmi"] += np.arange(len(frame)) * 1e-6  # no duplicate rows for cleaning to drop
    spec = write_project(tmp_path, frame, "y", "regression", **sections)
    project = loopml.Project(spec)
    result = project.train(time_budget=60, families=["linear", "lightgbm"], max_trials=3, jobs=1)
    trials = project.run(result.run_id)["trials"]
    assert all(len(t["fold_scores"]) == 1 for t in trials if t["status"] == "complete")
    assert result.test_metrics["rmse"] < result.baseline_test_metrics["rmse"]
    prepared = prepare_training(project.spec, project.root, project.store, 1, NoProgress())
    assert prepared.data.folds.kind == kind
    project.close()


def test_the_final_reserve_holds_the_permutation_importance() -> None:
    from loopml.evaluate.importance import N_REPEATS
    from loopml.runs.choose import final_reserve
    from loopml.search.trials import Candidate
    from tests.search.conftest import trial_data

    data = trial_data(_frame(load_breast_cancer), "y", "binary", "roc_auc")
    valid_rows = np.mean([len(v) for _, v in data.folds])
    best = Candidate(1, "knn", {}, fold_scores=[0.9] * 3, fit_s=0.3, predict_s=3 * 0.2)
    per_row = 0.2 / valid_rows
    n_test, columns = 143, data.X.shape[1]
    importance = per_row * n_test * (1 + N_REPEATS * columns)  # 91 predictions of the test rows
    assert final_reserve(data, [best], n_test, False, 1.0) > importance + 3 * per_row * n_test


def test_permutation_importance_fits_the_budget_or_a_note_says_why(tmp_path: Path) -> None:
    import time

    from loopml.runs.final import evaluate_model
    from loopml.search.budget import Budget

    spec = write_project(tmp_path, _frame(load_breast_cancer), "y", "binary")
    project = loopml.Project(spec)
    result = project.train(time_budget=30, families=["logistic"], max_trials=1, jobs=1)
    assert result.evaluation["importance"] and result.evaluation["importance_note"] is None
    prepared = prepare_training(project.spec, tmp_path, project.store, 1, NoProgress())
    test = prepared.view.unseal_test("test: importance out of time")
    spent = Budget(10.0, started=time.perf_counter() - 9.9)
    evaluation, _ = evaluate_model(project.spec, prepared.data, result.model, test, 0.5, spent)
    assert evaluation["importance"] is None
    note = evaluation["importance_note"]
    assert "no permutation importance" in note and "91 predictions" in note
    assert "--time-budget" in note
    project.close()
