"""The compiled model computes exactly what the scikit-learn pipelines compute, row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.features.columns import Columns
from loopml.models import FAMILIES, make_pipeline
from loopml.models.compiled import CompiledPipeline, compile_model
from loopml.models.trained import Calibration, TrainedModel
from tests.models.conftest import SEED, Data

CASES = [
    (data, family)
    for data in ("flights", "wine", "diabetes")
    for family in FAMILIES
    if family != "baseline"
]


def _hard_rows(data: Data) -> pd.DataFrame:
    """Test rows plus rows with unseen categories, missing values and odd value types."""
    rows = data.X_test.copy()
    if data.name != "flights":
        extra = rows.iloc[:3].copy()
        extra.iloc[0, 0] = np.nan
        return pd.concat([rows, extra], ignore_index=True)
    extra = rows.iloc[:7].copy().astype(object)
    extra.loc[extra.index[0], "carrier"] = "never-seen"
    extra.loc[extra.index[1], "tailnum"] = np.nan  # tailnum was missing in some training rows
    extra.loc[extra.index[6], "tailnum"] = "N-never-seen"  # so unseen and missing differ
    extra.loc[extra.index[2], "temp"] = np.nan
    extra.loc[extra.index[3], "flight_date"] = None
    extra.loc[extra.index[4], "dest"] = 42  # a number where text was seen
    extra.loc[extra.index[5], "flight_date"] = "2013-07-04T18:30:00"
    return pd.concat([rows.astype(object), extra], ignore_index=True)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        c
        for c in CASES
        if FAMILIES[c[1]].supports(
            {"flights": "binary", "wine": "multiclass", "diabetes": "regression"}[c[0]]
        )
    ],
)
def test_compiled_pipeline_equals_the_pipeline(
    name: str, family: str, datasets: dict[str, Data]
) -> None:
    data = datasets[name]
    pipeline = data.fit(family)
    rows = _hard_rows(data)
    compiled = CompiledPipeline(pipeline)
    assert compiled.blocks is not None
    expected = pipeline[0].transform(rows)
    # Both from a DataFrame (batch) and from Columns of JSON-like values (the server).
    assert np.array_equal(compiled.transform(rows), expected, equal_nan=True)
    one = Columns({c: np.array([rows[c].iloc[-1]], dtype=object) for c in rows.columns})
    assert np.array_equal(compiled.transform(one), expected[-1:], equal_nan=True)
    if data.task == "regression":
        np.testing.assert_allclose(compiled.predict(rows), pipeline.predict(rows), rtol=1e-12)
    else:
        np.testing.assert_allclose(
            compiled.predict_proba(rows), pipeline.predict_proba(rows), rtol=1e-12, atol=1e-15
        )
        assert list(compiled.classes_) == list(pipeline.classes_)


def test_booleans_and_categories_missing_in_training_compile(datasets: dict[str, Data]) -> None:
    data = datasets["flights"]
    X = data.X_train.assign(early=np.where(data.X_train["sched_dep_time"] < 900, "Yes", "no"))
    X = X.astype({"dest": object, "tailnum": object})
    X.loc[X.index[::20], ["dest", "tailnum"]] = np.nan  # so missing and unseen differ
    roles = data.roles | {"early": "boolean"}
    for family in ("logistic", "lightgbm", "random_forest", "knn"):
        pipeline = make_pipeline(family, "binary", roles, seed=SEED).fit(X, data.y_train)
        rows = X.iloc[:50].astype(object)
        rows.loc[rows.index[0], "early"] = True  # a JSON boolean
        rows.loc[rows.index[1], "early"] = None
        rows.loc[rows.index[2], ["carrier", "dest", "tailnum"]] = "never-seen"
        rows.loc[rows.index[3], ["carrier", "dest", "tailnum"]] = None
        compiled = CompiledPipeline(pipeline)
        expected = pipeline[0].transform(rows)
        assert np.array_equal(compiled.transform(rows), expected, equal_nan=True), family
        for i in range(4):  # one row at a time: the small-request path
            one = Columns({c: rows[c].to_numpy()[i : i + 1] for c in rows.columns})
            assert np.array_equal(compiled.transform(one), expected[i : i + 1], equal_nan=True)


def test_compiled_model_keeps_weights_calibration_and_threshold(
    datasets: dict[str, Data],
) -> None:
    data = datasets["flights"]
    members = [data.fit("lightgbm"), data.fit("logistic")]
    classes = list(members[0].classes_)
    model = TrainedModel(
        members,
        [0.7, 0.3],
        task="binary",
        columns=list(data.X_train.columns),
        classes=classes,
        calibration=Calibration("sigmoid", {"a": 1.2, "b": -0.1}),
        threshold=0.3,
    )
    compiled = compile_model(model)
    rows = _hard_rows(data)
    np.testing.assert_allclose(compiled.predict_proba(rows), model.predict_proba(rows), rtol=1e-12)
    assert compiled.predict(rows).tolist() == model.predict(rows).tolist()
    assert compiled.prediction_frame(rows).equals(model.prediction_frame(rows))


def test_a_pipeline_it_does_not_know_is_scored_as_it_is(datasets: dict[str, Data]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline as sk_pipeline
    from sklearn.preprocessing import FunctionTransformer

    data = datasets["wine"]
    pipeline = sk_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=500))
    pipeline.fit(data.X_train, data.y_train)
    compiled = CompiledPipeline(pipeline)
    assert compiled.blocks is None
    expected = pipeline.predict_proba(data.X_test)
    np.testing.assert_array_equal(compiled.predict_proba(Columns.from_frame(data.X_test)), expected)
