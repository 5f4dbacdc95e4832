"""Reference statistics: plain numbers that describe the training rows and predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from loopml.monitor.reference import (
    MAX_CATEGORIES,
    OTHER,
    bin_shares,
    column_statistics,
    reference_statistics,
)
from tests.conftest import DEMO_CSV

ROLES = {
    "flight_date": "datetime",
    "distance": "numeric",
    "wind_gust": "numeric",
    "carrier": "categorical",
    "tailnum": "categorical",
}


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    return pd.read_csv(DEMO_CSV)[list(ROLES)]


def test_numeric_bins_quantiles_and_missing_rate(flights: pd.DataFrame) -> None:
    gust = flights["wind_gust"]
    stats = column_statistics(gust.to_numpy(dtype=float), "numeric")
    assert stats["missing_rate"] == pytest.approx(gust.isna().mean())
    assert sum(stats["shares"]) == pytest.approx(1.0)
    assert stats["edges"] == sorted(stats["edges"])
    present = gust.dropna().to_numpy()
    assert stats["quantiles"][0] == present.min() and stats["quantiles"][-1] == present.max()
    assert stats["quantiles"][50] == pytest.approx(np.median(present))
    # Deciles put about a tenth of the training values in each bin (ties can merge bins).
    assert max(stats["shares"]) < 0.3


def test_bins_are_closed_on_the_right() -> None:
    shares = bin_shares(np.array([1.0, 2.0, 2.0, 3.0, 9.0]), np.array([2.0, 3.0]))
    assert shares.tolist() == [0.6, 0.2, 0.2]


def test_categories_keep_the_most_frequent_and_the_rest_together(flights: pd.DataFrame) -> None:
    stats = column_statistics(flights["tailnum"].to_numpy(dtype=object), "categorical")
    counts = flights["tailnum"].value_counts(normalize=True)
    assert len(stats["shares"]) == MAX_CATEGORIES + 1 and OTHER in stats["shares"]
    top = counts.index[0]
    assert stats["shares"][top] == pytest.approx(counts.iloc[0])
    assert sum(stats["shares"].values()) == pytest.approx(1.0)
    assert stats["n_categories"] == flights["tailnum"].nunique()


def test_reference_statistics_are_json_and_describe_predictions(flights: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    proba = rng.uniform(size=len(flights))
    stats = reference_statistics(flights, ROLES, proba, task="binary")
    assert set(stats["features"]) == set(ROLES) and stats["rows"] == len(flights)
    assert stats["features"]["flight_date"]["kind"] == "numeric"  # days since 1970
    assert stats["prediction"]["kind"] == "numeric"
    json.dumps(stats)  # plain data, stored in the run record
    three = rng.dirichlet([1, 1, 1], size=len(flights))
    multi = reference_statistics(flights, ROLES, three, task="multiclass", classes=["a", "b", "c"])
    assert set(multi["prediction"]["shares"]) <= {"a", "b", "c"}
