"""`loopml score` on a Parquet file of several chunks: predictions, ID columns, rejected rows
and the prediction log, against the Python API's own predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import loopml
from loopml.monitor.log import prediction_folder, read_log
from tests.commands import run_json


def test_parquet_in_chunks_scores_as_the_python_api_and_logs_every_row(demo_copy: Path) -> None:
    frame = pd.read_csv(demo_copy / "data" / "flights.csv")
    big = pd.concat([frame] * 14, ignore_index=True)  # 70,000 rows: two chunks
    big.loc[[3, 66_000], "origin"] = None  # never missing in training: rejected, both chunks
    big.loc[[10, 69_999], "dest"] = "XXX"  # unseen: scored under "allow"
    big.loc[[11, 69_998], "flight_date"] = "2013-13-45"  # not a date
    big.to_parquet(demo_copy / "big.parquet", index=False)
    summary = run_json(
        "score", "latest", "big.parquet", "out.parquet", "--id", "tailnum,flight", cwd=demo_copy
    )
    assert summary["rows"] == 70_000 and summary["scored"] + summary["rejected"] == 70_000
    scored = pd.read_parquet(demo_copy / "out.parquet")
    assert summary["rejected_file"] == "out.rejected.parquet"
    rejected = pd.read_parquet(demo_copy / "out.rejected.parquet").set_index("row")
    assert {3, 66_000, 11, 69_998} <= set(rejected.index)
    assert "`origin` is missing" in rejected.loc[66_000, "reason"]
    assert rejected.loc[69_998, "reason"] == "`flight_date` is not a date"
    assert list(rejected.columns) == [*big.columns, "reason"]
    again = big.loc[rejected.index, ["carrier", "flight", "distance"]]
    assert rejected[["carrier", "flight", "distance"]].equals(again)  # the rows as they came
    assert set(rejected.index).isdisjoint(scored["row"]) and {10, 69_999} <= set(scored["row"])
    assert scored["row"].is_monotonic_increasing

    project = loopml.Project(demo_copy / "loopml.yaml")
    expected = project.predict(big.iloc[scored["row"]])
    np.testing.assert_array_equal(scored["proba_yes"].to_numpy(), expected["proba_yes"].to_numpy())
    assert scored["prediction"].tolist() == expected["prediction"].tolist()
    assert scored["flight"].dtype == np.int64
    assert scored["flight"].tolist() == big["flight"].iloc[scored["row"]].tolist()
    tailnums = big["tailnum"].iloc[scored["row"]]
    assert scored["tailnum"].fillna("-").tolist() == tailnums.fillna("-").tolist()

    logged = read_log(prediction_folder(project)).to_pandas()
    logged = logged[logged["source"] == "score"]
    project.close()
    assert len(logged) == summary["scored"]
    assert logged["proba_yes"].tolist() == scored["proba_yes"].tolist()
    assert logged["in.dest"].tolist() == big["dest"].iloc[scored["row"]].tolist()
    present = tailnums.notna().to_numpy()
    assert logged["request_id"][present].tolist() == tailnums[present].tolist()
