"""`loopml experiments report` on planted prediction logs: better is found, sameness is not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loopml import Project
from loopml.errors import UsageError
from loopml.monitor.feedback import feedback_folder, record_feedback
from loopml.monitor.log import LogBatch, PredictionLog, prediction_folder
from tests.commands import loopml
from tests.runs.conftest import demo_copy, trained_demo

__all__ = ["demo_copy", "trained_demo"]


def _arm(rng: np.random.Generator, n: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels (~30 % `yes`) and P(yes) separating them by `signal` (0: no skill)."""
    y = rng.uniform(size=n) < 0.3
    logit = -0.85 + signal * (2 * y - 1) + rng.normal(size=n)
    return np.where(y, "yes", "no"), 1 / (1 + np.exp(-logit))


def _plant(root: Path, batches: list[tuple[str, list[str], np.ndarray]]) -> None:
    """A fresh prediction log of (variant, request ids, P(yes)) batches, from version 1."""
    project = Project(root)
    folder = prediction_folder(project)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(feedback_folder(project), ignore_errors=True)
    project.close()
    log = PredictionLog(folder)
    for variant, ids, p in batches:
        outputs = {
            "prediction": np.where(p >= 0.5, "yes", "no").astype(object),
            "proba_no": 1 - p,
            "proba_yes": p,
        }
        log.append(
            LogBatch(ids, 1, {"distance": np.full(len(ids), 100.0)}, outputs, variant=variant)
        )
    log.close()


def _label(root: Path, ids: list[str], labels: np.ndarray) -> None:
    project = Project(root)
    rows = pd.DataFrame({"request_id": ids, "label": labels})
    summary = record_feedback(prediction_folder(project), feedback_folder(project), rows)
    project.close()
    assert summary.unknown_count == 0


def _report(root: Path, **options: object) -> dict:
    """The report from the Python face (the CLI prints this same dict with --json)."""
    project = Project(root)
    try:
        return project.experiments(**({"since": "1h"} | options)).to_dict()
    finally:
        project.close()


