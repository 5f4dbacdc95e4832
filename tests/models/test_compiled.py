"""The compiled model computes exactly what the scikit-learn pipelines compute, row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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
    # All the rows (a batch) and a few (a request: forests are walked by NumPy there).
    for some in (rows, rows.iloc[-5:]):
        if data.task == "regression":
            np.testing.assert_allclose(compiled.predict(some), pipeline.predict(some), rtol=1e-12)
        else:
            np.testing.assert_allclose(
                compiled.predict_proba(some), pipeline.predict_proba(some), rtol=1e-12, atol=1e-15
            )
    if data.task != "regression":
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


@pytest.fixture(scope="module")
def gappy(datasets: dict[str, Data]) -> Data:
    """The flights data with a true/false column, and missing values in training, so that
    a missing value and an unseen one are encoded apart."""
    data = datasets["flights"]

    def with_gaps(X: pd.DataFrame) -> pd.DataFrame:
        X = X.assign(early=np.where(X["sched_dep_time"] < 900, "Yes", "no"))
        X = X.astype({"dest": object, "tailnum": object, "early": object})
        X.loc[X.index[::20], ["dest", "tailnum"]] = None
        X.loc[X.index[::15], "early"] = None
        return X

    roles = data.roles | {"early": "boolean"}
    return Data(
        "gappy",
        "binary",
        roles,
        with_gaps(data.X_train),
        with_gaps(data.X_test),
        data.y_train,
        data.y_test,
    )


def _arrow_tables(data: Data) -> dict[str, pa.Table]:
    """Test rows with unseen, missing and odd values, as Arrow in several typings."""
    rows = data.X_test.copy()
    rows.loc[rows.index[0], "carrier"] = "never-seen"
    rows.loc[rows.index[1], "tailnum"] = None
    rows.loc[rows.index[2], ["tailnum", "dest"]] = "N-never-seen"
    rows.loc[rows.index[3], "temp"] = np.nan
    rows.loc[rows.index[4], ["carrier", "origin", "dest", "early"]] = None
    rows.loc[rows.index[5], "flight_date"] = None
    rows.loc[rows.index[6], "flight_date"] = "2013-07-04T18:30:00"
    rows.loc[rows.index[7], "early"] = " TRUE "
    text = pa.Table.from_pandas(rows, preserve_index=False)
    wide = pa.schema(
        [f.with_type(pa.large_string()) if f.type == pa.string() else f for f in text.schema]
    )
    dictionary = text.cast(wide)
    dictionary = dictionary.set_column(
        dictionary.schema.get_field_index("carrier"),
        "carrier",
        pc.dictionary_encode(dictionary["carrier"]),
    )
    # A bad date: the per-distinct-value date parsing must fall back to reading every row.
    bad_date = rows.astype({"flight_date": object})
    bad_date.loc[bad_date.index[8], "flight_date"] = "not a date"
    flags = rows["early"].map({"Yes": True, "no": False, " TRUE ": True})
    typed = rows.assign(
        flight_date=pd.to_datetime(rows["flight_date"], format="ISO8601"),
        dest=np.arange(len(rows)) % 7,  # numbers in a column of text in training
        early=flags.astype(object).where(flags.notna(), None),
    )
    dated = pa.Table.from_pandas(typed, preserve_index=False)
    assert dated.schema.field("early").type == pa.bool_()
    position = dated.schema.get_field_index("flight_date")
    as_dates = dated.set_column(position, "flight_date", dated["flight_date"].cast(pa.date32()))
    return {
        "text": text,
        "large and dictionary text": dictionary,
        "a bad date": pa.Table.from_pandas(bad_date, preserve_index=False),
        "timestamps, numbers, true/false": dated,
        "dates": as_dates,
    }


@pytest.mark.parametrize(
    "family", [f for f in FAMILIES if f != "baseline" and FAMILIES[f].supports("binary")]
)
def test_compiled_pipeline_reads_arrow_as_the_pipeline_reads_frames(
    family: str, gappy: Data
) -> None:
    pipeline = gappy.fit(family)
    compiled = CompiledPipeline(pipeline)
    keep = np.arange(len(gappy.X_test)) % 3 != 0
    for name, table in _arrow_tables(gappy).items():
        frame = table.to_pandas()
        expected = pipeline[0].transform(frame)
        columns = Columns.from_arrow(table)
        assert columns.distinct("tailnum") is not None  # text is held in Arrow
        assert np.array_equal(compiled.transform(columns), expected, equal_nan=True), name
        # take() keeps each dictionary whole, values of rows left out included
        kept = columns.take(keep)
        assert np.array_equal(compiled.transform(kept), expected[keep], equal_nan=True), name
        np.testing.assert_allclose(
            compiled.predict_proba(columns), pipeline.predict_proba(frame), rtol=1e-12, atol=1e-15
        )
