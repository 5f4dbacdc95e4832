"""Model versions, references, aliases, the audit log and the production gate, via the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from tests.commands import loopml, run_json
from tests.runs.conftest import write_project


@pytest.fixture(scope="module")
def registry_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two trained versions: 1 a shallow tree, 2 a logistic regression (better on test)."""
    root = tmp_path_factory.mktemp("registry")
    frame = load_breast_cancer(as_frame=True).frame
    write_project(root, frame, "target", "binary", goals=["roc_auc >= 0.9"])
    for family, params in (("decision_tree", "1"), ("logistic", "1")):
        loopml(
            "train",
            "--families",
            family,
            "--max-trials",
            params,
            "--jobs",
            "1",
            cwd=root,
            check=True,
        )
    return root


def test_every_run_is_a_numbered_version(registry_project: Path) -> None:
    versions = run_json("models", "list", cwd=registry_project)
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["name"].startswith("logistic") and versions[1]["name"].startswith(
        "decision_tree"
    )
    assert all(v["goals"] == {"roc_auc >= 0.9": "pass"} for v in versions)
    shown = run_json("models", "show", "1", cwd=registry_project)
    assert shown["card"]["inputs"] and shown["signature"]["columns"]
    assert shown["artifact_sha256"] == versions[1]["sha256"]
    radius = next(c for c in shown["signature"]["columns"] if c["name"] == "mean radius")
    printed = loopml("models", "show", "1", cwd=registry_project, check=True).stdout
    line = next(line for line in printed.splitlines() if "mean radius" in line)
    assert "Input signature" in printed and "numeric" in line
    assert f"{radius['min']:.4g} to {radius['max']:.4g}" in line


