"""Is one model better than another on live traffic? Tests and sample sizes for two arms.

    arm = Arm(y, prediction, threshold=0.5)       # one model's labelled predictions
    result = compare(task, "log_loss", champion, challenger, paired=False, classes=...)
    result["difference"], result["p_value"], result["needed"]

The difference is always challenger − champion in the metric's units. The test depends on
the metric and the design:

- metrics that are a mean over rows (accuracy, log_loss, brier, mae, mape): on the per-row
  values, a two-proportion z-test for accuracy and Welch's t-test otherwise when the arms
  hold different requests (canary); a paired t-test on the per-row differences when they
  hold the same requests (shadow);
- other metrics (roc_auc, pr_auc, f1, rmse, r2, ...): the bootstrap — each arm resampled
  on its own (canary) or both on the same resamples (shadow) — gives the standard error
  of the difference, and z = difference / standard error.

The sample size is what each arm needs (labelled rows) for a two-sided test at `alpha` to
detect `effect` with probability `power`, keeping the arms' current proportions:
n = (z_{1-α/2} + z_{power})² · Var(difference) per row, / effect².
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from loopml.evaluate._inputs import BINARY, prepare
from loopml.evaluate.metrics import metric_direction, score

ROW_MEANS = ("accuracy", "log_loss", "brier", "mae", "mape")  # metric = mean of a per-row value
_EPS = float(np.finfo(np.float64).eps)
MAX_BOOT_CELLS = 20_000_000  # resamples x rows held at once by a bootstrap test


@dataclass
class Arm:
    """One model's labelled predictions: true labels and predictions as `score` takes them,
    and the model's decision threshold (binary)."""

    y: np.ndarray
    prediction: np.ndarray
    threshold: float = 0.5

    def __len__(self) -> int:
        return len(self.y)


def per_row(metric: str, task: str, arm: Arm, *, classes: Any = None) -> np.ndarray | None:
    """The per-row values whose mean is `metric` (None when the metric is not such a mean)."""
    if metric not in ROW_MEANS:
        return None
    prep = prepare(task, arm.y, arm.prediction, classes=classes, threshold=arm.threshold)
    if metric == "accuracy":
        decided = prep.pred >= prep.threshold if task == BINARY else prep.pred.argmax(axis=1)
        return (decided == prep.y).astype(float)
    if metric == "log_loss":
        chosen = (
            np.where(prep.y == 1, prep.pred, 1.0 - prep.pred)
            if task == BINARY
            else prep.pred[np.arange(prep.n), prep.y]
        )
        return -np.log(np.clip(chosen, _EPS, 1.0 - _EPS))
    if metric == "brier":
        return (prep.pred - prep.y) ** 2
    errors = np.abs(prep.y - prep.pred)
    if metric == "mae":
        return errors
    return errors[prep.y != 0] / np.abs(prep.y[prep.y != 0])  # mape skips y == 0


