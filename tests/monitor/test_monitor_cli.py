"""`loopml monitor` over what `loopml score` logged: calm on the training data, loud on drift."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from loopml import Project
from loopml.evaluate.metrics import metrics_for
from loopml.runs.render import fmt
from tests.commands import loopml, run_json
from tests.runs.conftest import demo_copy, trained_demo

__all__ = ["demo_copy", "trained_demo"]


def _score(root: Path, frame: pd.DataFrame, name: str) -> dict:
    source = root / f"{name}.csv"
    frame.to_csv(source, index=False)
    out = root / f"{name}_scored.csv"
    proc = loopml("score", "latest", str(source), str(out), "--json", cwd=root, check=True)
    return json.loads(proc.stdout)


def test_monitor_finds_planted_drift_and_not_where_there_is_none(demo_copy: Path) -> None:
    shutil.rmtree(demo_copy / ".loopml" / "artifacts" / "predictions", ignore_errors=True)
    data = pd.read_csv(demo_copy / "data" / "flights.csv").drop(columns="late")
    calm = _score(demo_copy, data, "calm")
    proc = loopml("monitor", "--since", "1h", "--json", cwd=demo_copy)
    result = json.loads(proc.stdout)
    assert result["rows"] == calm["scored"]
    assert not result["dataset_drift"]["drifted"]
    assert not any(f["drifted"] for f in result["features"])
    # The deployed model was refitted on every one of these rows, so it is surer of them than
    # of the unseen test rows its reference predictions come from: only that may alert.
    assert {a["rule"] for a in result["alerts"]} <= {"prediction_drift"}
    assert proc.returncode == (1 if result["alerts"] else 0)
    assert {f["name"] for f in result["features"]} >= {"distance", "carrier", "wind_gust"}
    assert "flight_date" in " ".join(result["notes"])  # dates move on: not judged

    time.sleep(1.1)
    boundary = datetime.now(UTC).isoformat()
    rng = np.random.default_rng(0)
    drifted = data.copy()
    drifted["distance"] = drifted["distance"] * 1.6
    drifted["sched_dep_time"] = (drifted["sched_dep_time"] + 400).clip(upper=2359)
    drifted.loc[rng.uniform(size=len(drifted)) < 0.3, "carrier"] = "ZZ"
    drifted.loc[rng.uniform(size=len(drifted)) < 0.4, "humid"] = np.nan
    _score(demo_copy, drifted, "drifted")
    proc = loopml("monitor", "--since", boundary, "--json", cwd=demo_copy)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    flagged = {f["name"] for f in result["features"] if f["drifted"]}
    assert {"distance", "sched_dep_time", "carrier", "humid"} <= flagged
    assert not flagged & {"origin", "temp", "visib"}
    assert {a["rule"] for a in result["alerts"]} >= {"dataset_drift"}
    carrier = next(f for f in result["features"] if f["name"] == "carrier")
    assert carrier["details"]["new_categories"] == ["ZZ"]

    shown = loopml("monitor", "--since", boundary, cwd=demo_copy)
    assert shown.returncode == 1 and "ALERT dataset_drift" in shown.stdout
    project = Project(demo_copy / "loopml.yaml")
    checks = project.store.meta.monitor_checks(project.spec.name)
    project.close()
    assert [c["dataset_drift"] for c in checks[:3]] == [True, True, False]


def test_monitor_bad_windows_and_references(demo_copy: Path) -> None:
    for args, says in (
        (("--since", "yesterday"), "--since 'yesterday' is neither a duration"),
        (("--until", "soon"), "--until 'soon' is neither a duration"),
        (("--since", "2h", "--until", "3h"), "--until '3h' ("),  # before the start
        (("--since", "2000-01-01", "--until", "2000-01-01"), "the window is empty"),
        (("--since", "2999-01-01"), "--since '2999-01-01' is in the future"),
    ):
        proc = loopml("monitor", *args, "--no-report", cwd=demo_copy)
        assert proc.returncode == 2 and proc.stderr.startswith("error: "), (args, proc.stderr)
        assert says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stdout == ""
    unknown = loopml("monitor", "champion", cwd=demo_copy)
    assert unknown.returncode != 0 and "unknown model reference" in unknown.stderr
    empty = loopml(
        "monitor", "--since", "2000-01-01", "--until", "2000-01-02", "--json", cwd=demo_copy
    )
    assert empty.returncode == 0 and json.loads(empty.stdout)["rows"] == 0
    assert json.loads(empty.stdout)["until"] == "2000-01-02T00:00:00+00:00"
    # Without --until the window ends when the check runs, and says so.
    before = datetime.now(UTC)
    now = json.loads(
        loopml("monitor", "--since", "1h", "--no-report", "--json", cwd=demo_copy).stdout
    )
    assert before <= datetime.fromisoformat(now["until"]) <= datetime.now(UTC)
    late = loopml("monitor", "--since", "1h", "--until", "2999-01-01", "--json", cwd=demo_copy)
    assert datetime.fromisoformat(json.loads(late.stdout)["until"]) <= datetime.now(UTC)
    spec = yaml.safe_load((demo_copy / "loopml.yaml").read_text())
    (demo_copy / "loopml.yaml").write_text(
        yaml.safe_dump(spec | {"monitor": {"since": "2999-01-01"}})
    )
    future = loopml("monitor", cwd=demo_copy)
    assert future.returncode == 2 and "monitor.since '2999-01-01' is in the future" in future.stderr


def test_performance_from_feedback_and_a_metric_drop_alert(demo_copy: Path) -> None:
    shutil.rmtree(demo_copy / ".loopml" / "artifacts" / "predictions", ignore_errors=True)
    data = pd.read_csv(demo_copy / "data" / "flights.csv").dropna(subset=["late"])
    data = data.assign(uid=[f"f{i}" for i in range(len(data))])
    source, out = demo_copy / "new.csv", demo_copy / "new_scored.csv"
    data.drop(columns="late").to_csv(source, index=False)
    loopml("score", "latest", str(source), str(out), "--id", "uid", cwd=demo_copy, check=True)
    scored = pd.read_csv(out)
    truth = data.set_index("uid").loc[scored["uid"], "late"]
    labels = demo_copy / "labels.csv"
    pd.DataFrame({"request_id": scored["uid"], "label": truth.to_numpy()}).to_csv(
        labels, index=False
    )
    assert loopml("feedback", str(labels), cwd=demo_copy).returncode == 0
    report = demo_copy / "monitor.html"
    proc = loopml("monitor", "--since", "1h", "--json", "--report", str(report), cwd=demo_copy)
    result = json.loads(proc.stdout)
    performance = result["performance"]
    assert performance["metric"] == "roc_auc" and performance["labelled"] == len(scored)
    low, high = performance["interval"]
    assert low <= performance["value"] <= high and performance["value"] > 0.6
    assert "metric_drop" not in {a["rule"] for a in result["alerts"]}
    # Every metric of the task, each next to the model's own test value, with an interval.
    tested = run_json("models", "show", "latest", cwd=demo_copy)["test_metrics"]
    every = performance["metrics"]
    assert list(every) == metrics_for("binary")
    assert every["roc_auc"] == {k: performance[k] for k in ("value", "interval", "test")}
    for name, figure in every.items():
        assert figure["test"] == tested[name]
        low, high = figure["interval"]
        assert low <= high and np.isfinite(figure["value"]), name
    html = report.read_text()
    assert "Every metric on the labelled predictions" in html and "balanced_accuracy" in html
    # Ground truth that disagrees with the model: the measured roc_auc falls below the test's.
    flipped = np.where(truth.to_numpy() == "yes", "no", "yes")
    pd.DataFrame({"request_id": scored["uid"], "label": flipped}).to_csv(labels, index=False)
    assert loopml("feedback", str(labels), cwd=demo_copy).returncode == 0
    proc = loopml("monitor", "--since", "1h", "--json", cwd=demo_copy)
    result = json.loads(proc.stdout)
    assert proc.returncode == 1 and result["performance"]["value"] < 0.4
    assert "metric_drop" in {a["rule"] for a in result["alerts"]}
    flipped_accuracy = result["performance"]["metrics"]["accuracy"]["value"]
    assert flipped_accuracy < 0.5 < tested["accuracy"]
    shown = loopml("monitor", "--since", "1h", "--no-report", cwd=demo_copy).stdout
    assert "other metrics (test): pr_auc " in shown
    assert f"accuracy {fmt(flipped_accuracy)} ({fmt(tested['accuracy'])})" in shown
