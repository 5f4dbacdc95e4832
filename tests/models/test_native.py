"""The boosters learn the demo table's categorical columns as categories; early stopping."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.features import categorical_output_indices
from loopml.models import NativePipeline, make_pipeline
from tests.models.conftest import DEMO_CATEGORICAL, SEED, Data


def test_hist_gradient_boosting_uses_native_categories(datasets: dict[str, Data]) -> None:
    model = datasets["flights"].fit("hist_gradient_boosting")
    assert isinstance(model, NativePipeline)
    columns = categorical_output_indices(model.named_steps["preprocess"])
    assert len(columns) == len(DEMO_CATEGORICAL)
    assert model.named_steps["model"].categorical_features == columns
    assert np.flatnonzero(model.named_steps["model"].is_categorical_).tolist() == columns


def test_lightgbm_uses_native_categories(datasets: dict[str, Data]) -> None:
    model = datasets["flights"].fit("lightgbm")
    assert isinstance(model, NativePipeline)
    columns = categorical_output_indices(model.named_steps["preprocess"])
    assert len(columns) == len(DEMO_CATEGORICAL)
    dump = model.named_steps["model"].booster_.dump_model()
    # LightGBM lists the categories it saw for a categorical feature, none for a numeric one.
    infos = dump["feature_infos"]  # {"Column_3": {...}}, constant columns left out
    categorical = [int(name.split("_")[-1]) for name, info in infos.items() if info["values"]]
    assert categorical == columns
    splits = str(dump["tree_info"]).count("'decision_type': '=='")
    assert splits > 0


def test_no_categorical_columns_leaves_the_boosters_numeric(datasets: dict[str, Data]) -> None:
    assert datasets["breast_cancer"].fit("hist_gradient_boosting")[-1].categorical_features is None
    infos = datasets["breast_cancer"].fit("lightgbm")[-1].booster_.dump_model()["feature_infos"]
    assert not any(info["values"] for info in infos.values())


@pytest.mark.parametrize(
    ("family", "rounds"), [("lightgbm", "best_iteration_"), ("hist_gradient_boosting", "n_iter_")]
)
def test_early_stopping_on_a_raw_validation_part(
    family: str, rounds: str, datasets: dict[str, Data]
) -> None:
    data = datasets["flights"]
    params = {"n_estimators": 400} if family == "lightgbm" else {"max_iter": 400}
    model = make_pipeline(family, "binary", data.roles, params, seed=SEED)
    model.fit(
        data.X_train, data.y_train, X_val=data.X_test, y_val=data.y_test, early_stopping_rounds=10
    )
    assert 0 < getattr(model[-1], rounds) < 400
    assert model.predict_proba(data.X_test).shape == (len(data.X_test), 2)


def test_fit_arguments_need_the_model_prefix(datasets: dict[str, Data]) -> None:
    data = datasets["flights"]
    model = make_pipeline("lightgbm", "binary", data.roles, {"n_estimators": 5}, seed=SEED)
    with pytest.raises(TypeError, match="model__"):
        model.fit(data.X_train, data.y_train, sample_weight=None)
    weights = np.ones(len(data.y_train))
    model.fit(data.X_train, data.y_train, model__sample_weight=weights)
    assert model[-1].n_estimators_ == 5


def test_xgboost_learns_text_labels(datasets: dict[str, Data]) -> None:
    pytest.importorskip("xgboost")
    data = datasets["flights"]  # target `late`: "no" / "yes"
    model = make_pipeline("xgboost", "binary", data.roles, {"n_estimators": 30}, seed=SEED)
    model.fit(data.X_train, data.y_train, X_val=data.X_test, y_val=data.y_test)
    assert model.classes_.tolist() == ["no", "yes"] and model.labels_ == ["no", "yes"]
    predicted = model.predict(data.X_test)
    assert set(predicted) <= {"no", "yes"}
    proba = model.predict_proba(data.X_test)
    np.testing.assert_array_equal(predicted == "yes", proba[:, 1] > 0.5)
