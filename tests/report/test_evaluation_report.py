"""The model evaluation HTML report and its charts, on small real scikit-learn datasets."""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.evaluate import (
    baseline_prediction,
    bootstrap_intervals,
    check_goals,
    metrics_for,
    paired_improvement,
    task_metrics,
)
from loopml.report import eval_plots
from loopml.report.evaluation_report import (
    EvaluationView,
    interval_text,
    metric_text,
    render_evaluation_report,
    signed_text,
    write_evaluation_report,
)
from loopml.report.html import format_number
from loopml.spec import Goal

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PREFIX = "data:image/png;base64,"
HOSTILE = "<script>alert(1)</script>"
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
N_BOOT = 100
SECTIONS = ("summary", "goals", "model", "metrics", "diagnostics", "importance", "leaderboard")


def _png(uri: str) -> bytes:
    assert uri.startswith(PREFIX)
    data = base64.b64decode(uri[len(PREFIX) :], validate=True)
    assert data.startswith(PNG_SIGNATURE)
    return data


def _section(page: str, section: str) -> str:
    start = page.index(f'id="{section}"')
    end = page.find('<section class="card" id=', start + 1)
    return page[start : end if end > 0 else len(page)]


def _first_table(text: str) -> str:
    start = text.index("<table")
    return text[start : text.index("</table>", start)]


def _importance(model: Any, x: pd.DataFrame, y: Any, scoring: str) -> list[dict[str, Any]]:
    found = permutation_importance(model, x, y, scoring=scoring, n_repeats=2, random_state=0)
    return [
        {"feature": name, "importance": float(mean), "std": float(std)}
        for name, mean, std in zip(
            x.columns, found.importances_mean, found.importances_std, strict=True
        )
    ]


def _leaderboard(chosen: str, family: str, score: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "name": [chosen, "lightgbm #7", "baseline"],
            "family": [family, "lightgbm", "baseline"],
            "cv_score": [score, score - 0.01, math.nan],
            "cv_std": [0.01, 0.02, 0.0],
            "fit_seconds": [0.5, 125.0, 0.001],
            "predict_seconds": [0.01, 0.1, None],
            "status": ["ok", "ok", "failed"],
        }
    )


def _evaluate(task: str, metric: str, y_train: Any, y_test: Any, pred: Any, classes: Any) -> dict:
    base = baseline_prediction(task, y_train, len(y_test), classes=classes)
    return {
        "baseline_prediction": base,
        "test_metrics": task_metrics(task, y_test, pred, classes=classes),
        "baseline_metrics": task_metrics(task, y_test, base, classes=classes),
        "intervals": bootstrap_intervals(
            task, y_test, pred, metrics_for(task), classes=classes, n_boot=N_BOOT
        ),
        "improvement": paired_improvement(
            task, y_test, pred, base, metric, classes=classes, n_boot=N_BOOT
        ),
    }


