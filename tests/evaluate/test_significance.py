"""Two-arm tests and sample sizes: the numbers equal scipy's, and the sizes deliver the power."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from loopml.evaluate.metrics import score
from loopml.evaluate.significance import Arm, compare, per_row

CLASSES = ["no", "yes"]


def _binary(rng: np.random.Generator, n: int, signal: float) -> Arm:
    """Labels with ~30 % `yes`, and P(yes) that separates them by `signal` (0: no skill)."""
    y = rng.uniform(size=n) < 0.3
    logit = -0.85 + signal * (2 * y - 1) + rng.normal(size=n)
    return Arm(np.where(y, "yes", "no"), 1 / (1 + np.exp(-logit)), threshold=0.5)


@pytest.mark.parametrize("metric", ["accuracy", "log_loss", "brier"])
def test_per_row_values_average_to_the_metric(metric: str) -> None:
    arm = _binary(np.random.default_rng(1), 500, 1.0)
    rows = per_row(metric, "binary", arm, classes=CLASSES)
    expected = score(metric, arm.y, arm.prediction, classes=CLASSES, task="binary")
    assert rows.mean() == pytest.approx(expected, rel=1e-12)


def test_canary_log_loss_is_welchs_t_test() -> None:
    rng = np.random.default_rng(2)
    champion, challenger = _binary(rng, 3000, 0.3), _binary(rng, 700, 1.2)
    result = compare("binary", "log_loss", champion, challenger, paired=False, classes=CLASSES)
    a = -np.log(np.where(champion.y == "yes", champion.prediction, 1 - champion.prediction))
    b = -np.log(np.where(challenger.y == "yes", challenger.prediction, 1 - challenger.prediction))
    expected = stats.ttest_ind(b, a, equal_var=False)
    assert result["test"] == "welch_t"
    assert result["difference"] == pytest.approx(b.mean() - a.mean(), rel=1e-12)
    assert result["statistic"] == pytest.approx(expected.statistic, rel=1e-10)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-8)
    assert result["p_value"] < 1e-6 and result["better"] is True  # lower log loss is better
    low, high = result["interval"]
    assert low < result["difference"] < high < 0


def test_canary_accuracy_is_the_two_proportion_z_test() -> None:
    rng = np.random.default_rng(3)
    champion, challenger = _binary(rng, 2000, 0.2), _binary(rng, 500, 1.5)
    result = compare("binary", "accuracy", champion, challenger, paired=False, classes=CLASSES)
    hits = [
        int(((arm.prediction >= 0.5) == (arm.y == "yes")).sum()) for arm in (champion, challenger)
    ]
    sizes = [len(champion), len(challenger)]
    chi2, p, _, _ = stats.chi2_contingency(
        [[hits[0], sizes[0] - hits[0]], [hits[1], sizes[1] - hits[1]]], correction=False
    )
    assert result["test"] == "two_proportion_z"
    assert result["statistic"] ** 2 == pytest.approx(chi2, rel=1e-10)
    assert result["p_value"] == pytest.approx(p, rel=1e-8)
    assert result["difference"] == pytest.approx(hits[1] / sizes[1] - hits[0] / sizes[0])
    assert result["better"] is True


def test_shadow_is_the_paired_t_test_on_the_same_rows() -> None:
    rng = np.random.default_rng(4)
    champion = _binary(rng, 800, 0.5)
    shadow = Arm(champion.y, np.clip(champion.prediction + rng.normal(0, 0.05, 800), 0.01, 0.99))
    result = compare("binary", "brier", champion, shadow, paired=True, classes=CLASSES)
    truth = (champion.y == "yes").astype(float)
    a, b = (champion.prediction - truth) ** 2, (shadow.prediction - truth) ** 2
    expected = stats.ttest_rel(b, a)
    assert result["test"] == "paired_t"
    assert result["statistic"] == pytest.approx(expected.statistic, rel=1e-10)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-8)
    low, high = expected.confidence_interval(0.95)
    assert result["interval"] == pytest.approx([low, high], rel=1e-10)


def test_the_same_predictions_are_no_difference() -> None:
    arm = _binary(np.random.default_rng(5), 400, 1.0)
    for metric in ("log_loss", "roc_auc"):
        result = compare("binary", metric, arm, arm, paired=True, classes=CLASSES)
        assert result["difference"] == 0 and result["p_value"] == 1.0
        assert not result["significant"] and result["better"] is None
        assert result["needed"] is None  # no effect to detect, unless one is given
    sized = compare("binary", "log_loss", arm, arm, paired=True, classes=CLASSES, min_effect=0.01)
    assert sized["effect"] == 0.01 and sized["needed"] == (2, 2)  # no spread: any n shows it


def test_two_samples_of_one_model_are_not_significant() -> None:
    rng = np.random.default_rng(6)
    results = [
        compare(
            "binary",
            metric,
            _binary(rng, 1500, 0.8),
            _binary(rng, 500, 0.8),
            paired=False,
            classes=CLASSES,
        )
        for metric in ("log_loss", "accuracy", "roc_auc")
    ]
    assert [r["test"] for r in results] == ["welch_t", "two_proportion_z", "bootstrap_z"]
    assert all(r["p_value"] > 0.05 and not r["significant"] for r in results)


def test_roc_auc_is_tested_by_the_bootstrap() -> None:
    rng = np.random.default_rng(7)
    champion, challenger = _binary(rng, 1500, 0.4), _binary(rng, 500, 1.2)
    result = compare("binary", "roc_auc", champion, challenger, paired=False, classes=CLASSES)
    points = [
        score("roc_auc", arm.y, arm.prediction, classes=CLASSES) for arm in (champion, challenger)
    ]
    assert result["test"] == "bootstrap_z"
    assert result["difference"] == pytest.approx(points[1] - points[0])
    # The bootstrap's standard error is close to the normal approximation of each AUC's
    # (Hanley & McNeil), summed over two independent arms.
    se = np.sqrt(
        sum(
            _hanley_mcneil(auc, arm)
            for auc, arm in zip(points, (champion, challenger), strict=True)
        )
    )
    assert result["se"] == pytest.approx(se, rel=0.15)
    assert result["p_value"] < 1e-6 and result["better"] is True


def _hanley_mcneil(auc: float, arm: Arm) -> float:
    pos = int((arm.y == "yes").sum())
    neg = len(arm.y) - pos
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    return (auc * (1 - auc) + (pos - 1) * (q1 - auc**2) + (neg - 1) * (q2 - auc**2)) / (pos * neg)


def test_regression_mae_and_rmse() -> None:
    rng = np.random.default_rng(8)
    y_a, y_b = rng.normal(10, 3, 600), rng.normal(10, 3, 400)
    champion = Arm(y_a, y_a + rng.normal(0, 2.0, 600))
    challenger = Arm(y_b, y_b + rng.normal(0, 1.0, 400))
    mae = compare("regression", "mae", champion, challenger, paired=False)
    expected = stats.ttest_ind(
        np.abs(challenger.prediction - y_b), np.abs(champion.prediction - y_a), equal_var=False
    )
    assert mae["p_value"] == pytest.approx(expected.pvalue, rel=1e-8) and mae["better"] is True
    rmse = compare("regression", "rmse", champion, challenger, paired=False)
    assert rmse["test"] == "bootstrap_z" and rmse["better"] is True
    assert rmse["difference"] == pytest.approx(
        np.sqrt(np.mean((challenger.prediction - y_b) ** 2))
        - np.sqrt(np.mean((champion.prediction - y_a) ** 2))
    )


def test_the_sample_size_gives_the_power_asked_for() -> None:
    """Arms of the sizes `needed` asks for detect the effect in about 80 % of experiments."""
    rng = np.random.default_rng(9)
    # Per-row errors of two models whose means differ by 0.2, sd 1 and 1.3, a 3:1 split.
    a, b = rng.normal(10.0, 1.0, 3000), rng.normal(9.8, 1.3, 1000)
    result = compare(
        "regression",
        "mae",
        Arm(np.zeros(3000), a),
        Arm(np.zeros(1000), b),
        paired=False,
        min_effect=0.2,
    )
    n_a, n_b = result["needed"]
    assert n_a / n_b == pytest.approx(3.0, rel=0.01)  # the current allocation is kept
    trials = 2000
    draws_a = rng.normal(10.0, 1.0, (trials, n_a))
    draws_b = rng.normal(9.8, 1.3, (trials, n_b))
    p = stats.ttest_ind(draws_b, draws_a, axis=1, equal_var=False).pvalue
    assert 0.75 < (p < 0.05).mean() < 0.85
    # A paired design needs the variance of the differences only.
    shared = rng.normal(10.0, 1.0, 2000)
    paired = compare(
        "regression",
        "mae",
        Arm(np.zeros(2000), shared),
        Arm(np.zeros(2000), shared - 0.02 + rng.normal(0, 0.2, 2000)),
        paired=True,
        min_effect=0.02,
    )
    n = paired["needed"][0]
    differences = rng.normal(-0.02, 0.2, (trials, n))
    p = stats.ttest_1samp(differences, 0, axis=1).pvalue
    assert 0.75 < (p < 0.05).mean() < 0.85
