"""`loopml retrain` through the real CLI: the gate promotes a challenger that learnt a planted
concept shift, refuses one that does not win by the margin or misses a goal, and records
every decision with its lineage; `monitor --retrain` retrains only when an alert fires."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from loopml import Project
from loopml.errors import DataError, NotFoundError, UsageError
from tests.commands import loopml, run_json
from tests.monitor.conftest import score_and_label, shop_rows


def _spec(root: Path, **retrain: object) -> None:
    """Change loopml.yaml: `retrain` keys, and `goals` when given as `goals=`."""
    path = root / "loopml.yaml"
    spec = yaml.safe_load(path.read_text())
    goals = retrain.pop("goals", None)
    if goals is not None:
        spec["goals"] = goals
    spec["retrain"] = spec.get("retrain", {}) | retrain
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def _production(root: Path) -> int:
    versions = run_json("models", "list", cwd=root)
    return next(v["version"] for v in versions if "production" in v["aliases"])


def test_a_challenger_that_learnt_the_shift_is_promoted_and_a_tie_is_kept(shop: Path) -> None:
    shifted = shop_rows(600, seed=1, key="x2")
    score_and_label(shop, shifted, "shifted")

    first = run_json("retrain", cwd=shop)
    assert first["decision"] == "promoted" and first["reasons"] == []
    assert (first["champion"], first["challenger"], first["id"]) == (1, 2, 1)
    assert first["trigger"] == {"kind": "manual", "check_id": None, "alerts": []}
    # The champion learnt x1, the labels now follow x2: a coin for it, easy for the challenger.
    assert first["champion_score"] < 0.65 and first["challenger_score"] > 0.9
    assert first["improvement"] == first["challenger_score"] - first["champion_score"]
    data = first["data"]
    assert data["policy"] == "window" and data["source"]["kind"] == "prediction_log"
    assert data["source"]["labelled"] == 600 and data["source"]["model_versions"] == [1]
    assert data["rows"]["holdout"] == 180 and data["rows"]["train"] == 420
    assert _production(shop) == 2

    shown = run_json("models", "show", "2", cwd=shop)
    assert shown["retrain"]["id"] == 1 and shown["run_id"] == first["run_id"]
    assert shown["split_id"] == first["split_id"] and shown["refit_all"] is False
    # The challenger's own test score is its score on the holdout: one scorer, the same rows.
    assert shown["test_metrics"]["roc_auc"] == first["challenger_score"]

    # Same rows, same seed, the champion's settings: the same model again, so no win.
    second = run_json("retrain", cwd=shop)
    assert second["decision"] == "kept" and (second["champion"], second["challenger"]) == (2, 3)
    assert second["dataset_version"] == first["dataset_version"]
    assert second["split_id"] == first["split_id"]
    assert second["challenger_score"] == second["champion_score"] == first["challenger_score"]
    assert second["reasons"] == [
        "challenger v3 does not beat v2 on the 180 fresh holdout rows: roc_auc "
        f"{second['challenger_score']:.4g} vs {second['champion_score']:.4g}"
    ]
    assert _production(shop) == 2

    project = Project(shop / "loopml.yaml")
    try:
        history = project.alias_history("production")
        assert history[0]["to_version"] == 2 and not history[0]["forced"]
        assert history[0]["reason"].startswith("retrain #1: challenger v2 beat v1 by ")
        dataset = project.dataset(first["dataset_version"])
        assert dataset.kind == "retrain" and dataset.n_rows == 600
        assert dataset.source["kind"] == "prediction_log"
        decisions = project.retrains()
        assert [d.decision for d in decisions] == ["kept", "promoted"]
        assert decisions[0].run_id == second["run_id"] and decisions[1].challenger == 2
        accesses = project.store.meta.test_accesses(first["split_id"])
        purposes = " | ".join(a["purpose"] for a in accesses)
        assert "retrain: champion version 1 on the fresh holdout of version 2" in purposes
        assert [v["version"] for v in project.models()] == [3, 2, 1]  # kept ones are versions
        # The challenger's run replays on its recorded rows and holdout, not on data.csv.
        _, differences = project.reproduce(first["run_id"])
        assert differences["same"], differences["differences"]
    finally:
        project.close()


def test_the_gate_refuses_a_win_below_the_margin_and_a_missed_goal(shop: Path) -> None:
    shifted = shop_rows(600, seed=2, key="x2")
    shifted.drop(columns="uid").to_csv(shop / "shifted.csv", index=False)
    _spec(shop, margin=0.8)
    below = run_json("retrain", "--data", "shifted.csv", cwd=shop)
    assert below["decision"] == "kept" and below["data"]["policy"] == "source"
    gain = below["improvement"]
    assert 0.2 < gain < 0.8
    assert below["reasons"] == [
        f"challenger v2 beats v1 by {gain:.4g} roc_auc on the 180 fresh holdout rows, less "
        "than `retrain.margin` (0.8)"
    ]

    _spec(shop, margin=0.0, goals=["roc_auc >= 0.999"])
    proc = loopml("retrain", "--data", "shifted.csv", "--search", "fresh", cwd=shop)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "KEPT: version 1 stays; version 3 is registered but not promoted" in out
    assert "champion v1" in out and "challenger v3" in out  # both scores side by side
    assert "it misses the goal roc_auc >= 0.999" in out
    versions = {v["version"]: v["aliases"] for v in run_json("models", "list", cwd=shop)}
    assert versions == {3: [], 2: [], 1: ["production"]}


def test_monitor_retrains_only_when_an_alert_fires(shop: Path) -> None:
    score_and_label(shop, shop_rows(600, seed=3, key="x1", first=0), "calm")
    calm = loopml("monitor", "--since", "1h", "--retrain", "--json", cwd=shop)
    result = json.loads(calm.stdout)
    assert calm.returncode == 0 and result["alerts"] == []
    assert result["retrain"] == {"decision": "skipped", "reason": "no alert fired", "alerts": []}
    shown = loopml("monitor", "--since", "1h", "--retrain", "--no-report", cwd=shop)
    assert shown.returncode == 0 and "No retraining: no alert fired." in shown.stdout

    boundary = datetime.now(UTC).isoformat()
    _spec(shop, data={"window": boundary}, margin=0.9)
    score_and_label(shop, shop_rows(600, seed=4, key="x2", first=1000), "shifted")

    def monitor() -> dict:
        proc = loopml("monitor", "--since", boundary, "--retrain", "--json", cwd=shop)
        assert proc.returncode == 1, proc.stderr
        return json.loads(proc.stdout)

    kept = monitor()
    assert "metric_drop" in {a["rule"] for a in kept["alerts"]}
    retrain = kept["retrain"]
    assert retrain["decision"] == "kept" and retrain["challenger"] == 2
    assert retrain["trigger"]["kind"] == "monitor"
    assert retrain["trigger"]["check_id"] == kept["check_id"]
    assert {a["rule"] for a in retrain["trigger"]["alerts"]} == {a["rule"] for a in kept["alerts"]}
    assert retrain["data"]["source"]["labelled"] == 600  # only the window after the boundary
    # The alert persists; the same rows, holdout and settings are not retrained again.
    again = monitor()
    assert again["retrain"]["repeated"] and again["retrain"]["id"] == retrain["id"]
    _spec(shop, margin=0.0)
    promoted = monitor()["retrain"]
    assert promoted["decision"] == "promoted" and promoted["challenger"] == 3
    assert promoted["id"] == retrain["id"] + 1

    shown = loopml("models", "show", "3", cwd=shop)
    assert "Made by retrain #2, triggered by monitoring check #" in shown.stdout
    assert "(metric_drop" in shown.stdout and "promoted" in shown.stdout
    project = Project(shop / "loopml.yaml")
    try:
        checks = project.store.meta.monitor_checks(project.spec.name)
        assert len(checks) == 5 and [r.decision for r in project.retrains()] == ["promoted", "kept"]
        assert [v["version"] for v in project.models()] == [3, 2, 1]
    finally:
        project.close()


def test_bad_retrains_say_why_in_one_sentence(shop: Path) -> None:
    for args, text in (
        ((), "the prediction log since "),
        (("champion",), "unknown model reference `champion`"),
        (("--data", "missing.csv"), "--data missing.csv: no such file"),
    ):
        proc = loopml("retrain", *args, cwd=shop)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith("error: ") and text in proc.stderr
    sideways = loopml("retrain", "--search", "sideways", cwd=shop)
    assert (
        sideways.returncode == 2 and "'sideways' is not one of 'reuse', 'fresh'" in sideways.stderr
    )

    shifted = shop_rows(300, seed=5, key="x2")
    shifted.drop(columns="bought").to_csv(shop / "new.csv", index=False)
    project = Project(shop / "loopml.yaml")
    try:
        with pytest.raises(DataError, match="holds no predictions; serve or score some"):
            project.retrain()
        project.score("production", shop / "new.csv", shop / "out.csv", id_columns=["uid"])
        with pytest.raises(DataError, match=r"none of the 300 predictions .* `loopml feedback"):
            project.retrain()
        labels = shifted.iloc[:60].rename(columns={"uid": "request_id", "bought": "label"})
        labels[["request_id", "label"]].to_csv(shop / "labels.csv", index=False)
        project.feedback(shop / "labels.csv")
        with pytest.raises(DataError, match=r"gives 60 new row\(s\) to retrain on, fewer than "):
            project.retrain()

        shifted.drop(columns=["uid", "x3"]).to_csv(shop / "no_x3.csv", index=False)
        with pytest.raises(DataError, match=r"column `x3` is not in .*no_x3\.csv"):
            project.retrain(data=shop / "no_x3.csv")
        typed = shifted.drop(columns="uid").astype({"x1": object})
        typed.loc[7, "x1"] = "lots"
        typed.to_csv(shop / "typed.csv", index=False)
        with pytest.raises(DataError, match=r"column `x1` of .*typed\.csv holds 'lots'"):
            project.retrain(data=shop / "typed.csv")
        with pytest.raises(UsageError, match="--search must be reuse or fresh"):
            project.retrain(search="sideways")

        project.spec.retrain.min_rows = 50
        dry = project.retrain(dry_run=True).to_dict()
        assert dry["decision"] == "dry-run" and dry["id"] is None and dry["challenger"] is None
        assert dry["data"]["rows"]["fresh"] == 60 and dry["data"]["rows"]["holdout"] == 18
        assert [v["version"] for v in project.models()] == [1] and project.retrains() == []

        project.demote("production")
        with pytest.raises(NotFoundError, match="no production model to challenge"):
            project.retrain()
    finally:
        project.close()

    _spec(shop, holdout=1.5)
    proc = loopml("retrain", cwd=shop)
    assert proc.returncode == 2 and "key `retrain.holdout` has value 1.5" in proc.stderr
