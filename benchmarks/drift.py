"""Drift-check speed and verdicts: `loopml monitor`'s drift step vs Evidently's DataDriftPreset.

Issue 5 asks: 1,000,000 logged rows x 50 features checked in under 10 s on this machine, and
side by side with Evidently's data-drift preset on the same data, at least 10x faster with
the same verdicts on planted drift. This script:

1. generates a reference table (200,000 rows) and a current table (1,000,000 rows) of 50
   features — 35 numeric (normal, log-normal, integer counts, some with missing values) and
   15 categorical (3 to 200 categories, Zipf-like) — from fixed seeds, with drift planted
   in 6 features of the current table: two numeric shifts, a scale change, a category mix
   change, new categories, and a jump in the missing rate (`benchmarks/_data/drift/`);
2. times loopml: the reference statistics (once per model version, at training) and the
   drift check of the current table read as Arrow (what `loopml monitor` runs per window);
3. times Evidently's DataDriftPreset on the same two tables, in its own virtualenv
   (`benchmarks/_venv_evidently`, created on first use), with its default tests;
4. prints seconds, the ratio, and which features each flags (the planted ones first).

Usage: python benchmarks/drift.py [--rows 1000000] [--skip-evidently]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data" / "drift"
VENV = HERE / "_venv_evidently"
PLANTED = ["num_0", "num_1", "num_2", "cat_0", "cat_1", "num_3"]

_EVIDENTLY = r"""
import json, sys, time
import pandas as pd
reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
import evidently
started = time.perf_counter()
try:  # evidently >= 0.7
    from evidently import Report
    from evidently.presets import DataDriftPreset
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    result = snapshot.dict()
    drifted = []
    for metric in result["metrics"]:
        name = str(metric.get("metric_name", ""))
        value = metric.get("value")
        if name.startswith("ValueDrift(") and isinstance(value, (int, float)):
            column = name.split("column=")[1].split(",")[0].rstrip(")")
            drifted.append((column, value))
    tests = {c: v for c, v in drifted}
    # Its default at this size: Wasserstein (numbers) / Jensen-Shannon (categories) >= 0.1.
    flagged = [c for c, v in tests.items() if v >= 0.1]
except ImportError:  # evidently 0.4 - 0.6
    from evidently.metric_preset import DataDriftPreset
    from evidently.report import Report
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current)
    result = report.as_dict()
    tests = {}
    flagged = []
    for metric in result["metrics"]:
        by_column = metric["result"].get("drift_by_columns")
        if by_column:
            for column, info in by_column.items():
                tests[column] = info["drift_score"]
                if info["drift_detected"]:
                    flagged.append(column)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "version": evidently.__version__, "scores": tests,
                  "flagged": flagged}))