@pytest.fixture(scope="module")
def binary_view() -> EvaluationView:
    """Logistic regression on breast cancer; one feature and the project named with a tag."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x = x.rename(columns={"mean radius": HOSTILE})
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_train, y_train)
    pred = model.predict_proba(x_test)[:, 1]
    parts = _evaluate("binary", "roc_auc", y_train, y_test, pred, [0, 1])
    goals = [
        Goal(metric="roc_auc", op=">=", value=0.9),
        Goal(metric="recall", op=">=", value=0.9999),
        Goal(metric="p99_latency_ms", op="<=", value=50),
    ]
    return EvaluationView(
        project=f"{HOSTILE} churn",
        run_id="run-20240501-abcdef123456",
        task="binary",
        metric="roc_auc",
        higher_is_better=True,
        classes=[0, 1],
        seed=42,
        time_budget_s=600.0,
        wall_seconds=123.4,
        dataset_version="a" * 64,
        split_id="b" * 64,
        started_at="2024-05-01 10:00:00",
        chosen={
            "name": "logreg #1",
            "family": "logreg",
            "params": {"C": 1.0, "max_iter": 5000, "penalty": "l2"},
            "description": "Logistic regression on the raw features",
            "calibration": "isotonic",
            "threshold": 0.42,
            "threshold_reason": "maximises f1 on the validation folds",
        },
        leaderboard=_leaderboard("logreg #1", "logreg", 0.99),
        cv_scores={"logreg": [0.99, 0.985], "lightgbm": [0.98, 0.97, 0.95], "baseline": [0.5]},
        y_test=y_test.to_numpy(),
        test_prediction=pred,
        goals=check_goals(goals, parts["test_metrics"]),
        business={
            "tp": 100.0,
            "fp": -10.0,
            "tn": 0.0,
            "fn": -50.0,
            "threshold": 0.42,
            "expected_value": 12.5,
            "baseline_expected_value": -3.0,
        },
        feature_importance=_importance(model, x_test, y_test, "roc_auc"),
        refit_all=True,
        notes=["folds lowered from 5 to 3"],
        **parts,
    )


@pytest.fixture(scope="module")
def multiclass_view() -> EvaluationView:
    """Logistic regression on wine, with text class labels and an ensemble chosen."""
    data = load_wine(as_frame=True)
    x, y = data.data, pd.Series(data.target_names[data.target])
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.4, random_state=0, stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_train, y_train)
    classes = list(model[-1].classes_)
    pred = model.predict_proba(x_test)
    parts = _evaluate("multiclass", "log_loss", y_train, y_test, pred, classes)
    goals = [Goal(metric="accuracy", op=">=", value=0.8)]
    return EvaluationView(
        project="wine",
        run_id="run-2",
        task="multiclass",
        metric="log_loss",
        higher_is_better=False,
        classes=classes,
        seed=0,
        wall_seconds=5.0,
        chosen={
            "name": "ensemble",
            "family": "ensemble",
            "params": {},
            "description": "Weighted average of two models",
            "members": [{"name": "logreg #1", "weight": 0.75}, {"name": "knn #3", "weight": 0.25}],
        },
        leaderboard=_leaderboard("ensemble", "ensemble", 0.1),
        cv_scores={"logreg": [0.1, 0.12], "baseline": [1.09]},
        y_test=y_test.to_numpy(),
        test_prediction=pred,
        goals=check_goals(goals, parts["test_metrics"]),
        feature_importance=_importance(model, x_test, y_test, "neg_log_loss"),
        **parts,
    )


@pytest.fixture(scope="module")
def regression_view() -> EvaluationView:
    """Ridge on diabetes."""
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)
    model = Ridge(alpha=0.1).fit(x_train, y_train)
    pred = model.predict(x_test)
    parts = _evaluate("regression", "rmse", y_train, y_test, pred, None)
    return EvaluationView(
        project="diabetes",
        run_id="run-3",
        task="regression",
        metric="rmse",
        higher_is_better=False,
        seed=1,
        time_budget_s=60.0,
        wall_seconds=59.0,
        chosen={"name": "ridge #2", "family": "ridge", "params": {"alpha": 0.1}},
        leaderboard=_leaderboard("ridge #2", "ridge", 55.0),
        cv_scores={"ridge": [55.0, 56.0, 60.0], "baseline": [77.0]},
        y_test=y_test.to_numpy(),
        test_prediction=pred,
        goals=check_goals([Goal(metric="r2", op=">=", value=0.3)], parts["test_metrics"]),
        feature_importance=_importance(model, x_test, y_test, "neg_root_mean_squared_error"),
        **parts,
    )


@pytest.fixture(scope="module")
def pages(binary_view, multiclass_view, regression_view) -> dict[str, str]:
    """Each task's report page, rendered once."""
    return {
        view.task: render_evaluation_report(view)
        for view in (binary_view, multiclass_view, regression_view)
    }


# ----- the report ----------------------------------------------------------------------
def test_report_is_one_self_contained_file(binary_view: EvaluationView, tmp_path: Path) -> None:
    path = write_evaluation_report(binary_view, tmp_path / "out" / "evaluation.html")
    assert path == tmp_path / "out" / "evaluation.html"
    assert [p.name for p in path.parent.iterdir()] == ["evaluation.html"]
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for external in ('src="http', "src='http", 'href="http', "<link", "@import", "url("):
        assert external not in page
    assert "<script" not in page


