"""Profile stage: roles, planted quality problems found, clean data not flagged, cleaning."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from loopml.data.profile import ProfileResult, profile_version
from loopml.data.versions import DatasetVersion, lineage, read_dataset
from loopml.errors import DataError, SpecError
from loopml.spec import ProjectSpec, validate_spec
from loopml.store import Store


def make_spec(target: str, task: str, **extra: object) -> ProjectSpec:
    return validate_spec(
        {"name": "t", "data": {"path": "x.csv"}, "target": target, "task": task} | extra
    )


def checks_by_column(result: ProfileResult) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in result.findings:
        for column in finding.columns or ["*"]:
            found.setdefault(column, set()).add(finding.check)
    return found


@pytest.fixture
def planted() -> pd.DataFrame:
    """Breast cancer data with one planted problem per quality check."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns={"target": "malignant"}).iloc[:, [0, 1, 2, 3, 4, 30]].copy()
    frame.columns = ["radius", "texture", "perimeter", "area", "smoothness", "malignant"]
    rng = np.random.default_rng(0)
    n = len(frame)
    frame["malignant"] = frame["malignant"].map({0: "yes", 1: "no"})
    frame["leak"] = np.where(frame["malignant"] == "yes", 1.0, 0.0) + rng.normal(0, 0.01, n)
    frame["patient_id"] = [f"P{i:05d}" for i in range(n)]
    frame["site"] = "clinic-a"
    frame["rare_flag"] = np.where(np.arange(n) < 2, "x", "y")
    frame["grade"] = pd.qcut(frame["texture"], 5, labels=list("abcde")).astype(str)
    frame["grade_code"] = frame["grade"].map({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    frame["lab_note"] = np.where(rng.random(n) < 0.7, np.nan, rng.normal(size=n))
    frame["postcode"] = [f"Z{v}" for v in rng.integers(0, 400, n)]
    mixed = rng.integers(1, 90, n).astype(str).astype(object)
    mixed[rng.choice(n, 40, replace=False)] = "unknown"
    frame["age_text"] = mixed
    frame["noise_a"] = rng.normal(size=n)  # distinct values: no duplicate of noise_b
    frame["noise_b"] = rng.normal(size=n)
    frame["radius_again"] = frame["radius"]
    frame["radius_noisy"] = frame["radius"] + rng.normal(0, 1e-3, len(frame))
    spikes = rng.normal(size=n)
    spikes[:30] = 1e4
    frame["spiky"] = spikes
    frame = pd.concat([frame, frame.iloc[:7]], ignore_index=True)  # 7 duplicate rows
    frame.loc[[20, 30], "malignant"] = None  # 2 rows without target
    return frame


def test_planted_problems_are_found(
    store: Store, add_frame: Callable[..., DatasetVersion], planted: pd.DataFrame
) -> None:
    raw = add_frame(planted)
    result = profile_version(make_spec("malignant", "binary"), store, raw)
    found = checks_by_column(result)
    roles = {s.name: s.role for s in result.column_stats}

    assert "target_leakage" in found["leak"]
    assert "target_leakage" not in found.get("radius", set())  # strong, but no leak
    assert roles["patient_id"] == "identifier" and "identifier_column" in found["patient_id"]
    assert roles["site"] == "constant" and "constant_column" in found["site"]
    assert "near_constant_column" in found["rare_flag"]
    assert "duplicate_columns" in found["grade"] and "duplicate_columns" in found["grade_code"]
    assert "duplicate_columns" in found["radius_again"]
    assert "correlated_columns" in found["radius_noisy"]
    assert "correlated_columns" not in found.get("noise_a", set())
    assert "duplicate_columns" not in found.get("noise_a", set()) | found.get("noise_b", set())
    assert "high_missing_rate" in found["lab_note"]
    assert "high_cardinality" in found["postcode"]
    assert "mixed_types" in found["age_text"]
    assert "outliers" in found["spiky"]
    assert "missing_target" in found["malignant"]
    duplicate = next(f for f in result.findings if f.check == "duplicate_rows")
    assert duplicate.details["rows"] == 7
    severities = [f.severity for f in result.findings]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    assert next(f for f in result.findings if f.check == "target_leakage").severity == "error"


def test_cleaning_makes_a_derived_version(
    store: Store, add_frame: Callable[..., DatasetVersion], planted: pd.DataFrame
) -> None:
    raw = add_frame(planted)
    spec = make_spec(
        "malignant", "binary", cleaning={"drop_leaking_columns": True, "drop_columns": ["lab_note"]}
    )
    result = profile_version(spec, store, raw)
    cleaned = store.meta.dataset(result.cleaned_version)
    assert cleaned["parent_version"] == raw.version and cleaned["kind"] == "cleaned"
    frame = read_dataset(store, DatasetVersion.from_row(cleaned))
    for dropped in ("leak", "patient_id", "site", "lab_note"):
        assert dropped not in frame.columns
    assert len(frame) == len(planted) - 7 - 2
    assert frame["malignant"].notna().all()
    assert not frame.duplicated().any()
    ops = {op["op"] for op in result.cleaning}
    assert ops == {"drop_columns", "drop_duplicate_rows", "drop_missing_target"}
    assert [v.version for v in lineage(store, DatasetVersion.from_row(cleaned))] == [
        cleaned["version"],
        raw.version,
    ]
    # Same inputs: same cleaned version, recorded once.
    again = profile_version(spec, store, raw)
    assert again.cleaned_version == result.cleaned_version
    assert len(store.meta.datasets()) == 2
    # Different cleaning choices: a different version.
    keep_dupes = make_spec("malignant", "binary", cleaning={"drop_duplicate_rows": False})
    assert profile_version(keep_dupes, store, raw).cleaned_version != result.cleaned_version


def test_nothing_to_clean_keeps_the_raw_version(
    store: Store, add_frame: Callable[..., DatasetVersion]
) -> None:
    frame = load_wine(as_frame=True).frame
    raw = add_frame(frame)
    result = profile_version(make_spec("target", "multiclass"), store, raw)
    assert result.cleaned_version == raw.version and result.cleaning == []


@pytest.mark.parametrize(
    ("loader", "target", "task"),
    [
        (load_iris, "target", "multiclass"),
        (load_wine, "target", "multiclass"),
        (load_diabetes, "target", "regression"),
        (load_breast_cancer, "target", "binary"),
    ],
)
def test_clean_real_data_raises_no_errors(
    store: Store,
    add_frame: Callable[..., DatasetVersion],
    loader: Callable,
    target: str,
    task: str,
) -> None:
    raw = add_frame(loader(as_frame=True).frame)
    result = profile_version(make_spec(target, task), store, raw)
    assert [f for f in result.findings if f.severity == "error"] == []
    associations = [s.target_association for s in result.column_stats if s.name != target]
    assert all(a is not None and 0 <= a <= 1 for a in associations)
    assert max(associations) > (0.7 if task != "regression" else 0.2)  # real signal is seen


def test_roles_of_the_demo_table(
    store: Store, add_frame: Callable, demo_frame: pd.DataFrame
) -> None:
    raw = add_frame(demo_frame)
    result = profile_version(
        make_spec("late", "binary", columns={"flight": "categorical"}), store, raw
    )
    stats = {s.name: s for s in result.column_stats}
    assert stats["flight_date"].role == "datetime"  # ISO date strings
    assert stats["carrier"].role == "categorical"
    assert stats["distance"].role == "numeric"
    assert stats["flight"].role == "categorical" and stats["flight"].role_source == "spec"
    assert stats["late"].missing == demo_frame["late"].isna().sum()
    assert stats["distance"].mean == pytest.approx(demo_frame["distance"].mean())
    assert stats["temp"].median == pytest.approx(demo_frame["temp"].median())
    assert sum(stats["distance"].histogram.counts) == demo_frame["distance"].notna().sum()
    assert result.target_summary["counts"] == demo_frame["late"].value_counts().to_dict()
    corr = result.correlations
    i, j = corr["columns"].index("sched_dep_time"), corr["columns"].index("sched_arr_time")
    assert corr["matrix"][i][j] > 0.8  # arrival follows departure


def test_more_roles(store: Store, add_frame: Callable) -> None:
    n = 300
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "row": np.arange(n),
            "flag": rng.choice(["Yes", "No"], n),
            "when": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%m/%d/%Y"),
            "review": [
                " ".join(rng.choice(["good", "bad", "late", "fine", "slow"], 8)) for _ in range(n)
            ],
            "y": rng.normal(size=n),
        }
    )
    result = profile_version(make_spec("y", "regression"), store, add_frame(frame))
    roles = {s.name: s.role for s in result.column_stats}
    assert roles == {
        "y": "target",
        "row": "identifier",
        "flag": "boolean",
        "when": "datetime",
        "review": "text",
    }


