"""`loopml explain` on the trained demo project: local rows add up, global tables and pages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from loopml.api import Project
from loopml.explain.summary import SAMPLED_ROWS
from tests.commands import loopml, run_json
from tests.explain.conftest import planted
from tests.serve.conftest import demo_records

COLUMNS = [
    "flight_date",
    "sched_dep_time",
    "sched_arr_time",
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "distance",
    "temp",
    "humid",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
]


def test_a_local_explanation_adds_up_to_the_prediction(trained_demo: object) -> None:
    root = trained_demo.root
    records = demo_records(root, 3, COLUMNS)
    result = run_json("explain", "1", "--row", json.dumps(records), "--top", "4", cwd=root)
    assert result["kind"] == "local" and result["model_version"] == 1
    assert "probability of class `yes`" in result["space"]
    predicted = Project(root).predict(pd.DataFrame.from_records(records), "1")
    for row, proba in zip(result["explanations"], predicted["proba_yes"], strict=True):
        assert len(row["contributions"]) == 4 and row["rest_count"] == len(COLUMNS) - 4
        total = row["base_value"] + sum(c["contribution"] for c in row["contributions"])
        assert abs(total + row["rest"] - row["output"]) < 1e-9
        assert abs(row["output"] - proba) < 1e-9
        sizes = [abs(c["contribution"]) for c in row["contributions"]]
        assert sizes == sorted(sizes, reverse=True)
        assert {c["feature"] for c in row["contributions"]} <= set(COLUMNS)  # no one-hot names
    people = loopml("explain", "1", "--row", json.dumps(records[0]), cwd=root, check=True)
    assert "Record 0" in people.stdout and "other columns" in people.stdout


def test_global_explanations_at_training_and_on_given_rows(
    trained_demo: object, tmp_path: Path
) -> None:
    root = trained_demo.root
    recorded = run_json("explain", "latest", cwd=root)
    assert recorded["kind"] == "global" and recorded["rows"] > 0
    assert {e["feature"] for e in recorded["importance"]} == set(COLUMNS)
    assert recorded["permutation"], "the permutation importance of training comes along"
    report = Path(trained_demo.result["report"]).read_text()
    assert "SHAP values" in report and "Mean absolute SHAP value per column" in report
    rows = pd.read_csv(root / "data" / "flights.csv").head(150).astype({"distance": object})
    rows.loc[3, "distance"] = "far"  # fails the signature: left out, and said so
    source = tmp_path / "sample.csv"
    rows.to_csv(source, index=False)
    page = tmp_path / "explain.html"
    result = run_json("explain", "1", "--data", str(source), "--report", str(page), cwd=root)
    assert result["rows"] == 149 and result["rows_given"] == 149
    assert any("row 3" in note and "distance" in note for note in result["notes"])
    means = [e["mean_abs"] for e in result["importance"]]
    assert means == sorted(means, reverse=True) and means[0] > 0
    html = page.read_text()
    assert result["report"] == str(page) and "data:image/png;base64" in html
    assert "SHAP value of each row" in html


def test_bad_input_is_one_sentence_and_a_failing_exit(trained_demo: object, tmp_path: Path) -> None:
    root = trained_demo.root
    good = demo_records(root, 1, COLUMNS)[0]
    cases = [
        (["--row", "{not json"], "not valid JSON"),
        (["--row", "[1, 2]"], "JSON object"),
        (["--row", json.dumps(good | {"distance": "far"})], "field `distance`: expected a number"),
        (["--row", json.dumps({k: v for k, v in good.items() if k != "carrier"})], "`carrier`"),
        (["--row", json.dumps(good), "--data", str(tmp_path / "x.csv")], "not both"),
        (["--row", json.dumps(good), "--top", "0"], "--top"),
    ]
    for args, says in cases:
        proc = loopml("explain", "1", *args, cwd=root)
        assert proc.returncode != 0, args
        assert says in proc.stderr + proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    unknown = loopml("explain", "no-such-alias", "--row", json.dumps(good), cwd=root)
    assert unknown.returncode != 0 and "no-such-alias" in unknown.stderr + unknown.stdout


def test_a_sampled_explainer_has_its_own_row_budget_and_shows_progress(
    knn_project: Path, tmp_path: Path
) -> None:
    planted(300, seed=2).to_csv(tmp_path / "sample.csv", index=False)
    result = run_json("explain", "1", "--data", str(tmp_path / "sample.csv"), cwd=knn_project)
    assert result["methods"] == ["permutation SHAP (sampled)"]
    assert result["rows"] == SAMPLED_ROWS and result["rows_given"] == 300
    [note] = [n for n in result["notes"] if "seeded sample" in n]
    assert "sampled" in note and "knn" in note and "--max-rows" in note
    fewer = run_json(
        "explain", "1", "--data", str(tmp_path / "sample.csv"), "--max-rows", "20", cwd=knn_project
    )
    assert fewer["rows"] == 20
    progress = _Recorder()
    project = Project(knn_project)
    try:
        project.explain("1", data=tmp_path / "sample.csv", max_rows=40, progress=progress)
    finally:
        project.close()
    assert progress.phases == [("Explaining 40 rows", 40)]
    assert sum(progress.advances) == 40 and len(progress.advances) > 1


def test_a_time_budget_explains_a_sample_and_says_so(knn_project: Path, tmp_path: Path) -> None:
    planted(300, seed=3).to_csv(tmp_path / "sample.csv", index=False)
    sample = str(tmp_path / "sample.csv")
    args = ["explain", "1", "--data", sample, "--max-rows", "300", "--time-budget", "1"]
    result = run_json(*args, cwd=knn_project)
    assert 0 < result["rows"] < 300 and result["rows_given"] == 300
    [note] = [n for n in result["notes"] if "seeded sample" in n]
    assert "ms a row" in note and "time budget of 1 s" in note and "--time-budget" in note
    for bad in (["--data", sample, "--time-budget", "0"], ["--row", "{}", "--time-budget", "5"]):
        proc = loopml("explain", "1", *bad, cwd=knn_project)
        assert proc.returncode == 2 and "--time-budget" in proc.stderr, proc.stderr


class _Recorder:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, float | None]] = []
        self.advances: list[float] = []

    def phase(self, description: str, total: float | None = None) -> None:
        self.phases.append((description, total))

    def advance(self, amount: float = 1) -> None:
        self.advances.append(amount)

    def describe(self, text: str) -> None:
        pass


def test_a_record_may_hold_the_columns_the_model_leaves_out(knn_project: Path) -> None:
    record = planted(1, seed=4).iloc[0].to_dict()  # x1, proxy, group (sensitive), y (target)
    result = run_json("explain", "1", "--row", json.dumps(record), cwd=knn_project)
    assert {c["feature"] for c in result["explanations"][0]["contributions"]} == {"x1", "proxy"}
    typo = loopml("explain", "1", "--row", json.dumps(record | {"x2": 1}), cwd=knn_project)
    assert typo.returncode == 2 and "field `x2`: unexpected" in typo.stderr


def test_report_with_a_row_is_refused_and_serve_help_names_explain(knn_project: Path) -> None:
    record = json.dumps(planted(1).iloc[0].drop(["group", "y"]).to_dict())
    proc = loopml("explain", "1", "--row", record, "--report", "x.html", cwd=knn_project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--report writes the page of a global explanation" in proc.stderr
    assert not (knn_project / "x.html").exists()
    rows = loopml("explain", "1", "--row", record, "--max-rows", "5", cwd=knn_project)
    assert rows.returncode == 2 and "--max-rows" in rows.stderr
    helped = loopml("serve", "--help", cwd=knn_project, check=True).stdout
    assert "/predict" in helped and "/explain" in helped