def _losses(labels: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -np.log(np.where(labels == "yes", p, 1 - p))


def test_a_clearly_better_challenger_is_found(demo_copy: Path) -> None:
    rng = np.random.default_rng(0)
    y_a, p_a = _arm(rng, 2000, 0.3)
    y_b, p_b = _arm(rng, 600, 1.5)
    ids_a = [f"a{i}" for i in range(2000)]
    ids_b = [f"b{i}" for i in range(600)]
    _plant(demo_copy, [("champion", ids_a, p_a), ("challenger", ids_b, p_b)])
    labelled_a = rng.uniform(size=2000) < 0.8  # ground truth for 80 % of the requests so far
    _label(demo_copy, [i for i, k in zip(ids_a, labelled_a, strict=True) if k], y_a[labelled_a])
    _label(demo_copy, ids_b, y_b)

    proc = loopml(
        "experiments", "report", "--since", "1h", "--metric", "log_loss", "--json", cwd=demo_copy
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    champion, challenger = report["variants"]
    assert (champion["variant"], champion["requests"], champion["labelled"]) == (
        "champion",
        2000,
        int(labelled_a.sum()),
    )
    assert (challenger["requests"], challenger["labelled"], challenger["versions"]) == (
        600,
        600,
        [1],
    )
    a, b = _losses(y_a[labelled_a], p_a[labelled_a]), _losses(y_b, p_b)
    assert champion["value"] == pytest.approx(a.mean(), rel=1e-9)
    low, high = champion["interval"]
    assert low < champion["value"] < high
    (comparison,) = report["comparisons"]
    expected = stats.ttest_ind(b, a, equal_var=False)
    assert comparison["test"] == "welch_t" and comparison["verdict"] == "better"
    assert comparison["difference"] == pytest.approx(b.mean() - a.mean(), rel=1e-9)
    assert comparison["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)
    assert comparison["rows"] == {"champion": len(a), "challenger": 600}
    assert set(comparison["needed"]) == {"champion", "challenger"}

    auc = _report(demo_copy)  # the spec's metric, roc_auc: tested by the bootstrap
    assert auc["metric"] == "roc_auc" and auc["comparisons"][0]["test"] == "bootstrap_z"
    assert auc["comparisons"][0]["verdict"] == "better" and auc["comparisons"][0]["p_value"] < 1e-6

    shown = loopml("experiments", "report", "--since", "1h", cwd=demo_copy)
    assert shown.returncode == 0 and "verdict: better" in shown.stdout
    assert "challenger vs champion" in shown.stdout


def test_the_same_model_shows_no_significant_difference(demo_copy: Path) -> None:
    rng = np.random.default_rng(1)
    y_a, p_a = _arm(rng, 1500, 0.8)
    y_b, p_b = _arm(rng, 500, 0.8)
    ids_a, ids_b = [f"a{i}" for i in range(1500)], [f"b{i}" for i in range(500)]
    _plant(demo_copy, [("champion", ids_a, p_a), ("challenger", ids_b, p_b)])
    _label(demo_copy, ids_a + ids_b, np.concatenate([y_a, y_b]))
    for metric in ("log_loss", "accuracy", "roc_auc"):
        (comparison,) = _report(demo_copy, metric=metric, min_effect=0.01)["comparisons"]
        assert comparison["verdict"] == "not significant", (metric, comparison)
        assert comparison["p_value"] > 0.05 and comparison["effect"] == 0.01
        assert comparison["more"]["challenger"] > 0  # more labels are needed to tell
        assert "no significant difference" in comparison["message"]

    # A shadow that is the champion's own model: no difference at all.
    _plant(demo_copy, [("champion", ids_a, p_a), ("shadow", ids_a, p_a)])
    _label(demo_copy, ids_a, y_a)
    (comparison,) = _report(demo_copy, metric="log_loss")["comparisons"]
    assert comparison["variant"] == "shadow" and comparison["test"] == "paired_t"
    assert comparison["difference"] == 0 and comparison["p_value"] == 1
    assert comparison["verdict"] == "not significant" and comparison["needed"] is None


def test_a_shadow_is_compared_on_the_same_requests(demo_copy: Path) -> None:
    rng = np.random.default_rng(2)
    y, p = _arm(rng, 1000, 0.6)
    better = np.clip(p + np.where(y == "yes", 0.05, -0.05) + rng.normal(0, 0.03, 1000), 0.01, 0.99)
    ids = [f"r{i}" for i in range(1000)]
    kept = rng.uniform(size=1000) < 0.9  # the shadow skipped some requests (it fell behind)
    shadow_ids = [i for i, k in zip(ids, kept, strict=True) if k]
    _plant(demo_copy, [("champion", ids, p), ("shadow", shadow_ids, better[kept])])
    _label(demo_copy, ids, y)
    report = _report(demo_copy, metric="brier", variant="shadow")
    (comparison,) = report["comparisons"]
    truth = (y[kept] == "yes").astype(float)
    a, b = (p[kept] - truth) ** 2, (better[kept] - truth) ** 2
    expected = stats.ttest_rel(b, a)
    assert comparison["rows"] == {"champion": int(kept.sum()), "shadow": int(kept.sum())}
    assert comparison["statistic"] == pytest.approx(expected.statistic, rel=1e-8)
    assert comparison["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)
    assert comparison["verdict"] == "better"
    assert [v["requests"] for v in report["variants"]] == [1000, int(kept.sum())]


def test_bad_reports_are_one_sentence(demo_copy: Path) -> None:
    def refused(**options: object) -> str:
        with pytest.raises(UsageError) as caught:
            _report(demo_copy, **options)
        return caught.value.message

    _plant(demo_copy, [])
    proc = loopml("experiments", "report", cwd=demo_copy)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:") and "holds no predictions" in proc.stderr
    _plant(demo_copy, [("main", ["m0", "m1"], np.array([0.2, 0.7]))])
    assert "no challenger or shadow predictions" in refused()
    _plant(
        demo_copy,
        [("champion", ["a0", "a1"], np.array([0.2, 0.7])), ("challenger", ["b0"], np.array([0.4]))],
    )
    assert "has a label yet" in refused()
    assert "no shadow predictions" in refused(variant="shadow")
    proc = loopml("experiments", "report", "--variant", "main", cwd=demo_copy)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "challenger or shadow" in proc.stderr
    assert "does not apply" in refused(metric="rmse")
    assert "between 0 and 1" in refused(alpha=2.0)
    assert "positive difference" in refused(min_effect=-1.0)
    assert "neither a duration" in refused(since="yesterday")
    assert "--until '3h'" in refused(since="2h", until="3h")  # before its start: empty
    _label(demo_copy, ["a0", "a1", "b0"], np.array(["no", "yes", "perhaps"]))
    few = _report(demo_copy)
    assert few["comparisons"][0]["verdict"] == "too few labels"
    assert [v["labelled"] for v in few["variants"]] == [2, 0]
    assert any("1 labels are not classes" in note for note in few["notes"])