def test_target_problems(store: Store, add_frame: Callable) -> None:
    frame = pd.DataFrame({"x": np.arange(50.0), "y": ["a", "b", "c", "d", "e"] * 10})
    raw = add_frame(frame)
    with pytest.raises(DataError, match="5 classes but the task is binary"):
        profile_version(make_spec("y", "binary"), store, raw)
    with pytest.raises(DataError, match="holds string values but the task is regression"):
        profile_version(make_spec("y", "regression"), store, raw)
    with pytest.raises(DataError, match="target column `z` is not in"):
        profile_version(make_spec("z", "binary"), store, raw)
    with pytest.raises(
        SpecError, match="`columns` names a missing column: column `nope` is not in"
    ):
        profile_version(make_spec("y", "multiclass", columns={"nope": "numeric"}), store, raw)
    empty = add_frame(pd.DataFrame({"x": [1.0, 2.0], "y": [None, None]}), name="empty")
    with pytest.raises(DataError, match="has no values"):
        profile_version(make_spec("y", "binary"), store, empty)
    single = add_frame(pd.DataFrame({"x": np.arange(20.0), "y": ["a"] * 20}), name="single")
    result = profile_version(make_spec("y", "binary"), store, single)
    assert [f.check for f in result.findings if f.severity == "error"] == ["single_class"]