def compare(
    task: str,
    metric: str,
    champion: Arm,
    challenger: Arm,
    *,
    paired: bool,
    classes: Any = None,
    alpha: float = 0.05,
    power: float = 0.8,
    min_effect: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The difference challenger − champion on `metric`, its test, and the sample size needed.

    `paired`: both arms hold the same rows in the same order (a shadow); else independent
    requests (a canary). Returns {test, champion, challenger, difference, interval,
    statistic, p_value, significant, better, effect, needed: (champion, challenger)}.
    """
    from scipy import stats

    if paired and len(champion) != len(challenger):
        raise ValueError("paired arms must hold the same rows")
    higher = metric_direction(metric)
    a_rows = per_row(metric, task, champion, classes=classes)
    b_rows = per_row(metric, task, challenger, classes=classes)
    z_alpha = float(stats.norm.ppf(1 - alpha / 2))
    z_power = float(stats.norm.ppf(power))
    if a_rows is not None and b_rows is not None:  # paired mape: both skip the same y == 0 rows
        out = _row_test(metric, a_rows, b_rows, paired=paired, alpha=alpha)
    else:
        out = _bootstrap_test(task, metric, champion, challenger, paired, classes, alpha, seed)
    difference = out["difference"]
    effect = abs(difference) if min_effect is None else float(min_effect)
    out["needed"] = _needed(out, effect, z_alpha + z_power, paired)
    out["effect"] = effect
    significant = bool(out["p_value"] < alpha)
    out["significant"] = significant
    out["better"] = None if not significant else bool((difference > 0) == higher)
    out["higher_is_better"] = higher
    return out


def _row_test(
    metric: str, a: np.ndarray, b: np.ndarray, *, paired: bool, alpha: float
) -> dict[str, Any]:
    """Tests on per-row values; `var_a`/`var_b` (or `var_d`) feed the sample size."""
    from scipy import stats

    out: dict[str, Any] = {"champion": float(a.mean()), "challenger": float(b.mean())}
    out["difference"] = difference = out["challenger"] - out["champion"]
    out["n"] = (len(a), len(b))
    if paired:
        d = b - a
        var_d = float(d.var(ddof=1))
        out |= {"test": "paired_t", "var_d": var_d}
        if var_d == 0:  # identical per-row values (the same model): nothing to test
            return out | _degenerate(difference)
        result = stats.ttest_rel(b, a)
        low, high = result.confidence_interval(1 - alpha)
        return out | {
            "statistic": float(result.statistic),
            "p_value": float(result.pvalue),
            "interval": [float(low), float(high)],
        }
    var_a, var_b = float(a.var(ddof=1)), float(b.var(ddof=1))
    out |= {"var_a": var_a, "var_b": var_b}
    if metric == "accuracy":
        # Two-proportion z-test, pooled under H0 (equal to the 2x2 chi-squared test without
        # continuity correction); the interval uses the unpooled (Wald) standard error.
        pooled = (a.sum() + b.sum()) / (len(a) + len(b))
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
        out["var_a"] = out["champion"] * (1 - out["champion"])
        out["var_b"] = out["challenger"] * (1 - out["challenger"])
        se = math.sqrt(out["var_a"] / len(a) + out["var_b"] / len(b))
        out["test"] = "two_proportion_z"
        if se0 == 0:
            return out | _degenerate(difference)
        z = difference / se0
        crit = float(stats.norm.ppf(1 - alpha / 2))
        return out | {
            "statistic": z,
            "p_value": float(2 * stats.norm.sf(abs(z))),
            "interval": [difference - crit * se, difference + crit * se],
        }
    out["test"] = "welch_t"
    if var_a == 0 and var_b == 0:
        return out | _degenerate(difference)
    result = stats.ttest_ind(b, a, equal_var=False)
    low, high = result.confidence_interval(1 - alpha)
    return out | {
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "interval": [float(low), float(high)],
    }


def _degenerate(difference: float) -> dict[str, Any]:
    """No spread in the data: equal values are no evidence, a constant gap is certain."""
    certain = difference != 0
    return {
        "statistic": math.copysign(math.inf, difference) if certain else 0.0,
        "p_value": 0.0 if certain else 1.0,
        "interval": [difference, difference],
    }


def _bootstrap_test(
    task: str,
    metric: str,
    champion: Arm,
    challenger: Arm,
    paired: bool,
    classes: Any,
    alpha: float,
    seed: int,
) -> dict[str, Any]:
    from scipy import stats

    from loopml.evaluate.intervals import bootstrap_distribution, bootstrap_indices

    n_boot = int(max(200, min(1000, MAX_BOOT_CELLS // max(len(champion), len(challenger), 1))))
    points = [
        score(metric, arm.y, arm.prediction, classes=classes, threshold=arm.threshold, task=task)
        for arm in (champion, challenger)
    ]
    indices = None
    if paired:
        indices = bootstrap_indices(task, champion.y, classes=classes, n_boot=n_boot, seed=seed)
    draws = [
        bootstrap_distribution(
            task,
            arm.y,
            arm.prediction,
            [metric],
            classes=classes,
            threshold=arm.threshold,
            indices=indices,
            n_boot=n_boot,
            seed=seed + k,  # canary: each arm resampled on its own
        )[metric]
        for k, arm in enumerate((champion, challenger))
    ]
    d = draws[1] - draws[0]
    d = d[np.isfinite(d)]
    difference = points[1] - points[0]
    out: dict[str, Any] = {
        "test": "paired_bootstrap_z" if paired else "bootstrap_z",
        "champion": points[0],
        "challenger": points[1],
        "difference": difference,
        "n": (len(champion), len(challenger)),
        "n_boot": n_boot,
    }
    if not np.isfinite(difference) or len(d) < 2:
        return out | {"statistic": None, "p_value": math.nan, "interval": None, "se": None}
    se = float(d.std(ddof=1))
    out["se"] = se
    if se == 0:
        return out | _degenerate(difference)
    z = difference / se
    low, high = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    return out | {
        "statistic": float(z),
        "p_value": float(2 * stats.norm.sf(abs(z))),
        "interval": [float(low), float(high)],
    }


def _needed(out: dict[str, Any], effect: float, z: float, paired: bool) -> tuple | None:
    """Labelled rows each arm needs to detect `effect` (None: no effect to detect)."""
    n_a, n_b = out["n"]
    if not effect or not np.isfinite(effect) or n_a < 2 or n_b < 2:
        return None
    if "var_d" in out:  # paired on per-row values: both arms hold the same rows
        n = max(2, math.ceil(z**2 * out["var_d"] / effect**2))
        return (n, n)
    share_a = n_a / (n_a + n_b)
    if "var_a" in out:  # independent arms, the current allocation kept
        total = z**2 * (out["var_a"] / share_a + out["var_b"] / (1 - share_a)) / effect**2
    elif out.get("se"):  # bootstrap: the standard error shrinks as 1 / sqrt(rows)
        scale = (out["se"] * z / effect) ** 2
        if paired:
            n = max(2, math.ceil(n_a * scale))
            return (n, n)
        total = (n_a + n_b) * scale
    else:
        return None
    return (max(2, math.ceil(total * share_a)), max(2, math.ceil(total * (1 - share_a))))
