"""Drift: planted drift is found, undrifted windows are not flagged, big samples stay calm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.monitor.drift import dataset_drift, feature_drift
from loopml.monitor.reference import reference_statistics
from loopml.spec import Drift
from tests.conftest import DEMO_CSV

ROLES = {
    "distance": "numeric",
    "temp": "numeric",
    "humid": "numeric",
    "wind_gust": "numeric",
    "sched_dep_time": "numeric",
    "carrier": "categorical",
    "origin": "categorical",
    "dest": "categorical",
}
SETTINGS = Drift()


@pytest.fixture(scope="module")
def halves() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    frame = pd.read_csv(DEMO_CSV)[list(ROLES)].sample(frac=1.0, random_state=3)
    frame = frame.reset_index(drop=True)
    reference, rest = frame.iloc[:2500], frame.iloc[2500:].reset_index(drop=True)
    stats = reference_statistics(reference, ROLES, np.zeros(len(reference)), task="regression")
    return reference, rest, stats


def _drift(stats: dict, frame: pd.DataFrame) -> dict:
    return {
        name: feature_drift(name, stats["features"][name], frame[name].to_numpy(), SETTINGS)
        for name in ROLES
    }


def test_undrifted_windows_raise_few_false_alarms(halves: tuple) -> None:
    _, rest, stats = halves
    flags = []
    for size in (100, 500):  # small samples: KS and chi-squared tests at p < 0.01
        for start in range(0, len(rest) - size + 1, size):
            window = rest.iloc[start : start + size]
            flags += [f.drifted for f in _drift(stats, window).values()]
    assert len(flags) >= 100 and np.mean(flags) <= 0.05
    whole = _drift(stats, rest)  # 2,500 rows: judged by effect size
    assert not any(f.drifted for f in whole.values()), {n: f.score for n, f in whole.items()}
    assert whole["distance"].method == "wasserstein" and whole["dest"].method == "jensen_shannon"
    assert whole["wind_gust"].method == "ks"  # mostly missing: few values, so a test decides


def test_planted_drift_is_found_where_it_was_planted(halves: tuple) -> None:
    _, rest, stats = halves
    rng = np.random.default_rng(0)
    drifted = rest.copy()
    drifted["distance"] = drifted["distance"] * 1.5
    drifted.loc[rng.uniform(size=len(drifted)) < 0.3, "humid"] = np.nan
    drifted.loc[rng.uniform(size=len(drifted)) < 0.2, "carrier"] = "ZZ"
    found = _drift(stats, drifted)
    assert {n for n, f in found.items() if f.drifted} == {"distance", "humid", "carrier"}
    assert found["distance"].psi > SETTINGS.psi and found["distance"].details["wasserstein"] > 0.2
    assert found["distance"].details["psi_shift"] and not found["temp"].details["psi_shift"]
    assert found["humid"].missing_rate == pytest.approx(0.3, abs=0.03)
    assert found["carrier"].details["new_categories"] == ["ZZ"]
    assert found["carrier"].details["new_category_share"] == pytest.approx(0.2, abs=0.03)
    verdict = dataset_drift(list(found.values()), {}, SETTINGS)
    assert verdict["drifted"] and verdict["share"] == pytest.approx(3 / 8)
    # Weighted by importance: drift in unimportant features alone is no dataset drift.
    weights = {"temp": 1.0, "origin": 1.0, "distance": 0.01}
    assert not dataset_drift(list(found.values()), weights, SETTINGS)["drifted"]


def test_a_million_rows_with_a_negligible_shift_are_not_flagged(halves: tuple) -> None:
    reference, _, stats = halves
    rng = np.random.default_rng(1)
    big = reference["distance"].to_numpy()[rng.integers(0, len(reference), 1_000_000)]
    result = feature_drift("distance", stats["features"]["distance"], big * 1.005, SETTINGS)
    assert result.details["ks_p_value"] < 0.01  # a test on 1M rows calls this significant
    assert result.method == "wasserstein" and not result.drifted  # the effect size does not
    moved = feature_drift("distance", stats["features"]["distance"], big * 1.3, SETTINGS)
    assert moved.drifted


def test_order_statistics_from_a_sample_match_the_exact_ones(halves: tuple) -> None:
    reference, _, stats = halves
    rng = np.random.default_rng(2)
    big = reference["distance"].to_numpy()[rng.integers(0, len(reference), 500_000)] * 1.2
    sampled = feature_drift("distance", stats["features"]["distance"], big, SETTINGS)
    exact = feature_drift(
        "distance", stats["features"]["distance"], big, SETTINGS, ordered_rows=10**9
    )
    assert sampled.details["ordered_rows"] < exact.details["ordered_rows"] == 500_000
    assert sampled.score == pytest.approx(exact.score, abs=0.01)
    assert sampled.details["ks"] == pytest.approx(exact.details["ks"], abs=0.01)
    assert sampled.psi == exact.psi and sampled.drifted and exact.drifted  # counts use all rows
    # Without sampling the distance is the one np.quantile gives, over the central 98 %.
    present = big[~np.isnan(big)]
    ref_q = np.asarray(stats["features"]["distance"]["quantiles"])
    grid = np.linspace(0, 1, len(ref_q))
    cur_q = np.quantile(present, grid)
    central = slice(1, -1)  # levels 0.01 to 0.99 of the 101
    gaps = np.abs(cur_q - ref_q)[central]
    by_hand = np.trapezoid(gaps, grid[central]) / 0.98 / stats["features"]["distance"]["std"]
    assert exact.score == pytest.approx(by_hand, rel=1e-9)


def test_a_zero_inflated_column_does_not_drift_by_its_maximum() -> None:
    """Rain is 0 on most days and its maximum is chance: windows of unchanged data stay calm."""
    precip = pd.read_csv(DEMO_CSV)["precip"].to_numpy()
    assert np.mean(precip == 0) > 0.8  # zero-inflated, with a long right tail
    stats = reference_statistics(
        pd.DataFrame({"precip": precip}),
        {"precip": "numeric"},
        np.zeros(len(precip)),
        task="regression",
    )["features"]["precip"]
    rng = np.random.default_rng(4)
    windows = [precip[rng.choice(len(precip), 1500, replace=False)] for _ in range(40)]
    results = [feature_drift("precip", stats, window, SETTINGS) for window in windows]
    assert {r.method for r in results} == {"wasserstein"}
    assert sum(r.drifted for r in results) <= 2, [round(r.score, 3) for r in results]
    wetter = feature_drift("precip", stats, windows[0] + 0.2, SETTINGS)  # real drift still seen
    assert wetter.drifted


def test_too_few_rows_are_not_judged(halves: tuple) -> None:
    _, rest, stats = halves
    result = feature_drift("temp", stats["features"]["temp"], rest["temp"].to_numpy()[:5], SETTINGS)
    assert result.method == "too few rows" and not result.drifted