def test_class_imbalance(store: Store, add_frame: Callable) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=1100), "y": ["a"] * 1050 + ["b"] * 50})
    result = profile_version(make_spec("y", "binary"), store, add_frame(frame))
    imbalance = next(f for f in result.findings if f.check == "class_imbalance")
    assert imbalance.details["ratio"] == pytest.approx(21.0)


def test_profile_is_reproducible(store: Store, add_frame: Callable, planted: pd.DataFrame) -> None:
    raw = add_frame(planted)
    spec = make_spec("malignant", "binary")
    first, second = profile_version(spec, store, raw), profile_version(spec, store, raw)
    assert [f.to_dict() for f in first.findings] == [f.to_dict() for f in second.findings]
    assert [s.to_dict() for s in first.column_stats] == [s.to_dict() for s in second.column_stats]


def test_cleaning_keeps_the_split_columns(store: Store, add_frame: Callable) -> None:
    n = 400
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in rng.permutation(n)],
            "x": rng.normal(size=n),
            "y": rng.choice(["a", "b"], n),
        }
    )
    raw = add_frame(frame)
    grouped = make_spec("y", "binary", split={"strategy": "group", "group_column": "customer_id"})
    result = profile_version(grouped, store, raw)
    assert "identifier_column" in checks_by_column(result)["customer_id"]
    assert result.cleaned_version == raw.version  # nothing dropped
    plain = profile_version(make_spec("y", "binary"), store, raw)
    assert plain.cleaning == [
        {"op": "drop_columns", "reason": "identifier", "columns": ["customer_id"]}
    ]


def test_roles_are_recorded_for_later_stages(tmp_path, demo_csv) -> None:
    from loopml.data.profile import column_roles, prepare_dataset
    from loopml.store import Store as _Store

    spec = validate_spec(
        {
            "name": "t",
            "data": {"path": str(demo_csv)},
            "target": "late",
            "task": "binary",
            "columns": {"flight": "categorical"},
        }
    )
    store = _Store.for_project(tmp_path, spec.store.metadata, spec.store.artifacts)
    cleaned = prepare_dataset(spec, tmp_path, store)
    roles = column_roles(store, cleaned)
    assert set(roles) == set(cleaned.column_names)
    assert roles["late"] == "target" and roles["flight"] == "categorical"
    assert roles["flight_date"] == "datetime" and roles["distance"] == "numeric"
    store.close()