"""


def make_tables(rows: int, reference_rows: int = 200_000) -> tuple[Path, Path]:
    """The reference and current Parquet files (made once per size, from fixed seeds)."""
    DATA.mkdir(parents=True, exist_ok=True)
    ref_path, cur_path = (
        DATA / f"reference_{reference_rows}.parquet",
        DATA / f"current_{rows}.parquet",
    )
    if ref_path.exists() and cur_path.exists():
        return ref_path, cur_path
    pq.write_table(pa.Table.from_pandas(_table(reference_rows, 1, drift=False)), ref_path)
    pq.write_table(pa.Table.from_pandas(_table(rows, 2, drift=True)), cur_path)
    return ref_path, cur_path


def _table(n: int, seed: int, *, drift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for i in range(35):
        kind = i % 3
        if kind == 0:
            values = rng.normal(10 + i, 1 + i % 5, n)
        elif kind == 1:
            values = rng.lognormal(1 + i % 4 / 4, 0.5, n)
        else:
            values = rng.poisson(3 + i % 7, n).astype(float)
        if i % 5 == 4:
            values[rng.uniform(size=n) < 0.05] = np.nan
        columns[f"num_{i}"] = values
    for j in range(15):
        k = [3, 8, 20, 50, 200][j % 5]
        p = 1 / np.arange(1, k + 1) ** 1.1
        columns[f"cat_{j}"] = rng.choice([f"c{j}_{v}" for v in range(k)], n, p=p / p.sum())
    frame = pd.DataFrame(columns)
    if drift:
        frame["num_0"] = frame["num_0"] + 0.5 * frame["num_0"].std()  # mean shift
        frame["num_1"] = frame["num_1"] * 1.3  # scale
        frame["num_2"] = frame["num_2"] + 2  # counts up
        mix = rng.uniform(size=n) < 0.4
        frame.loc[mix, "cat_0"] = "c0_2"  # category mix
        frame.loc[rng.uniform(size=n) < 0.1, "cat_1"] = "c1_new"  # unseen category
        frame.loc[rng.uniform(size=n) < 0.3, "num_3"] = np.nan  # missing values
    return frame


def run_loopml(ref_path: Path, cur_path: Path) -> dict:
    from loopml.monitor.drift import dataset_drift, feature_drift
    from loopml.monitor.reference import reference_statistics
    from loopml.spec import Drift

    reference = pd.read_parquet(ref_path)
    roles = {c: "numeric" if c.startswith("num") else "categorical" for c in reference.columns}
    started = time.perf_counter()
    stats = reference_statistics(reference, roles, np.zeros(len(reference)), task="regression")
    reference_seconds = time.perf_counter() - started
    current = pq.read_table(cur_path)
    settings = Drift()
    started = time.perf_counter()
    found = [feature_drift(c, stats["features"][c], current.column(c), settings) for c in roles]
    verdict = dataset_drift(found, {}, settings)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "reference_seconds": reference_seconds,
        "flagged": [f.name for f in found if f.drifted],
        "dataset_drift": verdict["drifted"],
        "methods": sorted({f.method for f in found}),
    }


def run_evidently(ref_path: Path, cur_path: Path) -> dict:
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", "evidently", "pandas<3", "pyarrow"],
            check=True,
        )
    proc = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", _EVIDENTLY, str(ref_path), str(cur_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"Evidently failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()
    ref_path, cur_path = make_tables(args.rows)
    mine = run_loopml(ref_path, cur_path)
    print(
        f"rows: reference 200,000, current {args.rows:,}; 50 features; planted drift in {PLANTED}"
    )
    print(
        f"loopml: drift check {mine['seconds']:.2f} s (reference statistics, once per version: "
        f"{mine['reference_seconds']:.2f} s); methods {mine['methods']}"
    )
    print(f"  flags {sorted(mine['flagged'])}; dataset drift: {mine['dataset_drift']}")
    missed = sorted(set(PLANTED) - set(mine["flagged"]))
    extra = sorted(set(mine["flagged"]) - set(PLANTED))
    print(
        f"  planted but not flagged: {missed or 'none'}; flagged but not planted: {extra or 'none'}"
    )
    if args.skip_evidently:
        return
    theirs = run_evidently(ref_path, cur_path)
    flagged = theirs["flagged"]
    print(f"Evidently {theirs['version']} DataDriftPreset: {theirs['seconds']:.2f} s")
    if flagged is not None:
        print(f"  flags {sorted(flagged)}")
        print(
            f"  planted but not flagged: {sorted(set(PLANTED) - set(flagged)) or 'none'}; "
            f"flagged but not planted: {sorted(set(flagged) - set(PLANTED)) or 'none'}"
        )
    else:
        scores = theirs["scores"]
        print(f"  drift scores of the planted features: { {c: scores.get(c) for c in PLANTED} }")
    print(
        f"ratio Evidently / loopml seconds: {theirs['seconds'] / mine['seconds']:.1f}x (goal: >= 10x)"
    )


if __name__ == "__main__":
    main()