@pytest.mark.parametrize(("task", "images"), [("binary", 6), ("multiclass", 4), ("regression", 4)])
def test_each_task_draws_its_charts(pages: dict[str, str], task: str, images: int) -> None:
    page = pages[task]
    found = IMG.findall(page)
    assert len(found) == images
    for payload in found:
        assert base64.b64decode(payload, validate=True).startswith(PNG_SIGNATURE)
    assert "could not be drawn" not in page
    for section in SECTIONS:
        assert f'id="{section}"' in page
        assert f'href="#{section}"' in page


def test_binary_diagnostics_and_business(pages: dict[str, str]) -> None:
    page = pages["binary"]
    diagnostics = _section(page, "diagnostics")
    for title in ("ROC curve", "Precision-recall curve", "Calibration", "Confusion matrix"):
        assert f'alt="{title}"' in diagnostics
    business = _section(page, "business")
    assert "+15.5" in business
    assert "12.5" in business
    assert "decision threshold 0.5 (positive class 1)" in _section(page, "metrics")


def test_goal_statuses_are_shown(pages: dict[str, str], binary_view: EvaluationView) -> None:
    goals = _section(pages["binary"], "goals")
    assert '<span class="badge ok">pass</span>' in goals
    assert '<span class="badge error">fail</span>' in goals
    assert "not measured" in goals
    assert "roc_auc &gt;= 0.9" in goals
    assert "1 of 3 goals missed." in _section(pages["binary"], "summary")
    assert format_number(binary_view.test_metrics["roc_auc"]) in goals
    assert "All 1 goals met." in pages["multiclass"]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_metric_values_are_formatted(
    pages: dict[str, str], task: str, request: pytest.FixtureRequest
) -> None:
    view: EvaluationView = request.getfixturevalue(f"{task}_view")
    metrics = _section(pages[task], "metrics")
    rows = re.findall(r"<tr>.*?</tr>", _first_table(metrics), flags=re.S)
    assert len(rows) == len(metrics_for(task)) + 1  # the header row
    assert view.metric in rows[1]  # the primary metric first
    for name in metrics_for(task):
        assert format_number(view.test_metrics[name]) in metrics
        assert format_number(view.baseline_metrics[name]) in metrics
        assert interval_text(view.intervals[name]) in metrics
    improvement = view.improvement
    assert signed_text(improvement["improvement"]) in metrics
    assert interval_text(improvement["interval"]) in metrics


def test_lower_is_better_difference_is_judged_by_direction(pages: dict[str, str]) -> None:
    metrics = _first_table(_section(pages["regression"], "metrics"))
    rmse_row = next(r for r in re.findall(r"<tr>.*?</tr>", metrics, flags=re.S) if "rmse" in r)
    assert "lower is better" in rmse_row
    assert "<strong>rmse</strong>" in rmse_row
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", rmse_row, re.S)]
    assert cells[4].startswith("-")  # the model's error is below the baseline's
    assert '<span class="badge ok">better</span>' in rmse_row


def test_multiclass_sections(pages: dict[str, str], multiclass_view: EvaluationView) -> None:
    page = pages["multiclass"]
    diagnostics = _section(page, "diagnostics")
    assert "Per class" in diagnostics
    for label in multiclass_view.classes:
        assert f'<td class="break">{label}</td>' in diagnostics
    assert 'alt="Calibration of the top-class confidence"' in diagnostics
    model = _section(page, "model")
    assert "Ensemble members" in model
    assert "knn #3" in model
    assert "0.75" in model


def test_regression_residual_summary(pages: dict[str, str], regression_view) -> None:
    diagnostics = _section(pages["regression"], "diagnostics")
    residuals = regression_view.test_metrics["residuals"]
    assert "largest absolute error" in diagnostics
    assert format_number(residuals["max_abs_error"]) in diagnostics
    assert 'alt="Predicted vs actual"' in diagnostics
    assert 'alt="Residuals"' in diagnostics
    assert "59 s of 60 s" in _section(pages["regression"], "summary")


def test_user_text_is_escaped(pages: dict[str, str]) -> None:
    page = pages["binary"]
    assert HOSTILE not in page
    escaped = html.escape(HOSTILE, quote=False)
    assert escaped in _section(page, "summary")
    assert escaped in _section(page, "importance")


