"""SHAP contributions add up to the model's output, per original column, for every kind of model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.explain.contributions import Explainer
from loopml.explain.members import SamplingValues, explainer_kind, member_explainer
from loopml.explain.summary import global_explanation
from loopml.models import make_pipeline
from loopml.models.compiled import compile_model
from loopml.models.trained import Calibration, TrainedModel
from tests.models.conftest import SEED, Data

SMALL = {
    "lightgbm": {"n_estimators": 30},
    "random_forest": {"n_estimators": 8},
    "extra_trees": {"n_estimators": 8},
    "hist_gradient_boosting": {"max_iter": 20},
}
ROWS = 12


def _model(data: Data, families: list[str], weights: list[float], **kwargs: object) -> TrainedModel:
    members = [data.fit(f, **SMALL.get(f, {})) for f in families]
    classes = None if data.task == "regression" else sorted(data.y_train.unique().tolist())
    return TrainedModel(
        members, weights, task=data.task, columns=list(data.X_train.columns), classes=classes,
        **kwargs,
    )  # fmt: skip


def _expected(model: TrainedModel, rows: pd.DataFrame) -> np.ndarray:
    if model.classes is None:
        return model.predict(rows)[:, None]
    proba = model.predict_proba(rows)
    return proba[:, 1:] if model.task == "binary" else proba


def _rows(data: Data) -> pd.DataFrame:
    rows = data.X_test.iloc[:ROWS].copy()
    if data.name == "flights":  # a missing value, an unseen category, a missing date
        rows = rows.astype({"carrier": object, "flight_date": object})
        rows.iloc[0, rows.columns.get_loc("temp")] = np.nan
        rows.iloc[1, rows.columns.get_loc("carrier")] = "never-seen"
        rows.iloc[2, rows.columns.get_loc("flight_date")] = None
    return rows


@pytest.mark.parametrize(
    ("name", "families"),
    [
        ("flights", ["lightgbm"]),
        ("flights", ["logistic"]),
        ("flights", ["random_forest"]),
        ("flights", ["decision_tree"]),
        ("wine", ["lightgbm"]),
        ("wine", ["logistic"]),
        ("wine", ["extra_trees"]),
        ("diabetes", ["lightgbm"]),
        ("diabetes", ["linear"]),
        ("diabetes", ["hist_gradient_boosting"]),
        ("diabetes", ["knn"]),
    ],
)
def test_base_plus_contributions_is_the_output(
    name: str, families: list[str], datasets: dict[str, Data]
) -> None:
    data = datasets[name]
    model = _model(data, families, [1.0])
    rows = _rows(data)
    background = data.X_train.iloc[:40]
    for candidate in (model, compile_model(model)):
        explained = Explainer(candidate, background, seed=SEED).explain(rows)
        assert explained.values.shape[:2] == (len(rows), len(data.X_train.columns))
        np.testing.assert_allclose(explained.output, _expected(model, rows), atol=1e-9)
        assert np.abs(explained.values).sum() > 0  # not additive by being all zero


@pytest.mark.parametrize("name", ["flights", "wine", "diabetes"])
def test_a_calibrated_ensemble_adds_up_in_its_output_space(
    name: str, datasets: dict[str, Data]
) -> None:
    data = datasets[name]
    linear = "linear" if data.task == "regression" else "logistic"
    calibration = {
        "binary": Calibration("sigmoid", {"a": 1.4, "b": -0.3}),
        "multiclass": Calibration("temperature", {"t": 1.8}),
    }.get(data.task)
    model = _model(
        data,
        ["lightgbm", linear, "decision_tree"],
        [0.5, 0.3, 0.2],
        calibration=calibration,
    )
    rows = _rows(data)
    explained = Explainer(compile_model(model), data.X_train.iloc[:40], seed=SEED).explain(rows)
    np.testing.assert_allclose(explained.output, _expected(model, rows), atol=1e-9)
    assert len(explained.methods) == 3


def test_lightgbm_contributions_are_shaps_tree_values_carried_to_probability(
    datasets: dict[str, Data],
) -> None:
    import shap

    data = datasets["breast_cancer"]
    pipeline = data.fit("lightgbm", **SMALL["lightgbm"])
    rows = data.X_test.iloc[:ROWS]
    ours = member_explainer(pipeline, list(rows.columns), None, classifier=True).explain(rows, None)
    theirs = shap.TreeExplainer(pipeline[-1]).shap_values(pipeline[0].transform(rows))
    theirs = np.asarray(theirs)
    theirs = theirs[:, :, -1] if theirs.ndim == 3 else theirs
    np.testing.assert_allclose(ours.values[:, :, 0], theirs, rtol=1e-6, atol=1e-9)
    # In probability, each contribution keeps the sign and ranking of its log-odds one.
    model = _model(data, ["lightgbm"], [1.0])
    proba = Explainer(model).explain(rows).values[:, :, 0]
    big = np.abs(theirs) > 1e-9
    assert (np.sign(proba[big]) == np.sign(theirs[big])).all()
    for i in range(len(rows)):
        assert np.argmax(np.abs(proba[i])) == np.argmax(np.abs(theirs[i]))


def _planted(n: int = 400) -> tuple[pd.DataFrame, pd.Series, dict[str, str]]:
    rng = np.random.default_rng(SEED)
    colour = rng.choice(["red", "green", "blue", "grey"], n)
    X = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "colour": colour,
            "noise": rng.normal(size=n),
            "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
        }
    )
    X.loc[X.index[::17], "size"] = np.nan  # a missing indicator joins `size`
    effect = pd.Series(colour).map({"red": 3.0, "green": -2.0, "blue": 0.5, "grey": 0.0})
    y = 2.0 * X["size"].fillna(0) + effect + rng.normal(scale=0.1, size=n)
    roles = {"size": "numeric", "colour": "categorical", "noise": "numeric", "when": "datetime"}
    return X, pd.Series(y, name="y"), roles


def test_one_hot_groups_are_summed_back_to_their_column() -> None:
    X, y, roles = _planted()
    pipeline = make_pipeline("linear", "regression", roles, seed=SEED).fit(X, y)
    names = pipeline[0].get_feature_names_out()
    assert any("=" in n for n in names) and any(n.startswith("missingindicator_") for n in names)
    model = TrainedModel([pipeline], [1.0], task="regression", columns=list(X.columns))
    background, rows = X.iloc[:30], X.iloc[300:310]
    linear = Explainer(model, background).explain(rows)
    assert linear.columns == list(X.columns)
    # A sampling explainer never sees the one-hot columns: it switches whole input columns.
    # For an additive model, with the same background rows, it must give the same numbers.
    assert explainer_kind(pipeline) == "linear"
    by_columns = SamplingValues(pipeline, list(X.columns), background, classifier=False)
    direct = by_columns.explain(rows, None)
    np.testing.assert_allclose(linear.values[:, :, 0], direct.values[:, :, 0], atol=1e-9)
    np.testing.assert_allclose(linear.base, direct.base, atol=1e-9)


def test_planted_structure_ranks_the_columns() -> None:
    X, y, roles = _planted()
    pipeline = make_pipeline("lightgbm", "regression", roles, {"n_estimators": 60}, seed=SEED)
    pipeline.fit(X, y)
    model = TrainedModel([pipeline], [1.0], task="regression", columns=list(X.columns))
    result = global_explanation(Explainer(model), X.iloc[:200], seed=SEED)
    order = [entry["feature"] for entry in result.importance]
    assert set(order[:2]) == {"size", "colour"}
    noise = {e["feature"]: e["mean_abs"] for e in result.importance}
    assert noise["noise"] < 0.2 * noise["size"] and noise["when"] < 0.2 * noise["size"]
    assert result.values.shape == (200, 4) and result.rows == 200


def test_a_time_budget_explains_fewer_rows(datasets: dict[str, Data]) -> None:
    data = datasets["diabetes"]
    model = _model(data, ["knn"], [1.0])
    explainer = Explainer(model, data.X_train.iloc[:40], seed=SEED)
    result = global_explanation(explainer, data.X_test, seconds=0.5, seed=SEED)
    assert 0 < result.rows < len(data.X_test)
    assert "time budget" in result.notes[0] and "ms a row" in result.notes[0]
