"""Fairness: numbers against a hand computation, the production gate, the CLI and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.errors import SpecError
from loopml.explain.fairness import fairness_report
from loopml.spec import validate_spec
from tests.commands import loopml, run_json
from tests.runs.conftest import write_project

# 12 rows, 2 groups. Group a: y 1 1 1 0 0 0, predicted 1 1 0 1 0 0 -> TP 2, FN 1, FP 1, TN 2.
# Group b: y 1 1 0 0 0 0, predicted 1 0 0 0 0 0 -> TP 1, FN 1, FP 0, TN 4.
Y = [1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0]
P = [1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
GROUPS = pd.DataFrame({"sex": ["a"] * 6 + ["b"] * 6})


def test_binary_numbers_match_a_hand_computation() -> None:
    report = fairness_report("binary", Y, P, GROUPS, classes=[0, 1], min_group_size=5, seed=1)
    column = report["columns"][0]
    by_group = {g["group"]: g["metrics"] for g in column["groups"]}
    assert by_group["a"] == pytest.approx(
        {"selection_rate": 3 / 6, "tpr": 2 / 3, "fpr": 1 / 3, "precision": 2 / 3, "accuracy": 4 / 6}
    )
    assert by_group["b"] == pytest.approx(
        {"selection_rate": 1 / 6, "tpr": 1 / 2, "fpr": 0.0, "precision": 1.0, "accuracy": 5 / 6}
    )
    assert column["gaps"] == pytest.approx(
        {
            "demographic_parity_difference": 3 / 6 - 1 / 6,
            "demographic_parity_ratio": (1 / 6) / (3 / 6),
            "equalized_odds_difference": max(2 / 3 - 1 / 2, 1 / 3 - 0.0),
            "accuracy_difference": 5 / 6 - 4 / 6,
        }
    )
    assert column["worst"]["group"] == "a"
    for group in column["groups"]:  # every interval holds its point value
        for name, (low, high) in group["intervals"].items():
            assert low <= group["metrics"][name] + 1e-12 and group["metrics"][name] <= high + 1e-12
    again = fairness_report("binary", Y, P, GROUPS, classes=[0, 1], min_group_size=5, seed=1)
    assert again == report  # seeded: the same intervals


def test_small_groups_are_flagged_left_out_of_gaps_and_get_wide_intervals() -> None:
    rng = np.random.default_rng(0)
    n_big = 400
    y = np.r_[rng.integers(0, 2, n_big), [1, 0, 1, 0, 1]]
    pred = np.r_[rng.integers(0, 2, n_big), [1, 1, 1, 1, 1]]
    groups = pd.DataFrame({"g": ["big"] * (n_big // 2) + ["mid"] * (n_big // 2) + ["tiny"] * 5})
    column = fairness_report("binary", y, pred, groups, classes=[0, 1], min_group_size=30)[
        "columns"
    ][0]
    rows = {g["group"]: g for g in column["groups"]}
    assert rows["tiny"]["small"] and not rows["big"]["small"]
    width = {
        k: r["intervals"]["accuracy"][1] - r["intervals"]["accuracy"][0] for k, r in rows.items()
    }
    assert width["tiny"] > 2 * width["big"]
    # tiny selects everyone: with it the parity gap would be about 0.5; without it, small.
    big = [rows["big"]["metrics"]["selection_rate"], rows["mid"]["metrics"]["selection_rate"]]
    assert column["gaps"]["demographic_parity_difference"] == pytest.approx(max(big) - min(big))
    one = fairness_report("binary", y, pred, groups[["g"]].replace("mid", "big"), min_group_size=30)
    assert one["columns"][0]["gaps"] == {} and "fewer than two groups" in one["columns"][0]["note"]


def test_regression_and_multiclass_gaps_by_hand() -> None:
    y = np.arange(8.0)
    pred = y + np.r_[[1, -1, 1, -1], [3, 3, -3, -3]]  # group a: errors of 1, group b: of 3
    groups = pd.DataFrame({"g": list("aaaabbbb")})
    reg = fairness_report("regression", y, pred, groups, min_group_size=2)["columns"][0]
    assert reg["gaps"] == pytest.approx({"mae_difference": 2.0, "rmse_difference": 2.0})
    assert reg["worst"]["group"] == "b"
    y = np.array(list("xyzxyz"))
    pred = np.array(list("xyyxzz"))  # group a (first 3) predicts z as y; b gets y wrong
    mc = fairness_report(
        "multiclass",
        y,
        pred,
        pd.DataFrame({"g": list("aaabbb")}),
        classes=list("xyz"),
        min_group_size=1,
    )["columns"][0]
    a = next(g for g in mc["groups"] if g["group"] == "a")["metrics"]
    assert a["selection_rate[y]"] == pytest.approx(2 / 3) and a["accuracy"] == pytest.approx(2 / 3)
    # selection of y: a 2/3, b 0 -> 2/3; of z: a 0, b 2/3 -> 2/3; TPR of y: a 1, b 0 -> 1.
    assert mc["gaps"]["demographic_parity_difference"] == pytest.approx(2 / 3)
    assert mc["gaps"]["equalized_odds_difference"] == pytest.approx(1.0)
    assert mc["gaps"]["demographic_parity_ratio"] == pytest.approx(0.0)


def test_threshold_checks_pass_and_fail_by_direction() -> None:
    thresholds = {"demographic_parity_difference": 0.4, "demographic_parity_ratio": 0.8}
    checks = fairness_report(
        "binary", Y, P, GROUPS, classes=[0, 1], thresholds=thresholds, min_group_size=5
    )["checks"]
    status = {c["gap"]: (c["op"], c["status"]) for c in checks}
    assert status == {
        "demographic_parity_difference": ("<=", "pass"),  # 1/3 <= 0.4
        "demographic_parity_ratio": (">=", "fail"),  # 1/3 < 0.8
    }


@pytest.mark.parametrize(
    ("fairness", "message"),
    [
        ({"sensitive": ["g"], "thresholds": {"parity": 0.1}}, "unknown gap `parity`"),
        ({"sensitive": ["g"], "thresholds": {"mae_difference": 1}}, "does not fit task binary"),
        ({"sensitive": ["g"], "thresholds": {"demographic_parity_ratio": 2}}, "between 0 and 1"),
        ({"sensitive": ["y"]}, "names the target"),
        ({"sensitive": []}, "fairness.sensitive"),
    ],
)
def test_bad_fairness_specs_name_the_key(fairness: dict, message: str) -> None:
    raw = {"name": "t", "data": {"path": "d.csv"}, "target": "y", "task": "binary"}
    with pytest.raises(SpecError, match=message):
        validate_spec(raw | {"fairness": fairness})


def planted(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Group B gets positives far more often (planted), and `proxy` gives the group away."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.65, "A", "B")
    b = (group == "B").astype(float)
    x1 = rng.normal(size=n)
    proxy = b + rng.normal(scale=0.3, size=n)
    y = (x1 + 1.5 * b + rng.normal(scale=0.5, size=n) > 0.75).astype(int)
    return pd.DataFrame({"x1": x1.round(4), "proxy": proxy.round(4), "group": group, "y": y})


@pytest.fixture(scope="module")
def planted_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logistic model trained on the planted data, `group` out of its features."""
    root = tmp_path_factory.mktemp("fair")
    write_project(
        root,
        planted(),
        "y",
        "binary",
        fairness={
            "sensitive": ["group"],
            "thresholds": {"demographic_parity_difference": 0.1},
        },
        train={"time_budget": 30, "families": ["logistic"], "max_trials": 1, "jobs": 1},
        card={"intended_use": "Rank cases for review.", "caveats": ["Synthetic data."]},
    )
    loopml("train", cwd=root, check=True)
    return root