def test_leaderboard_is_formatted(pages: dict[str, str]) -> None:
    board = _section(pages["binary"], "leaderboard")
    assert "cv score" in board
    assert "2 min 5 s" in board  # fit_seconds
    assert '<tr style="font-weight: 600">' in board  # the chosen row
    row = re.findall(r"<tr>.*?</tr>", board, flags=re.S)[-1]
    assert "failed" in row
    assert row.count("—") == 2  # a NaN score and a missing duration


def test_missing_optional_pieces_render(binary_view: EvaluationView) -> None:
    nan_metrics = {**binary_view.test_metrics, "roc_auc": math.nan}
    goals = check_goals([Goal(metric="roc_auc", op=">=", value=0.9)], nan_metrics)
    view = dataclasses.replace(
        binary_view,
        test_metrics=nan_metrics,
        baseline_metrics=None,
        baseline_prediction=None,
        intervals={"roc_auc": (math.nan, math.nan)},
        improvement=None,
        goals=goals,
        business=None,
        feature_importance=None,
        leaderboard=None,
        cv_scores={},
        notes=[],
        chosen={"name": "logreg #1"},
        time_budget_s=None,
        wall_seconds=None,
    )
    page = render_evaluation_report(view)
    assert "undefined" in _section(page, "goals")
    assert "undefined" in _section(page, "metrics")
    assert "No paired comparison with the baseline was computed." in page
    assert "No feature importance was computed." in page
    assert "No leaderboard was recorded." in page
    assert "Nothing to note." in page
    assert 'id="business"' not in page
    assert "(no budget)" in page
    assert len(IMG.findall(page)) == 4  # the binary diagnostics only


def test_no_goals_and_an_undrawable_chart(multiclass_view: EvaluationView) -> None:
    # two class names for three probability columns: the calibration chart cannot be drawn
    view = dataclasses.replace(multiclass_view, goals=[], classes=multiclass_view.classes[:2])
    page = render_evaluation_report(view)
    assert "No KPI goal was set." in page
    assert "The chart could not be drawn." in _section(page, "diagnostics")


def test_view_is_frozen(regression_view: EvaluationView) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        regression_view.project = "other"  # type: ignore[misc]


def test_text_helpers() -> None:
    assert metric_text(None) == "—"
    assert metric_text(math.nan) == "undefined"
    assert metric_text(0.123456) == "0.1235"
    assert interval_text((0.1, 0.2)) == "0.1 – 0.2"
    assert interval_text((math.nan, math.nan)) == "—"
    assert interval_text(None) == "—"
    assert signed_text(0.5) == "+0.5"
    assert signed_text(-0.25) == "-0.25"
    assert signed_text(math.nan) == "—"


# ----- the charts ----------------------------------------------------------------------
RNG = np.random.default_rng(0)
Y_BIN = RNG.integers(0, 2, 200)
P_BIN = np.clip(0.3 * Y_BIN + RNG.uniform(0, 0.7, 200), 0, 1)


def test_curve_points_match_scikit_learn() -> None:
    positive = Y_BIN == 1
    assert eval_plots.roc_points(positive, P_BIN)[2] == pytest.approx(roc_auc_score(Y_BIN, P_BIN))
    ap = eval_plots.pr_points(positive, P_BIN)[2]
    assert ap == pytest.approx(average_precision_score(Y_BIN, P_BIN))


@pytest.mark.parametrize(
    "draw",
    [eval_plots.roc_curve_chart, eval_plots.pr_curve_chart, eval_plots.calibration_chart],
)
@pytest.mark.parametrize(
    ("y", "p"),
    [
        (Y_BIN, P_BIN),  # ordinary
        (np.ones(10, dtype=int), np.linspace(0, 1, 10)),  # a single class
        (np.zeros(10, dtype=int), np.linspace(0, 1, 10)),  # no positive row
        (Y_BIN, np.full(200, 0.3)),  # constant predictions
        (np.array([1]), np.array([0.7])),  # one row
        (np.array([], dtype=int), np.array([])),  # no row
        (Y_BIN, np.where(Y_BIN == 1, np.nan, P_BIN)),  # missing probabilities
    ],
)
def test_binary_charts_never_fail(draw: Any, y: np.ndarray, p: np.ndarray) -> None:
    _png(draw(y, p, 1))


