"""`loopml train`, `runs`, `score` and `reproduce` driven through the real CLI on the demo."""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import loopml
from loopml.runs.scoring import read_input
from tests.commands import loopml as run_loopml
from tests.commands import run_json
from tests.runs.conftest import Trained, write_project


def test_train_json_reports_the_run(trained_demo: Trained) -> None:
    result = trained_demo.result
    assert {"run_id", "model", "leaderboard", "test_metrics", "baseline_test_metrics"} <= set(
        result
    )
    board = result["leaderboard"]
    names = [row["name"] for row in board]
    assert "baseline" in names
    ranked = [row for row in board if row["rank"] is not None]
    assert [row["rank"] for row in ranked] == list(range(1, len(ranked) + 1))
    scores = [row["cv_score"] for row in ranked]
    assert scores == sorted(scores, reverse=True)  # roc_auc: higher first
    families = {row["family"] for row in board}
    assert families <= {"baseline", "logistic", "decision_tree", "lightgbm", "ensemble"}
    # The model beats the prior-class baseline on the sealed test part, with an interval.
    metrics, baseline = result["test_metrics"], result["baseline_test_metrics"]
    assert baseline["roc_auc"] == pytest.approx(0.5)
    assert metrics["roc_auc"] > 0.6
    assert result["improvement"]["significantly_better"]
    low, high = result["intervals"]["roc_auc"]
    assert low < metrics["roc_auc"] < high
    assert set(metrics["confusion_matrix"]) == {"labels", "matrix"}
    assert result["wall_seconds"] <= 120 * 1.1


