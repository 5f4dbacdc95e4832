"""The split stage on real data: the demo flights table and scikit-learn's bundled datasets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_diabetes, load_iris, load_wine

from loopml.data.splits import SplitInfo, load_split, open_split, split_dataset
from loopml.data.versions import DatasetVersion, read_dataset
from loopml.errors import DataError, NotFoundError, SealedError, UsageError
from loopml.spec import ProjectSpec, validate_spec
from loopml.store import Store, sha256_file

AddFrame = Callable[[pd.DataFrame], DatasetVersion]


def make_spec(
    target: str = "late", task: str = "binary", seed: int = 7, **split: Any
) -> ProjectSpec:
    return validate_spec(
        {
            "name": "t",
            "data": {"path": "x.csv"},
            "target": target,
            "task": task,
            "split": split,
            "seed": seed,
        }
    )


def parts_of(store: Store, split: SplitInfo) -> np.ndarray:
    """The stored assignment of every row, in row order."""
    table = pq.read_table(store.artifacts.path(split.artifact))
    assert table.schema.field("row").type == pa.int64()
    assert table.schema.field("part").type == pa.string()
    assert table.column("row").to_pylist() == list(range(table.num_rows))
    return np.asarray(table.column("part").to_pylist())


@pytest.fixture
def flights(demo_frame: pd.DataFrame) -> pd.DataFrame:
    """The demo flights with a known target."""
    return demo_frame.dropna(subset=["late"]).reset_index(drop=True)


def sklearn_frame(loader: Callable[..., Any]) -> pd.DataFrame:
    data = loader(as_frame=True)
    return data.frame.rename(columns={"target": "y"})


# -- assignments ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "split",
    [
        {"strategy": "random"},
        {"strategy": "random", "test_size": 0.25, "valid_size": 0.15},
        {"strategy": "stratified", "valid_size": 0.1},
        {"strategy": "auto", "test_size": 0.3},
    ],
)
def test_every_row_in_exactly_one_part_with_sizes_close_to_fractions(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame, split: dict[str, Any]
) -> None:
    version = add_frame(flights)
    info = split_dataset(store, version, make_spec(**split))
    parts = parts_of(store, info)
    n = len(flights)
    assert len(parts) == n
    assert set(parts) <= {"train", "valid", "test"}
    test, valid = split.get("test_size", 0.2), split.get("valid_size", 0.0)
    assert abs(info.counts["test"] - test * n) <= 2
    assert abs(info.counts["valid"] - valid * n) <= 2
    assert sum(info.counts.values()) == n
    assert info.counts == {p: int((parts == p).sum()) for p in ("train", "valid", "test")}
    assert info.strategy == ("stratified" if split["strategy"] == "auto" else split["strategy"])


@pytest.mark.parametrize("loader", [load_iris, load_wine])
def test_stratified_multiclass_keeps_class_proportions(
    store: Store, add_frame: AddFrame, loader: Callable[..., Any]
) -> None:
    frame = sklearn_frame(loader)
    version = add_frame(frame)
    spec = make_spec("y", "multiclass", valid_size=0.2, test_size=0.2)
    info = split_dataset(store, version, spec)
    assert info.strategy == "stratified"
    assert info.params["target"] == "y"
    parts = parts_of(store, info)
    for part, size in (("train", 0.6), ("valid", 0.2), ("test", 0.2)):
        per_class = frame["y"][parts == part].value_counts()
        expected = frame["y"].value_counts() * size
        assert (per_class.reindex(expected.index) - expected).abs().max() <= 2
        shares = per_class / per_class.sum()
        overall = frame["y"].value_counts(normalize=True)
        assert (shares.reindex(overall.index) - overall).abs().max() < 0.05


def test_stratified_binary_keeps_class_proportions(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame
) -> None:
    info = split_dataset(store, add_frame(flights), make_spec(valid_size=0.1))
    parts = parts_of(store, info)
    overall = (flights["late"] == "yes").mean()
    for part in ("train", "valid", "test"):
        assert abs((flights["late"][parts == part] == "yes").mean() - overall) < 0.005


def test_regression_auto_is_random(store: Store, add_frame: AddFrame) -> None:
    frame = sklearn_frame(load_diabetes)
    info = split_dataset(store, add_frame(frame), make_spec("y", "regression", valid_size=0.1))
    assert info.strategy == "random"
    assert "target" not in info.params
    assert info.counts == {"train": 310, "valid": 44, "test": 88}


@pytest.mark.parametrize("column", ["tailnum", "carrier"])
def test_group_split_keeps_each_group_in_one_part(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame, column: str
) -> None:
    spec = make_spec(strategy="group", group_column=column, valid_size=0.1)
    info = split_dataset(store, add_frame(flights), spec)
    parts = parts_of(store, info)
    per_group = pd.DataFrame({"g": flights[column], "part": parts}).groupby("g")["part"].nunique()
    assert per_group.max() == 1
    n = len(flights)
    tolerance = 0.01 if column == "tailnum" else 0.06  # 16 carriers of very unequal size
    assert abs(info.counts["test"] / n - 0.2) < tolerance
    assert abs(info.counts["valid"] / n - 0.1) < tolerance
    assert info.params["group_column"] == column


@pytest.mark.parametrize("as_dates", [False, True])
def test_time_split_puts_latest_rows_last(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame, as_dates: bool
) -> None:
    frame = flights.copy()
    if as_dates:
        frame["flight_date"] = pd.to_datetime(frame["flight_date"])
    spec = make_spec(strategy="time", time_column="flight_date", valid_size=0.1)
    info = split_dataset(store, add_frame(frame), spec)
    parts = parts_of(store, info)
    when = pd.to_datetime(flights["flight_date"])
    assert when[parts == "train"].max() < when[parts == "valid"].min()
    assert when[parts == "valid"].max() < when[parts == "test"].min()
    assert pd.DataFrame({"t": when, "p": parts}).groupby("t")["p"].nunique().max() == 1
    assert abs(info.counts["test"] / len(frame) - 0.2) < 0.01


def test_reads_only_the_columns_it_needs(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = add_frame(flights)
    asked: list[Any] = []
    real = pq.read_table

    def spy(source: Any, *args: Any, **kwargs: Any) -> pa.Table:
        asked.append(kwargs.get("columns"))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", spy)
    split_dataset(store, version, make_spec(strategy="group", group_column="carrier"))
    assert asked == [["late", "carrier"]]


# -- identity and storage ---------------------------------------------------------------------
def test_same_settings_give_same_split_and_one_record(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame
) -> None:
    version = add_frame(flights)
    first = split_dataset(store, version, make_spec(valid_size=0.1))
    second = split_dataset(store, version, make_spec(valid_size=0.1))
    assert first == second
    assert len(store.meta.splits()) == 1
    assert len(first.id) == 64 and first.short == first.id[:12]
    assert first.dataset_version == version.version and first.seed == 7


@pytest.mark.parametrize(
    "split",
    [
        {"strategy": "random"},
        {"strategy": "stratified"},
        {"strategy": "group", "group_column": "tailnum"},
    ],
)
def test_other_seed_gives_other_assignments(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame, split: dict[str, Any]
) -> None:
    version = add_frame(flights)
    one = split_dataset(store, version, make_spec(seed=1, **split))
    two = split_dataset(store, version, make_spec(seed=2, **split))
    assert one.id != two.id
    assert (parts_of(store, one) != parts_of(store, two)).any()
    assert len(store.meta.splits(version.version)) == 2


def test_changed_data_gives_other_split(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame
) -> None:
    changed = flights.copy()
    changed.loc[0, "distance"] += 1
    one = split_dataset(store, add_frame(flights), make_spec())
    two = split_dataset(store, add_frame(changed), make_spec())
    assert one.dataset_version != two.dataset_version
    assert one.id != two.id


def test_artifact_matches_recorded_sha256(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame
) -> None:
    info = split_dataset(store, add_frame(flights), make_spec())
    path = store.artifacts.path(info.artifact)
    assert sha256_file(path) == info.artifact.sha256
    assert path.stat().st_size == info.artifact.size
    assert info.artifact.relpath.endswith(".parquet")


def test_load_split_by_id_prefix_and_latest(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame
) -> None:
    info = split_dataset(store, add_frame(flights), make_spec())
    assert load_split(store, info.id) == info
    assert load_split(store, info.short) == info
    assert load_split(store, "latest") == info
    with pytest.raises(NotFoundError):
        load_split(store, "abcdef123456")


# -- the sealed view --------------------------------------------------------------------------
def test_view_serves_parts_in_dataset_order(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame
) -> None:
    version = add_frame(flights)
    info = split_dataset(store, version, make_spec(valid_size=0.1))
    parts = parts_of(store, info)
    everything = read_dataset(store, version)
    view = open_split(store, info)
    for frame, wanted in (
        (view.train(), parts == "train"),
        (view.valid(), parts == "valid"),
        (view.train_valid(), parts != "test"),
    ):
        pd.testing.assert_frame_equal(frame, everything[wanted].reset_index(drop=True))
        assert isinstance(frame.index, pd.RangeIndex)
    assert store.meta.test_accesses(info.id) == []


def test_test_part_is_sealed_until_unsealed(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame
) -> None:
    version = add_frame(flights)
    info = split_dataset(store, version, make_spec())
    view = open_split(store, info)
    with pytest.raises(SealedError, match="unseal_test"):
        _ = view.test
    assert "sealed" in repr(view)
    for bad in ("", "   "):
        with pytest.raises(UsageError):
            view.unseal_test(bad)
    assert store.meta.test_accesses(info.id) == []
    test = view.unseal_test("final evaluation")
    expected = read_dataset(store, version)[parts_of(store, info) == "test"].reset_index(drop=True)
    pd.testing.assert_frame_equal(test, expected)
    accesses = store.meta.test_accesses(info.id)
    assert [a["purpose"] for a in accesses] == ["final evaluation"]


def test_no_validation_part_when_valid_size_is_zero(
    store: Store, add_frame: AddFrame, flights: pd.DataFrame
) -> None:
    info = split_dataset(store, add_frame(flights), make_spec(valid_size=0))
    view = open_split(store, info)
    assert info.counts["valid"] == 0
    assert view.valid() is None
    pd.testing.assert_frame_equal(view.train_valid(), view.train())


# -- bad input --------------------------------------------------------------------------------
def _tiny(**columns: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(columns)


@pytest.mark.parametrize(
    ("frame", "spec", "words"),
    [
        pytest.param(
            None,
            make_spec(strategy="group", group_column="plane"),
            ["plane", "carrier"],
            id="group-column-missing",
        ),
        pytest.param(
            None,
            make_spec(strategy="time", time_column="when"),
            ["when", "columns"],
            id="time-column-missing",
        ),
        pytest.param(
            None, make_spec(target="delayed"), ["delayed", "target"], id="target-column-missing"
        ),
        pytest.param(
            "raw", make_spec(), ["late", "140", "drop_missing_target"], id="missing-target-values"
        ),
        pytest.param(
            _tiny(y=["a", "a", "b", "b", "c"], x=[1, 2, 3, 4, 5]),
            make_spec("y", "multiclass", strategy="stratified"),
            ["'c'", "`y`", "1 row", "split.strategy: random"],
            id="class-too-small",
        ),
        pytest.param(
            _tiny(y=[1.0, 2.0], x=[1, 2]),
            make_spec("y", "regression"),
            ["test part empty", "2 rows"],
            id="too-few-rows",
        ),
        pytest.param(
            _tiny(y=[1.0, 2.0, 3.0, 4.0], g=["a", "a", "b", "b"]),
            make_spec("y", "regression", strategy="group", group_column="g", valid_size=0.2),
            ["valid part empty", "groups of `g`"],
            id="too-few-groups",
        ),
        pytest.param(
            _tiny(y=[1.0, 2.0, 3.0], g=["a", "a", "a"]),
            make_spec("y", "regression", strategy="group", group_column="g"),
            ["`g`", "at least 2 groups"],
            id="one-group",
        ),
        pytest.param(
            _tiny(y=[1.0, 2.0, 3.0], t=["2024-01-01", None, "2024-01-03"]),
            make_spec("y", "regression", strategy="time", time_column="t"),
            ["`t`", "missing in 1 rows"],
            id="time-missing-values",
        ),
        pytest.param(
            _tiny(y=[1.0, 2.0, 3.0], t=["2024-01-01", "soon", "2024-01-03"]),
            make_spec("y", "regression", strategy="time", time_column="t"),
            ["`t`", "not dates", "'soon'"],
            id="time-unparsable",
        ),
        pytest.param(
            _tiny(y=[1.0, 2.0, 3.0], t=[True, False, True]),
            make_spec("y", "regression", strategy="time", time_column="t"),
            ["`t`", "cannot be read as dates"],
            id="time-wrong-type",
        ),
        pytest.param(
            _tiny(y=[1.0] * 5, t=["2024-01-01"] * 5),
            make_spec("y", "regression", strategy="time", time_column="t"),
            ["test part empty", "distinct times of `t`"],
            id="one-timestamp",
        ),
        pytest.param(
            _tiny(y=[1.0, 2.0, 3.0], x=[1, 2, 3]),
            make_spec("y", "regression", strategy="stratified"),
            ["`y`", "regression", "split.strategy: random"],
            id="stratified-regression",
        ),
    ],
)
def test_bad_input_is_one_clear_sentence(
    store: Store,
    add_frame: AddFrame,
    demo_frame: pd.DataFrame,
    flights: pd.DataFrame,
    frame: pd.DataFrame | str | None,
    spec: ProjectSpec,
    words: list[str],
) -> None:
    data = flights if frame is None else demo_frame if isinstance(frame, str) else frame
    version = add_frame(data)
    with pytest.raises(DataError) as caught:
        split_dataset(store, version, spec)
    message = str(caught.value)
    for word in words:
        assert word in message
    assert "\n" not in message
    assert store.meta.splits() == []