def test_binary_charts_take_text_labels_and_a_baseline() -> None:
    labels = np.where(Y_BIN == 1, "yes", "no")
    base = np.full(200, Y_BIN.mean())
    _png(eval_plots.roc_curve_chart(labels, P_BIN, "yes", base))
    _png(eval_plots.pr_curve_chart(labels, P_BIN, "yes", base))
    _png(eval_plots.calibration_chart(labels, P_BIN, "yes", n_bins=5))


def test_calibration_bins_are_quantiles() -> None:
    mean_p, observed, rows = eval_plots.calibration_bins(Y_BIN == 1, P_BIN, 10)
    assert rows.sum() == 200
    assert len(rows) == 10
    assert np.all(np.diff(mean_p) > 0)
    assert np.all((observed >= 0) & (observed <= 1))
    one = eval_plots.calibration_bins(np.array([True, False]), np.array([0.4, 0.4]), 10)
    assert one[2].tolist() == [2.0]


@pytest.mark.parametrize(
    ("labels", "matrix"),
    [
        (["no", "yes"], [[50, 3], [7, 40]]),
        (["a", "b", "c"], [[5, 0, 0], [1, 4, 0], [0, 0, 0]]),  # a class with no row
        ([str(i) for i in range(20)], np.eye(20, dtype=int) * 3),  # many classes
        ([], []),
    ],
)
def test_confusion_matrix_chart(labels: list[str], matrix: Any) -> None:
    _png(eval_plots.confusion_matrix_chart(labels, matrix))


@pytest.mark.parametrize("draw", [eval_plots.predicted_vs_actual_chart, eval_plots.residuals_chart])
@pytest.mark.parametrize(
    ("y", "p"),
    [
        (np.arange(50.0), np.arange(50.0) + RNG.normal(size=50)),
        (np.arange(50.0), np.full(50, 3.0)),  # constant predictions
        (np.full(5, 2.0), np.full(5, 2.0)),  # one value everywhere
        (np.array([1.0]), np.array([2.0])),  # one row
        (np.array([]), np.array([])),  # no row
        (np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, np.inf])),  # missing values
    ],
)
def test_regression_charts_never_fail(draw: Any, y: np.ndarray, p: np.ndarray) -> None:
    _png(draw(y, p))


def test_scatter_subsample_is_deterministic_and_bounded() -> None:
    rows = eval_plots.subsample(20_000)
    assert len(rows) == eval_plots.MAX_POINTS
    assert np.array_equal(rows, eval_plots.subsample(20_000))
    assert np.all(np.diff(rows) > 0)
    assert np.array_equal(eval_plots.subsample(10), np.arange(10))
    y = np.linspace(0, 1, 8_000)
    first = eval_plots.predicted_vs_actual_chart(y, y**2)
    assert first == eval_plots.predicted_vs_actual_chart(y, y**2)


def test_importance_chart() -> None:
    names = [f"feature {i}" for i in range(30)]
    values = np.linspace(-0.01, 0.2, 30)
    _png(eval_plots.importance_chart(names, values, np.full(30, 0.01)))
    _png(eval_plots.importance_chart(names[:1], [0.0]))
    _png(eval_plots.importance_chart([], []))
    _png(eval_plots.importance_chart(["a", "b"], [math.nan, 0.1], [None, 0.02]))
    with pytest.raises(ValueError, match="as many"):
        eval_plots.importance_chart(["a"], [0.1, 0.2])


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_cv_spread_chart(higher_is_better: bool) -> None:
    scores = {
        "lightgbm": list(np.linspace(0.8, 0.9, 12)),
        "logreg": [0.85],
        "baseline": [0.5],
        "failed": [math.nan],
        "empty": [],
    }
    _png(eval_plots.cv_spread_chart(scores, "roc_auc", higher_is_better))
    _png(eval_plots.cv_spread_chart({}, "roc_auc", higher_is_better))
    _png(eval_plots.cv_spread_chart({"only": [math.nan]}, "rmse", higher_is_better))
