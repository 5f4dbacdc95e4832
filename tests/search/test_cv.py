"""Validation folds and out-of-fold predictions on real data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.metrics import r2_score, roc_auc_score

from loopml.errors import DataError
from loopml.models import make_pipeline
from loopml.search import cross_val_predict_oof, join_valid, make_folds
from loopml.spec import ProjectSpec
from tests.models.conftest import DEMO_CATEGORICAL, DEMO_NUMERIC

SEED = 7
ROLES = {
    "flight_date": "datetime",
    **dict.fromkeys(DEMO_NUMERIC, "numeric"),
    **dict.fromkeys(DEMO_CATEGORICAL, "categorical"),
}


def _spec(target: str = "late", task: str = "binary", **split: Any) -> ProjectSpec:
    return ProjectSpec.model_validate(
        {"name": "t", "data": {"path": "x.csv"}, "target": target, "task": task, "split": split}
    )


@pytest.fixture
def flights(demo_frame: pd.DataFrame) -> pd.DataFrame:
    return demo_frame[demo_frame["late"].notna()].reset_index(drop=True)


@pytest.fixture
def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame


def _check_partition(folds: Any, n: int) -> None:
    seen = np.concatenate([valid for _, valid in folds])
    for train, valid in folds:
        assert not set(train) & set(valid)
    assert sorted(seen.tolist()) == list(range(n))


def test_stratified_folds_keep_class_shares(flights: pd.DataFrame) -> None:
    folds = make_folds(flights, _spec(), strategy="stratified", seed=SEED)
    assert folds.kind == "stratified_kfold" and folds.n_splits == len(folds) == 5
    _check_partition(folds, len(flights))
    share = (flights["late"] == "yes").mean()
    for _, valid in folds:
        assert abs((flights["late"].iloc[valid] == "yes").mean() - share) < 0.01


def test_random_folds_for_regression() -> None:
    frame = load_diabetes(as_frame=True).frame
    folds = make_folds(frame, _spec("target", "regression"), strategy="random", seed=SEED)
    assert folds.kind == "kfold" and len(folds) == 5
    _check_partition(folds, len(frame))


def test_group_folds_never_share_a_group(flights: pd.DataFrame) -> None:
    spec = _spec(strategy="group", group_column="carrier")
    folds = make_folds(flights, spec, strategy="group", seed=SEED)
    assert folds.kind == "group_kfold"
    _check_partition(folds, len(flights))
    groups = flights["carrier"]
    for train, valid in folds:
        assert not set(groups.iloc[train]) & set(groups.iloc[valid])


def test_group_folds_reduce_and_refuse(flights: pd.DataFrame) -> None:
    spec = _spec(strategy="group", group_column="origin")  # three airports
    folds = make_folds(flights, spec, strategy="group", seed=SEED)
    assert folds.n_splits == 3 and "lowered" in folds.note
    one = flights[flights["origin"] == "EWR"]
    with pytest.raises(DataError, match="origin"):
        make_folds(one, spec, strategy="group", seed=SEED)


def test_time_folds_move_forward(flights: pd.DataFrame) -> None:
    spec = _spec(strategy="time", time_column="flight_date")
    folds = make_folds(flights, spec, strategy="time", seed=SEED)
    assert folds.kind == "time_series" and len(folds) == 5
    times = pd.to_datetime(flights["flight_date"])
    last_start = None
    for train, valid in folds:
        assert not set(train) & set(valid)
        assert times.iloc[valid].min() > times.iloc[train].max()  # equal days never straddle
        start = times.iloc[valid].min()
        assert last_start is None or start > last_start
        last_start = start


def test_holdout_above_holdout_rows(flights: pd.DataFrame) -> None:
    for strategy, extra in (
        ("stratified", {}),
        ("random", {}),
        ("time", {"time_column": "flight_date"}),
    ):
        spec = _spec(strategy=strategy, **extra)
        folds = make_folds(flights, spec, strategy=strategy, seed=SEED, holdout_rows=1000)
        assert folds.kind == "holdout" and len(folds) == 1
        train, valid = folds.folds[0]
        assert not set(train) & set(valid) and len(train) + len(valid) == len(flights)
        assert 0.15 < len(valid) / len(flights) < 0.25
    times = pd.to_datetime(flights["flight_date"])
    assert times.iloc[valid].min() > times.iloc[train].max()
    spec = _spec(strategy="group", group_column="tailnum")
    train, valid = make_folds(flights, spec, strategy="group", seed=SEED, holdout_rows=1000).folds[
        0
    ]
    assert not set(flights["tailnum"].iloc[train]) & set(flights["tailnum"].iloc[valid])


def test_given_valid_uses_exactly_the_valid_rows(flights: pd.DataFrame) -> None:
    train, valid = flights.iloc[:4000], flights.iloc[4000:]
    folds = make_folds(train, _spec(), strategy="stratified", seed=SEED, valid=valid)
    assert folds.kind == "given_valid" and len(folds) == 1
    joined = join_valid(train, valid)
    fit_idx, valid_idx = folds.folds[0]
    assert joined.iloc[valid_idx].reset_index(drop=True).equals(valid.reset_index(drop=True))
    assert joined.iloc[fit_idx].equals(train)


def test_folds_lowered_for_a_small_class(iris: pd.DataFrame) -> None:
    small = pd.concat([iris[iris["target"] != 2], iris[iris["target"] == 2].head(3)])
    folds = make_folds(small, _spec("target", "multiclass"), strategy="stratified", seed=SEED)
    assert folds.n_splits == 3 and "class `2`" in folds.note
    _check_partition(folds, len(small))


def test_class_with_one_row_is_refused(iris: pd.DataFrame) -> None:
    small = pd.concat([iris[iris["target"] != 2], iris[iris["target"] == 2].head(1)])
    with pytest.raises(DataError, match=r"class `2` of target `target` has 1 training row"):
        make_folds(small, _spec("target", "multiclass"), strategy="stratified", seed=SEED)
    with pytest.raises(DataError, match="too few"):
        make_folds(iris.head(1), _spec("target", "multiclass"), strategy="random", seed=SEED)


def _oof(family: str, flights: pd.DataFrame, folds: Any) -> Any:
    def factory() -> Any:
        return make_pipeline(family, "binary", ROLES, seed=SEED, n_jobs=1)

    return cross_val_predict_oof(factory, flights, "late", folds, "binary", ["no", "yes"])


@pytest.fixture
def flight_folds(flights: pd.DataFrame) -> Any:
    return make_folds(flights, _spec(), strategy="stratified", n_splits=3, seed=SEED)


@pytest.mark.parametrize(
    ("family", "low", "high"),
    [("lightgbm", 0.65, 1), ("logistic", 0.65, 1), ("baseline", 0.45, 0.55)],
)
def test_oof_quality(
    flights: pd.DataFrame, flight_folds: Any, family: str, low: float, high: float
) -> None:
    oof = _oof(family, flights, flight_folds)
    assert oof.predictions.shape == (len(flights), 2) and oof.mask.all()
    assert np.allclose(oof.predictions.sum(axis=1), 1)
    assert len(oof.fit_seconds) == len(oof.predict_seconds) == 3
    auc = roc_auc_score(flights["late"] == "yes", oof.predictions[:, 1])
    assert low < auc <= high


def test_time_oof_leaves_the_first_block_empty(flights: pd.DataFrame) -> None:
    spec = _spec(strategy="time", time_column="flight_date")
    folds = make_folds(flights, spec, strategy="time", n_splits=2, seed=SEED)
    oof = _oof("logistic", flights, folds)
    first_train = folds.folds[0][0]
    assert np.isnan(oof.predictions[first_train]).all()
    assert oof.mask.sum() == sum(len(v) for _, v in folds)


def test_regression_oof() -> None:
    frame = load_diabetes(as_frame=True).frame
    folds = make_folds(frame, _spec("target", "regression"), strategy="random", seed=SEED)
    roles = dict.fromkeys(frame.columns.drop("target"), "numeric")
    oof = cross_val_predict_oof(
        lambda: make_pipeline("linear", "regression", roles, seed=SEED),
        frame,
        "target",
        folds,
        "regression",
    )
    assert oof.predictions.shape == (len(frame),)
    assert r2_score(frame["target"], oof.predictions) > 0.4


def test_same_seed_same_folds_and_oof(flights: pd.DataFrame) -> None:
    spec = _spec()
    a = make_folds(flights, spec, strategy="stratified", n_splits=3, seed=SEED)
    b = make_folds(flights, spec, strategy="stratified", n_splits=3, seed=SEED)
    c = make_folds(flights, spec, strategy="stratified", n_splits=3, seed=SEED + 1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))
    first, second = _oof("lightgbm", flights, a), _oof("lightgbm", flights, b)
    assert np.array_equal(first.predictions, second.predictions)
