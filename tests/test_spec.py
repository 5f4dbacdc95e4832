"""The spec: every key validated with a message naming the key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loopml.errors import SpecError
from loopml.spec import DEFAULT_METRIC, ProjectSpec, load_spec, validate_spec
from loopml.spec_writer import render_spec

BASE = {"name": "churn", "data": {"path": "customers.csv"}, "target": "churned", "task": "binary"}


def with_(**changes: object) -> dict:
    return BASE | changes


def test_minimal_spec_gets_defaults() -> None:
    spec = validate_spec(BASE)
    assert spec.primary_metric == DEFAULT_METRIC["binary"]
    assert spec.cleaning.drop_duplicate_rows
    assert spec.split.strategy == "auto"
    assert spec.data.kind == "csv"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("a.parquet", "parquet"),
        ("a.PQ", "parquet"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.csv", "csv"),
        ("a.tsv", "csv"),
        ("a.txt", "csv"),
    ],
)
def test_source_kind_from_extension(path: str, kind: str) -> None:
    assert validate_spec(with_(data={"path": path})).data.kind == kind


def test_goals_are_parsed_and_checked() -> None:
    spec = validate_spec(with_(goals=["roc_auc >= 0.85", "p99_latency_ms <= 20"]))
    auc, latency = spec.goals
    assert (auc.metric, auc.op, auc.value) == ("roc_auc", ">=", 0.85)
    assert auc.met_by(0.9) and not auc.met_by(0.8)
    assert latency.met_by(12) and not latency.met_by(25)


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        (with_(colour="red"), ["unknown key `colour`", "allowed keys", "target"]),
        (with_(task="binar"), ["`task`", "'binar'", "regression"]),
        (with_(metric="rmse"), ["rmse", "binary", "roc_auc"]),
        (with_(goals=["auc > "]), ["goals", "auc >", "metric >= number"]),
        (with_(goals=["r2 >= 0.5"]), ["r2 >= 0.5", "unknown metric"]),
        (with_(split={"strategy": "group"}), ["group_column"]),
        (with_(split={"strategy": "time"}), ["time_column"]),
        (
            with_(split={"test_size": 0.6, "valid_size": 0.5}),
            ["test_size", "valid_size", "below 1"],
        ),
        (with_(split={"test_size": 0}), ["split.test_size", "greater than 0"]),
        (with_(split={"strategy": "shuffle"}), ["split.strategy", "'shuffle'", "stratified"]),
        (with_(data={"pth": "x.csv"}), ["unknown key `pth` in `data`", "path"]),
        (with_(data={"url": "sqlite:///x.db"}), ["data.table", "data.query"]),
        (with_(data={"path": "a.csv", "delimiter": ";;"}), ["delimiter", "one character"]),
        (with_(columns={"age": "numberish"}), ["columns.age", "numberish", "categorical"]),
        (with_(columns={"churned": "numeric"}), ["target", "churned"]),
        (with_(seed=-1), ["seed", "-1"]),
        (with_(store={"artifacts": "s3://bucket/x"}), ["store.artifacts", "local folder"]),
        (with_(name="has space"), ["name", "has space"]),
        (with_(checks={"high_missing_rate": "a"}), ["checks.high_missing_rate", "'a'"]),
        ({k: v for k, v in BASE.items() if k != "target"}, ["missing required key `target`"]),
    ],
)
def test_bad_values_name_the_key(raw: dict, fragments: list[str]) -> None:
    with pytest.raises(SpecError) as caught:
        validate_spec(raw, source="loopml.yaml")
    message = caught.value.message
    assert message.startswith("loopml.yaml")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_written_spec_reads_back_identically(tmp_path: Path) -> None:
    spec = validate_spec(
        with_(
            goals=["roc_auc >= 0.8"],
            columns={"customer id": "identifier"},
            split={"strategy": "time", "time_column": "signup", "valid_size": 0.1},
            cleaning={"drop_columns": ["notes"], "drop_leaking_columns": True},
            seed=7,
            data={"path": "data/c.csv", "delimiter": ";", "encoding": "latin-1"},
            monitor={
                "since": "24h",
                "alerts": {"feature_psi": {"distance": 0.2, "*": 0.5}, "latency_p99_ms": 25},
                "webhook": {"url": "https://hooks.example.com/x", "headers": {"A": "${T}"}},
            },
            retrain={"data": {"window": "14d", "combine": True}, "margin": 0.01, "on": []},
        )
    )
    path = tmp_path / "loopml.yaml"
    path.write_text(render_spec(spec))
    text = path.read_text()
    assert text.count("#") > 10  # commented
    assert "\nmonitor:\n" in text and "\nretrain:\n" in text  # changed: not commented out
    assert load_spec(path) == spec
    assert load_spec(path).fingerprint() == spec.fingerprint()


def test_fingerprint_changes_with_any_setting() -> None:
    assert validate_spec(BASE).fingerprint() == validate_spec(dict(BASE)).fingerprint()
    assert validate_spec(BASE).fingerprint() != validate_spec(with_(seed=1)).fingerprint()


def test_load_spec_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="loopml init"):
        load_spec(tmp_path / "loopml.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(SpecError, match="mapping"):
        load_spec(listing)


def test_every_key_is_documented() -> None:
    reference = (Path(__file__).parents[1] / "docs" / "reference" / "spec.md").read_text()

    def keys(model: type, prefix: str = "") -> list[str]:
        found = []
        for name, field in model.model_fields.items():
            found.append(prefix + name)
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                found += keys(annotation, f"{prefix}{name}.")
        return found

    missing = [key for key in keys(ProjectSpec) if f"`{key}`" not in reference]
    assert not missing, f"undocumented spec keys: {missing}"


def test_retrain_policies_and_their_problems() -> None:
    assert validate_spec(BASE).retrain.data.policy == "window"
    assert validate_spec(with_(retrain={"data": "all"})).retrain.data.policy == "all"
    assert validate_spec(with_(retrain={"data": "14d"})).retrain.data.window == "14d"
    source = validate_spec(with_(retrain={"data": {"path": "new.csv", "combine": True}}))
    assert source.retrain.data.policy == "source"
    assert source.retrain.data.source().path == "new.csv"
    sql = {"url": "sqlite:///x.db", "query": "select * from labelled"}
    assert validate_spec(with_(retrain={"data": sql})).retrain.data.source().kind == "sql"
    # YAML reads a bare `on:` key as true; in `retrain` it is `retrain.on`.
    bare = yaml.safe_load("retrain:\n  on: [metric_drop, goal]\n")
    assert validate_spec(with_(**bare)).retrain.on == ["metric_drop", "goal"]
    for retrain, fragment in (
        ({"data": {"window": "7d", "path": "new.csv"}}, "one data policy, not window and path"),
        ({"data": {"window": "last week"}}, "key `retrain.data.window`: 'last week' is neither"),
        ({"data": {"table": "t"}}, "`table` needs `path` (a file) or `url`"),
        ({"data": {"url": "sqlite:///x.db"}}, "exactly one of `retrain.data.table`"),
        ({"data": {"all": True, "combine": True}}, "`all` already holds them"),
        ({"data": "yesterday"}, "'yesterday' is not a data policy"),
        ({"holdout": 0}, "key `retrain.holdout` has value 0"),
        ({"search": "grid"}, "allowed values: 'reuse' or 'fresh'"),
        ({"margin": -0.1}, "key `retrain.margin`"),
        ({"min_rows": 3}, "key `retrain.min_rows`"),
        ({"windw": "7d"}, "unknown key `windw` in `retrain`"),
    ):
        with pytest.raises(SpecError) as info:
            validate_spec(with_(retrain=retrain))
        assert fragment in info.value.message, info.value.message