def test_train_records_trials_and_one_test_access(trained_demo: Trained) -> None:
    db = trained_demo.root / ".loopml" / "metadata.db"
    run_id = trained_demo.result["run_id"]
    with sqlite3.connect(db) as conn:
        trials = conn.execute(
            "SELECT number, family, status, params FROM trials WHERE run_id = ?", (run_id,)
        ).fetchall()
        accesses = conn.execute("SELECT purpose FROM test_access").fetchall()
        run = conn.execute(
            "SELECT status, environment FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
    assert sorted(t[0] for t in trials) == list(range(7))  # baseline + six trials
    assert trials[0][1] == "baseline"
    assert accesses == [(f"final evaluation of run {run_id}",)]
    assert run[0] == "complete"
    environment = json.loads(run[1])
    assert environment["packages"]["scikit-learn"] and environment["python"]


def test_report_is_written_with_charts(trained_demo: Trained) -> None:
    report = Path(trained_demo.result["report"])
    html = report.read_text()
    assert report.parent == trained_demo.root / "reports"
    assert html.count("data:image/png;base64,") >= 4  # ROC, PR, calibration, confusion, ...
    assert trained_demo.result["run_id"] in html and "http://" not in html.split("<body", 1)[1]


def test_runs_list_show_and_compare(trained_demo: Trained) -> None:
    root = trained_demo.root
    run_id = trained_demo.result["run_id"]
    listed = run_json("runs", "list", cwd=root)
    assert [r["run_id"] for r in listed] == [run_id]
    assert listed[0]["metric"] == "roc_auc"
    assert listed[0]["test_score"] == pytest.approx(trained_demo.result["test_metrics"]["roc_auc"])
    shown = run_json("runs", "show", run_id[:8], cwd=root)
    assert shown["id"] == run_id and len(shown["trials"]) == 7
    signature = {c["name"]: c for c in shown["chosen"]["signature"]["columns"]}
    assert signature["origin"]["categories"] == ["EWR", "JFK", "LGA"]
    assert signature["wind_gust"]["nullable"] and signature["distance"]["min"] > 0
    # Reference statistics for monitoring: every input column and the predictions.
    reference = shown["chosen"]["reference"]
    assert set(reference["features"]) == set(signature)
    assert reference["features"]["origin"]["shares"].keys() == {"EWR", "JFK", "LGA"}
    assert (
        reference["prediction"]["kind"] == "numeric"
        and len(reference["prediction"]["quantiles"]) == 101
    )
    text = run_loopml("runs", "show", "latest", cwd=root, check=True).stdout
    assert "Leaderboard" in text and "baseline" in text and "roc_auc" in text
    compared = run_json("runs", "compare", run_id, "latest", cwd=root)
    assert compared["same"] is True and len(compared["runs"]) == 2
    assert "Run comparison" in run_loopml("runs", "compare", run_id, run_id, cwd=root).stdout


def test_score_equals_the_python_api(trained_demo: Trained, tmp_path: Path) -> None:
    root = trained_demo.root
    source = root / "data" / "flights.csv"
    out = tmp_path / "scored.parquet"
    summary = run_json("score", "latest", str(source), str(out), "--id", "flight", cwd=root)
    assert summary["rows"] == 5000 and summary["model_version"] == 1
    assert summary["scored"] + summary["rejected"] == 5000
    scored = pd.read_parquet(out)
    assert list(scored.columns) == [
        "row",
        "flight",
        "prediction",
        "proba_no",
        "proba_yes",
        "model_version",
    ]
    assert len(scored) == summary["scored"] and (scored["model_version"] == 1).all()
    np.testing.assert_allclose(scored[["proba_no", "proba_yes"]].sum(axis=1), 1.0)
    project = loopml.Project(root / "loopml.yaml")
    frame = read_input(source)
    expected = project.predict(frame.iloc[scored["row"]])
    np.testing.assert_array_equal(scored["proba_yes"].to_numpy(), expected["proba_yes"].to_numpy())
    assert scored["prediction"].tolist() == expected["prediction"].tolist()
    assert scored["flight"].tolist() == frame["flight"].iloc[scored["row"]].tolist()
    project.close()
    # Rows the signature refuses are kept aside with their reason, never dropped.
    if summary["rejected"]:
        rejected = pd.read_parquet(summary["rejected_file"])
        assert len(rejected) == summary["rejected"] and rejected["reason"].str.len().gt(0).all()
        assert set(rejected["row"]).isdisjoint(scored["row"])
    csv_out = tmp_path / "scored.csv"
    run_id = trained_demo.result["run_id"][:10]
    run_loopml("score", run_id, str(source), str(csv_out), cwd=root, check=True)
    assert len(pd.read_csv(csv_out)) == summary["scored"]


def test_score_rejects_bad_rows_with_reasons(demo_copy: Path) -> None:
    frame = pd.read_csv(demo_copy / "data" / "flights.csv").head(200)
    frame["distance"] = frame["distance"].astype(object)
    frame.loc[3, "distance"] = "far"
    frame.loc[5, "origin"] = "BOS"
    frame.to_csv(demo_copy / "bad.csv", index=False)
    summary = run_json("score", "1", "bad.csv", "out.csv", "--unknown", "reject", cwd=demo_copy)
    rejected = pd.read_csv(demo_copy / "out.rejected.csv").set_index("row")
    assert {3, 5} <= set(rejected.index)
    assert rejected.loc[3, "reason"] == "`distance` is not a number"
    assert "category training never saw" in rejected.loc[5, "reason"]
    assert summary["scored"] + summary["rejected"] == 200
    allowed = run_json("score", "1", "bad.csv", "out.csv", cwd=demo_copy)
    assert allowed["rejected"] == summary["rejected"] - 1  # BOS passes under "allow"
    # When no row passes, the output still exists: its columns, no rows.
    frame.head(3).assign(distance="far").to_csv(demo_copy / "allbad.csv", index=False)
    for suffix in ("csv", "parquet"):
        none = run_json(
            "score", "1", "allbad.csv", f"none.{suffix}", "--id", "flight", cwd=demo_copy
        )
        assert none["scored"] == 0 and none["rejected"] == 3
        path = demo_copy / f"none.{suffix}"
        empty = pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)
        assert empty.empty
        assert list(empty.columns) == [
            "row",
            "flight",
            "prediction",
            "proba_no",
            "proba_yes",
            "model_version",
        ]


def test_score_streams_a_sql_table_in_chunks(demo_copy: Path) -> None:
    import sqlalchemy as sa

    frame = pd.read_csv(demo_copy / "data" / "flights.csv")
    big = pd.concat([frame] * 14, ignore_index=True)  # 70,000 rows: two chunks
    engine = sa.create_engine(f"sqlite:///{demo_copy / 'flights.db'}")
    big.to_sql("flights", engine, index=False)
    engine.dispose()
    url = f"sqlite:///{demo_copy / 'flights.db'}"
    summary = run_json("score", "latest", url, "out.parquet", "--table", "flights", cwd=demo_copy)
    assert summary["rows"] == 70_000
    scored = pd.read_parquet(demo_copy / "out.parquet")
    assert len(scored) == summary["scored"] and scored["row"].is_monotonic_increasing
    assert scored["row"].max() > 65_536


