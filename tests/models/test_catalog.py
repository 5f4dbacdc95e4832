"""Every built-in family, on real data: beats the baseline, tunes, repeats itself, pickles."""

from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error, roc_auc_score

from loopml.models import BASELINE, FAMILIES, MAX_ROUNDS, families_for, make_pipeline
from tests.models.conftest import SEED, Data

TASK_OF = {
    "breast_cancer": "binary",
    "wine": "multiclass",
    "diabetes": "regression",
    "flights": "binary",
}
CASES = [
    (family, data)
    for data, task in TASK_OF.items()
    for family in sorted(FAMILIES)
    if family != BASELINE and FAMILIES[family].supports(task)
]
# Rounds for the tuning test: what `suggest` gives is meant to be stopped early by the caller.
FEW_ROUNDS = {"n_estimators": 20, "max_iter": 20, "iterations": 20}


def score(model: Any, data: Data) -> float:
    """Higher is better: ROC-AUC (one-vs-rest for multiclass), or minus the RMSE."""
    if data.task == "regression":
        return -(mean_squared_error(data.y_test, model.predict(data.X_test)) ** 0.5)
    proba = model.predict_proba(data.X_test)
    if data.task == "binary":
        return roc_auc_score(data.y_test, proba[:, 1], labels=model.classes_)
    return roc_auc_score(data.y_test, proba, multi_class="ovr", labels=model.classes_)


def predictions(model: Any, data: Data) -> np.ndarray:
    if data.task == "regression":
        return model.predict(data.X_test)
    return model.predict_proba(data.X_test)


@pytest.mark.parametrize(("family", "data_name"), CASES)
def test_defaults_beat_the_baseline(family: str, data_name: str, datasets: dict[str, Data]) -> None:
    data = datasets[data_name]
    baseline = score(data.fit(BASELINE), data)
    model = score(data.fit(family), data)
    margin = 0.05 if data.task != "regression" else 0.05 * -baseline
    assert model > baseline + margin, f"{family} {model:.4f} vs baseline {baseline:.4f}"


@pytest.mark.parametrize(("family", "data_name"), CASES)
def test_same_seed_same_predictions(family: str, data_name: str, datasets: dict[str, Data]) -> None:
    data = datasets[data_name]
    again = make_pipeline(family, data.task, data.roles, seed=SEED, n_jobs=1)
    again.fit(data.X_train, data.y_train)
    np.testing.assert_array_equal(predictions(again, data), predictions(data.fit(family), data))


@pytest.mark.parametrize("family", [name for name, data in CASES if data == "flights"])
def test_fitted_pipeline_pickles(family: str, datasets: dict[str, Data]) -> None:
    data = datasets["flights"]
    model = data.fit(family)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(predictions(restored, data), predictions(model, data))
    np.testing.assert_array_equal(restored.predict(data.X_test), model.predict(data.X_test))


@pytest.mark.parametrize(("family", "data_name"), CASES)
def test_optuna_trials_build_and_fit(
    family: str, data_name: str, datasets: dict[str, Data]
) -> None:
    import optuna

    data = datasets[data_name]
    drawn: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        params = FAMILIES[family].suggest(trial, data.task)
        drawn.append(params)
        params.update({k: v for k, v in FEW_ROUNDS.items() if k in params})
        model = make_pipeline(family, data.task, data.roles, params, seed=SEED)
        return score(model.fit(data.X_train, data.y_train), data)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=2, catch=())
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert np.isfinite(study.best_value)
    assert drawn[0] and drawn[0] != FAMILIES[family].default_params(data.task)
    assert set(study.best_params) <= set(drawn[0])


def test_baseline_is_never_tuned() -> None:
    import optuna

    baseline = FAMILIES[BASELINE]
    assert not baseline.tunable and baseline.cost == 0
    trial = optuna.trial.FixedTrial({})
    assert baseline.suggest(trial, "binary") == {"strategy": "prior"}
    assert baseline.suggest(trial, "regression") == {"strategy": "mean"}
    assert BASELINE not in [f.name for f in families_for("binary")]


def test_baseline_median_for_regression(datasets: dict[str, Data]) -> None:
    data = datasets["diabetes"]
    model = make_pipeline(BASELINE, "regression", data.roles, {"strategy": "median"}, seed=0)
    model.fit(data.X_train, data.y_train)
    assert np.all(model.predict(data.X_test) == np.median(data.y_train))


def test_booster_suggestions_leave_early_stopping_to_the_caller() -> None:
    import optuna

    trial = optuna.trial.FixedTrial(
        {
            "learning_rate": 0.1,
            "num_leaves": 31,
            "min_child_samples": 20,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_alpha": 1e-3,
            "reg_lambda": 1e-3,
        }
    )
    assert FAMILIES["lightgbm"].suggest(trial, "binary")["n_estimators"] == MAX_ROUNDS


def test_importing_the_catalog_stays_light() -> None:
    code = (
        "import sys, loopml.models; "
        "heavy = [m for m in ('optuna', 'lightgbm', 'xgboost', 'catboost') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