def test_training_records_fairness_and_the_gate_refuses(
    planted_project: Path, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    shutil.copytree(planted_project, root)
    shown = run_json("models", "show", "1", cwd=root)
    assert "group" not in shown["card"]["inputs"]  # excluded from the features ...
    recorded = shown["card"]["fairness"]  # ... and still checked
    gap = recorded["columns"][0]["gaps"]["demographic_parity_difference"]
    assert gap > 0.3  # the planted disparity shows through the proxy
    assert recorded["checks"][0]["status"] == "fail"
    refused = loopml("models", "promote", "1", "production", cwd=root)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "demographic_parity_difference on `group` is" in refused.stderr
    assert f"{gap:.4g}" in refused.stderr and "<= 0.1" in refused.stderr
    assert run_json("models", "list", cwd=root)[0]["aliases"] == []  # nothing moved
    forced = run_json(
        "models", "promote", "1", "production", "--force", "--reason", "reviewed", cwd=root
    )
    assert forced["forced"] is True


def test_fairness_on_demand_matches_the_record_and_logs_the_access(
    planted_project: Path, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    shutil.copytree(planted_project, root)
    recorded = run_json("models", "show", "1", cwd=root)["card"]["fairness"]
    result = run_json("fairness", "1", cwd=root)
    assert result["columns"] == recorded["columns"] and result["checks"] == recorded["checks"]
    from loopml import Project

    project = Project(root / "loopml.yaml")
    split = project.model("1")["split_id"]
    purposes = [a["purpose"] for a in project.store.meta.test_accesses(split)]
    project.close()
    assert "fairness check of version 1" in purposes
    # By hand from a labelled file: the model's decisions per group.
    rows = planted(300, seed=5)
    rows.to_csv(root / "new.csv", index=False)
    on_file = run_json("fairness", "1", "--data", "new.csv", cwd=root)
    project = Project(root / "loopml.yaml")
    decided = project.predict(rows, "1")
    project.close()
    for group in on_file["columns"][0]["groups"]:
        mask = (rows["group"] == group["group"]).to_numpy()
        assert group["n"] == mask.sum()
        rate = float((decided["prediction"].to_numpy()[mask] == 1).mean())
        assert group["metrics"]["selection_rate"] == pytest.approx(rate)
    text = loopml("fairness", "1", cwd=root, check=True).stdout
    assert "demographic_parity_difference" in text and "fail" in text


def test_fairness_bad_input_is_one_sentence(planted_project: Path) -> None:
    missing = loopml("fairness", "1", "--sensitive", "nope", cwd=planted_project)
    assert missing.returncode != 0 and "sensitive column `nope`" in missing.stderr
    assert "Traceback" not in missing.stderr
    nofile = loopml("fairness", "1", "--data", "absent.csv", cwd=planted_project)
    assert nofile.returncode != 0 and "absent.csv does not exist" in nofile.stderr
    unknown = loopml("fairness", "9", cwd=planted_project)
    assert unknown.returncode == 2 and "no model version 9" in unknown.stderr


def test_reweighing_weights_by_hand() -> None:
    from loopml.explain.mitigate import reweighing

    # g a: labels 1 1 0, g b: labels 0. P(a)=3/4, P(1)=1/2, P(a,1)=1/2 -> 3/4.
    weights = reweighing(pd.Series(["a", "a", "a", "b"]), pd.Series([1, 1, 0, 0]))
    assert weights == pytest.approx([0.75, 0.75, 1.5, 0.5])


def test_mitigation_tables_are_measured_on_held_out_rows(planted_project: Path) -> None:
    thresholds = run_json("fairness", "1", "--mitigate", "thresholds", cwd=planted_project)
    before, after = thresholds["rows"]
    assert before["model"] == "before" and after["model"] == "after thresholds"
    # Equal selection rates by construction on the choosing half; close on the judging half.
    gap = "demographic_parity_difference"
    assert after[gap] < before[gap] / 2
    reweight = run_json("fairness", "1", "--mitigate", "reweight", cwd=planted_project)
    assert reweight["rows"][0] == before  # the same held-out rows judge both methods
    assert reweight["rows"][1][gap] < before[gap]
    assert thresholds["held_out_rows"] + len(thresholds["notes"]) > 1
    text = loopml("fairness", "1", "--mitigate", "reweight", cwd=planted_project, check=True)
    assert "after reweight" in text.stdout


def test_the_card_is_generated_from_the_store(planted_project: Path, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(planted_project, root)
    run_json("models", "promote", "1", "production", "--force", "--reason", "board ok", cwd=root)
    data = run_json("card", "production", cwd=root)
    assert data["version"] == 1 and data["aliases"] == ["production"]
    assert data["use"]["intended_use"] == "Rank cases for review."
    assert data["caveats"][0] == "Synthetic data."
    assert data["approvals"][-1]["reason"] == "board ok" and data["approvals"][-1]["forced"]
    recorded = run_json("models", "show", "1", cwd=root)["card"]
    assert data["fairness"] == recorded["fairness"]
    assert {m["metric"] for m in data["metrics"]} >= {"roc_auc", "accuracy"}
    assert any("Weakest segment of `group`" in c for c in data["caveats"])
    assert any("demographic_parity_difference" in c for c in data["caveats"])
    assert data["explanation"] and data["lineage"]["run"] == recorded["run"]
    loopml("card", "production", "--format", "md", "-o", "card.md", cwd=root, check=True)
    markdown = (root / "card.md").read_text()
    for heading in ("Intended use", "Training data", "Metrics", "Fairness", "Caveats", "Approvals"):
        assert f"## {heading}" in markdown
    assert "board ok" in markdown and "| B |" in markdown
    loopml("card", "1", cwd=root, check=True)
    html = (root / "reports" / "card-1.html").read_text()
    assert "Model card" in html and "board ok" in html and "demographic_parity_difference" in html
    missing = loopml("card", "5", cwd=root)
    assert missing.returncode == 2 and "no model version 5" in missing.stderr