@pytest.mark.parametrize(
    ("args", "fragment", "code"),
    [
        (["latest", "missing.csv", "out.csv"], "does not exist; check the path given", 2),
        (
            ["latest", "sqlite:///flights.db", "out.csv"],
            "give exactly one of --table or --query",
            2,
        ),
        (["latest", "data/flights.csv", "out.csv", "--table", "t"], "go with a SQL URL", 2),
        (["latest", "data/flights.csv", "out.txt"], "use .csv or .parquet", 2),
        (["0123456789ab", "data/flights.csv", "out.csv"], "no run", 2),
        (["latest", "nocols.csv", "out.csv"], "lacks column", 2),
        (["latest", "empty.csv", "out.csv"], "empty", 2),
        (["latest", "data/flights.csv", "out.csv", "--id", "nope"], "no ID column", 2),
    ],
)
def test_score_bad_input(demo_copy: Path, args: list[str], fragment: str, code: int) -> None:
    frame = pd.read_csv(demo_copy / "data" / "flights.csv")
    frame.drop(columns=["carrier", "distance"]).to_csv(demo_copy / "nocols.csv", index=False)
    (demo_copy / "empty.csv").write_text("")
    proc = run_loopml("score", *args, cwd=demo_copy)
    assert proc.returncode == code, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert not (demo_copy / "out.csv").exists()


def test_tampered_model_is_refused(demo_copy: Path) -> None:
    objects = list((demo_copy / ".loopml" / "artifacts").rglob("*.skops"))
    assert objects
    for path in objects:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.chmod(0o644)
        path.write_bytes(bytes(data))
    proc = run_loopml("score", "latest", "data/flights.csv", "out.csv", cwd=demo_copy)
    assert proc.returncode != 0
    assert "sha256" in proc.stderr or "checksum" in proc.stderr
    assert "Traceback" not in proc.stderr and not (demo_copy / "out.csv").exists()


def test_reproduce_gives_the_same_model_and_metrics(demo_copy: Path, trained_demo: Trained) -> None:
    run_id = trained_demo.result["run_id"]
    proc = run_loopml("reproduce", run_id, "--json", cwd=demo_copy)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    outcome = json.loads(proc.stdout)
    assert outcome["same"] is True and outcome["differences"] == []
    assert outcome["a"] == run_id and outcome["run_id"] != run_id
    runs = run_json("runs", "list", cwd=demo_copy)
    assert len(runs) == 2 and all(r["status"] == "complete" for r in runs)


def test_reproduce_refuses_changed_data(demo_copy: Path, trained_demo: Trained) -> None:
    data = demo_copy / "data" / "flights.csv"
    lines = data.read_text().splitlines(keepends=True)
    data.write_text("".join(lines[:-10]))
    proc = run_loopml("reproduce", trained_demo.result["run_id"], cwd=demo_copy)
    assert proc.returncode == 2, proc.stderr
    assert "the data changed since run" in proc.stderr and "Traceback" not in proc.stderr
    assert len(run_json("runs", "list", cwd=demo_copy)) == 1


def test_train_shows_live_progress_in_a_terminal(tmp_path: Path) -> None:
    write_project(tmp_path, load_breast_cancer(as_frame=True).frame, "target", "binary")
    args = ["train", "--families", "logistic,decision_tree", "--max-trials", "4", "--jobs", "1"]
    main, replica = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", *args],
        cwd=tmp_path,
        stdin=replica,
        stdout=replica,
        stderr=replica,
        env=os.environ | {"COLUMNS": "160"},
    )
    os.close(replica)
    seen = b""
    while proc.poll() is None or select.select([main], [], [], 0.2)[0]:
        if select.select([main], [], [], 0.2)[0]:
            try:
                seen += os.read(main, 65536)
            except OSError:
                break
    os.close(main)
    text = seen.decode(errors="replace")
    assert proc.wait(timeout=60) == 0, text
    # The bar names the phase, the trial running and the best score so far, with time left.
    assert "Searching" in text and "decision_tree #" in text and "best roc_auc" in text
    assert "left" in text and "Leaderboard" in text
