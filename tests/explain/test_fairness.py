"""Fairness: numbers against a hand computation, the production gate, the CLI and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.errors import SpecError
from loopml.explain.fairness import fairness_report
from loopml.explain.fairness_render import interval_text
from loopml.spec import validate_spec
from tests.commands import loopml, run_json
from tests.explain.conftest import planted
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
            "min_group_size": 20,  # group B's held-out half of 160 test rows has about 28
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


def _accesses(root: Path) -> list[str]:
    """The purposes in the test-access log of version 1's split."""
    from loopml import Project

    project = Project(root / "loopml.yaml")
    try:
        return [
            a["purpose"] for a in project.store.meta.test_accesses(project.model("1")["split_id"])
        ]
    finally:
        project.close()


def test_the_group_table_is_readable_at_80_columns(planted_project: Path) -> None:
    result = run_json("fairness", "1", cwd=planted_project)
    text = loopml("fairness", "1", cwd=planted_project, check=True, columns=80).stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    for group in result["columns"][0]["groups"]:
        rows = [line.split() for line in text.splitlines() if line.split()[:1] == [group["group"]]]
        cells = " ".join(" ".join(row) for row in rows)
        for name, value in group["metrics"].items():
            assert interval_text(value, group["intervals"].get(name)) in cells, (name, text)


def test_fairness_bad_input_is_one_sentence(planted_project: Path) -> None:
    opened = _accesses(planted_project)
    missing = loopml("fairness", "1", "--sensitive", "nope", cwd=planted_project)
    assert missing.returncode == 2 and "--sensitive names `nope`" in missing.stderr
    assert "not a column of the test part" in missing.stderr
    assert "Traceback" not in missing.stderr
    target = loopml("fairness", "1", "--sensitive", "y", cwd=planted_project)
    assert target.returncode == 2 and "--sensitive names the target `y`" in target.stderr
    mitigate = loopml(
        "fairness", "1", "--sensitive", "y", "--mitigate", "reweight", cwd=planted_project
    )
    assert mitigate.returncode == 2 and "names the target" in mitigate.stderr
    assert _accesses(planted_project) == opened  # refused before the test part was opened
    nofile = loopml("fairness", "1", "--data", "absent.csv", cwd=planted_project)
    assert nofile.returncode != 0 and "absent.csv does not exist" in nofile.stderr
    unknown = loopml("fairness", "9", cwd=planted_project)
    assert unknown.returncode == 2 and "no model version 9" in unknown.stderr


def test_reweighing_weights_by_hand() -> None:
    from loopml.explain.mitigate import reweighing

    # g a: labels 1 1 0, g b: labels 0. P(a)=3/4, P(1)=1/2, P(a,1)=1/2 -> 3/4.
    weights = reweighing(pd.Series(["a", "a", "a", "b"]), pd.Series([1, 1, 0, 0]))
    assert weights == pytest.approx([0.75, 0.75, 1.5, 0.5])


def test_a_continuous_target_is_reweighed_by_its_quantile_bins() -> None:
    from loopml.explain.mitigate import TARGET_BINS, label_strata, reweighing

    rng = np.random.default_rng(0)
    groups = pd.Series(np.where(rng.random(1000) < 0.2, "minority", "majority"))
    y = pd.Series(rng.normal(size=1000) + (groups == "minority") * 1.0)
    bins = label_strata(y, "regression")
    assert bins.nunique() == TARGET_BINS and bins.value_counts().max() == 1000 // TARGET_BINS
    weights = reweighing(groups, bins)
    assert weights.mean() == pytest.approx(1.0)
    # Weighted, each group has the same share of every target bin: independence.
    shares = (
        pd.Series(weights).groupby([groups, bins]).sum() / pd.Series(weights).groupby(groups).sum()
    )
    assert shares.to_numpy() == pytest.approx(np.full(2 * TARGET_BINS, 1 / TARGET_BINS))
    # Not every row its own label: the minority is not down-weighted to P(g) = 0.2.
    assert weights[(groups == "minority").to_numpy()].mean() > 0.9