def test_references_resolve_the_same_everywhere(registry_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    loopml("score", "latest", "data.csv", str(out), cwd=registry_project, check=True)
    latest = out.read_text()
    loopml("score", "2", "data.csv", str(out), cwd=registry_project, check=True)
    assert out.read_text() == latest
    bad = loopml("score", "7", "data.csv", str(out), cwd=registry_project)
    assert bad.returncode == 2 and "no model version 7" in bad.stderr
    unknown = loopml("score", "champion", "data.csv", str(out), cwd=registry_project)
    assert unknown.returncode == 2 and "unknown model reference `champion`" in unknown.stderr


def test_production_gate_and_audit_log(registry_project: Path) -> None:
    root = registry_project
    first = run_json("models", "promote", "1", "production", cwd=root)
    assert first["action"] == "set" and first["to_version"] == 1
    # Version 2 beats version 1 on the same test rows: the gate lets it through.
    moved = run_json("models", "promote", "2", "production", cwd=root)
    assert moved["action"] == "move" and moved["from_version"] == 1
    # Back to the worse version: refused with both numbers, nothing changes.
    refused = loopml("models", "promote", "1", "production", cwd=root)
    assert refused.returncode == 2
    assert "does not beat version 2" in refused.stderr and "roc_auc" in refused.stderr
    assert "Traceback" not in refused.stderr
    no_reason = loopml("models", "promote", "1", "production", "--force", cwd=root)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    forced = run_json(
        "models", "promote", "1", "production", "--force", "--reason", "rollback drill", cwd=root
    )
    assert forced["forced"] is True and forced["reason"] == "rollback drill"
    same = loopml("models", "promote", "1", "production", cwd=root)
    assert same.returncode == 2 and "already points at version 1" in same.stderr
    run_json("models", "promote", "latest", "staging", cwd=root)
    removed = run_json("models", "demote", "staging", "--reason", "done", cwd=root)
    assert removed["action"] == "remove" and removed["from_version"] == 2
    history = run_json("models", "history", "production", cwd=root)
    assert [e["action"] for e in history] == ["move", "move", "set"]
    assert all(e["actor"] for e in history)
    listed = {v["version"]: v["aliases"] for v in run_json("models", "list", cwd=root)}
    assert listed == {2: [], 1: ["production"]}
    with sqlite3.connect(root / ".loopml" / "metadata.db") as conn:
        assert conn.execute("SELECT count(*) FROM alias_events").fetchone()[0] == 5


@pytest.mark.parametrize("alias", ["latest", "7", "9lives", "a b"])
def test_bad_alias_names_are_refused(registry_project: Path, alias: str) -> None:
    proc = loopml("models", "promote", "1", alias, cwd=registry_project)
    assert proc.returncode == 2 and "cannot be an alias" in proc.stderr


def test_the_gate_rescores_production_on_the_candidates_test_rows(
    registry_project: Path, tmp_path: Path
) -> None:
    import shutil

    import yaml

    root = tmp_path / "project"
    shutil.copytree(registry_project, root)
    run_json("models", "promote", "2", "production", cwd=root)  # logistic
    spec = yaml.safe_load((root / "loopml.yaml").read_text())
    (root / "loopml.yaml").write_text(yaml.safe_dump(spec | {"seed": 7}, sort_keys=False))
    train = ("train", "--max-trials", "1", "--jobs", "1")
    loopml(*train, "--families", "decision_tree", cwd=root, check=True)  # 3, another split
    versions = {v["version"]: v for v in run_json("models", "list", cwd=root)}
    assert versions[3]["split_id"] != versions[2]["split_id"]
    refused = loopml("models", "promote", "3", "production", cwd=root)
    assert refused.returncode != 0
    assert "version 3's test rows (rescored" in refused.stderr and "roc_auc" in refused.stderr
    from loopml import Project

    project = Project(root / "loopml.yaml")
    accesses = project.store.meta.test_accesses(versions[3]["split_id"])
    project.close()
    assert any(a["purpose"].startswith("promotion gate: version 2 rescored") for a in accesses)
    # The other way round: a tree in production, a logistic regression on the new split wins.
    run_json("models", "promote", "1", "production", "--force", "--reason", "drill", cwd=root)
    loopml(*train, "--families", "logistic", cwd=root, check=True)  # 4, on the seed-7 split
    moved = run_json("models", "promote", "4", "production", cwd=root)
    assert moved["to_version"] == 4 and moved["from_version"] == 1


def test_the_gate_refuses_a_version_that_does_not_beat_the_baseline() -> None:
    from loopml.registry.versions import quality_problems

    worse = {"metric": "rmse", "test_metrics": {"rmse": 2.0}, "baseline_metrics": {"rmse": 1.5}}
    assert quality_problems(worse | {"goals": []}) == [
        "it does not beat the non-model baseline on its test rows: rmse 2 vs 1.5"
    ]
    better = worse | {"test_metrics": {"rmse": 1.0}, "goals": []}
    assert quality_problems(better) == []
    tied = {"metric": "roc_auc", "test_metrics": {"roc_auc": 0.5}, "goals": []}
    assert "baseline" in quality_problems(tied | {"baseline_metrics": {"roc_auc": 0.5}})[0]


def test_demoting_production_first_does_not_open_the_gate(
    registry_project: Path, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "project"
    shutil.copytree(registry_project, root)
    run_json("models", "promote", "2", "production", cwd=root)
    run_json("models", "demote", "production", "--reason", "incident", cwd=root)
    refused = loopml("models", "promote", "1", "production", cwd=root)
    assert refused.returncode == 2, refused.stdout
    assert "does not beat version 2 (the last production, removed since)" in refused.stderr
    back = run_json("models", "promote", "2", "production", cwd=root)  # itself: no comparison
    assert back["action"] == "set" and back["to_version"] == 2


def test_the_gate_checks_the_goals_of_the_spec_as_it_is_now(
    registry_project: Path, tmp_path: Path
) -> None:
    import shutil

    import yaml

    root = tmp_path / "project"
    shutil.copytree(registry_project, root)
    spec = yaml.safe_load((root / "loopml.yaml").read_text())
    (root / "loopml.yaml").write_text(
        yaml.safe_dump(spec | {"goals": ["roc_auc >= 0.9999"]}, sort_keys=False)
    )
    refused = loopml("models", "promote", "2", "production", cwd=root)
    assert refused.returncode == 2 and "misses the goal roc_auc >= 0.9999" in refused.stderr
    # The goal the version was trained under (0.9) is no longer the one that counts.
    (root / "loopml.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assert run_json("models", "promote", "2", "production", cwd=root)["to_version"] == 2