def test_mitigation_tables_are_measured_on_held_out_rows(planted_project: Path) -> None:
    thresholds = run_json("fairness", "1", "--mitigate", "thresholds", cwd=planted_project)
    [table] = thresholds["mitigations"]
    assert table["column"] == "group"
    before, after = table["rows"]
    assert before["model"] == "before" and after["model"] == "after thresholds"
    # Equal selection rates by construction on the choosing half; close on the judging half.
    gap = "demographic_parity_difference"
    assert after[gap] < before[gap] / 2
    reweight = run_json("fairness", "1", "--mitigate", "reweight", cwd=planted_project)
    assert reweight["mitigations"][0]["rows"][0] == before  # the same held-out rows judge both
    assert reweight["mitigations"][0]["rows"][1][gap] < before[gap]
    test_rows = run_json("fairness", "1", cwd=planted_project)["n_rows"]
    assert abs(2 * table["held_out_rows"] - test_rows) <= 1  # two halves
    text = loopml("fairness", "1", "--mitigate", "reweight", cwd=planted_project, check=True)
    assert "Mitigation by reweight for `group`" in text.stdout and "after reweight" in text.stdout


def test_mitigation_is_measured_for_each_sensitive_column(
    planted_project: Path, tmp_path: Path
) -> None:
    rows = planted(400, seed=7)
    rows["region"] = np.where(np.arange(len(rows)) % 3 == 0, "north", "south")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    args = ["--data", str(tmp_path / "rows.csv"), "--sensitive", "group", "--sensitive", "region"]
    result = run_json("fairness", "1", *args, "--mitigate", "thresholds", cwd=planted_project)
    assert [m["column"] for m in result["mitigations"]] == ["group", "region"]
    assert all(abs(2 * m["held_out_rows"] - len(rows)) <= 1 for m in result["mitigations"])
    text = loopml("fairness", "1", *args, "--mitigate", "thresholds", cwd=planted_project).stdout
    assert "for `group`" in text and "for `region`" in text


def test_reweighing_a_knn_model_is_refused_in_one_sentence(knn_project: Path) -> None:
    opened = _accesses(knn_project)
    proc = loopml("fairness", "1", "--mitigate", "reweight", cwd=knn_project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "its knn member (KNeighborsClassifier) takes none" in proc.stderr
    assert "--mitigate thresholds" in proc.stderr and "--families" in proc.stderr
    assert _accesses(knn_project) == opened


def test_regression_mitigation_cuts_two_halves(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("reg")
    frame = planted(600, seed=3)
    b = (frame["group"] == "B").to_numpy()
    frame["y"] = (2 * frame["x1"] + 1.5 * b + np.random.default_rng(3).normal(size=600)).round(3)
    write_project(
        root,
        frame,
        "y",
        "regression",
        fairness={"sensitive": ["group"], "min_group_size": 10},
        train={"time_budget": 30, "families": ["linear"], "max_trials": 1, "jobs": 1},
    )
    loopml("train", cwd=root, check=True)
    result = run_json("fairness", "1", "--mitigate", "reweight", cwd=root)
    [table] = result["mitigations"]
    test_rows = run_json("fairness", "1", cwd=root)["n_rows"]
    assert abs(2 * table["held_out_rows"] - test_rows) <= 1
    assert "quantile bin" in table["how"] and any("quantile bins" in n for n in table["notes"])
    assert {"mae", "mae_difference"} <= set(table["columns"])
    refused = loopml("fairness", "1", "--mitigate", "thresholds", cwd=root)
    assert refused.returncode == 2 and "binary models" in refused.stderr


def test_the_card_is_generated_from_the_store(planted_project: Path, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(planted_project, root)
    run_json("models", "promote", "1", "production", "--force", "--reason", "board ok", cwd=root)
    opened = _accesses(root)  # the final evaluation, and the other tests' looks
    run_json("fairness", "1", cwd=root)  # one more look at the test part, logged
    data = run_json("card", "production", cwd=root)
    evaluation = data["evaluation_data"]
    purposes = [a["purpose"] for a in evaluation["accesses"]]
    assert purposes == [*opened, "fairness check of version 1"]
    assert evaluation["opened"] == len(purposes) and purposes[0].startswith("final evaluation")
    checks = purposes.count("fairness check of version 1")
    assert evaluation["use"].startswith(f"opened {len(purposes)} times: 1 final evaluation, ")
    assert f"{checks} fairness check{'s' if checks > 1 else ''}" in evaluation["use"]
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
    assert evaluation["use"] in markdown and "used once" not in markdown
    assert "fairness check of version 1" in markdown
    loopml("card", "1", cwd=root, check=True)
    html = (root / "reports" / "card-1.html").read_text()
    assert "Model card" in html and "board ok" in html and "demographic_parity_difference" in html
    missing = loopml("card", "5", cwd=root)
    assert missing.returncode == 2 and "no model version 5" in missing.stderr
