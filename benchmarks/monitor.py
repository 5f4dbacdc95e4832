"""`loopml monitor` end to end on 1,000,000 logged predictions x 50 features.

Issue 5 asks for 1,000,000 logged rows x 50 features checked in under 10 s on this machine.
`drift.py` times the drift step alone against Evidently; this script times the whole
command a user runs from cron, on a real prediction log:

1. The model: the 200-tree LightGBM of `explain.py` (10,000 x 50: 40 numbers with missing
   values, 10 categories, a planted binary target), made once in a temporary folder (or
   `--project`).
2. The log: 1,000,000 new rows from the same generator (another seed) with drift planted
   in `x03` (shifted by 0.5 standard deviations) and `cat1` (its first category takes half
   the rows), scored by `loopml score` with the prediction log on, so the log holds what
   `loopml serve` would have logged: inputs, predictions, probabilities, times.
3. The check: `loopml monitor 1 --since 1h --json` with the HTML report (drift per feature,
   prediction drift, the unlabelled performance estimate (CBPE) with its interval, the
   timeline over 12 periods, service health, alerts) and with `--no-report`; the best of
   `--repeat` runs, wall seconds of the whole process, start-up included.

Prints the figures, the drifted features (the planted ones should be the only ones) and the
alerts. Exit status 0 when the goal (< 10 s) is met and the planted drift is found, else 1.

Usage: python benchmarks/monitor.py [--project DIR] [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import find_loopml

from explain import make_project, make_table

GOAL_S = 10.0
PLANTED = {"x03", "cat1"}


def make_log(loopml: list[str], root: Path, rows: int) -> None:
    """Score `rows` drifted rows with the prediction log on."""
    frame = make_table(seed=7, rows=rows).drop(columns="label")
    frame["x03"] = frame["x03"] + 0.5
    first = frame["cat1"].iloc[0]
    frame.loc[np.random.default_rng(8).random(rows) < 0.5, "cat1"] = first
    source = root / "current.parquet"
    frame.to_parquet(source, index=False)
    started = time.perf_counter()
    _run([*loopml, "score", "1", str(source), str(root / "scored.parquet")], root)
    print(f"logged {rows:,} rows with `loopml score` in {time.perf_counter() - started:.1f} s")


def time_monitor(loopml: list[str], root: Path, extra: list[str], repeat: int) -> tuple:
    """Best wall seconds of `loopml monitor ... --json` and its last answer."""
    best, answer = float("inf"), {}
    for _ in range(repeat):
        started = time.perf_counter()
        out = _run([*loopml, "monitor", "1", "--since", "1h", "--json", *extra], root, ok=(0, 1))
        best = min(best, time.perf_counter() - started)
        answer = json.loads(out)
    return best, answer


def _run(argv: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if proc.returncode not in ok:
        sys.exit(f"{' '.join(argv[1:])} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a project made by an earlier run")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loopml", help="the loopml command (default: beside this Python)")
    args = parser.parse_args()
    loopml = find_loopml(args.loopml)
    root = args.project or make_project(loopml)
    if not (root / "scored.parquet").exists():
        make_log(loopml, root, args.rows)
    with_report, answer = time_monitor(loopml, root, [], args.repeat)
    without, _ = time_monitor(loopml, root, ["--no-report"], args.repeat)
    drifted = {f["name"] for f in answer["features"] if f["drifted"]}
    estimated = answer.get("estimated") or {}
    print(f"monitor: {answer['rows']:,} logged rows x {len(answer['features'])} features")
    print(f"  loopml monitor --json            {with_report:.2f} s  (goal < {GOAL_S:.0f} s)")
    print(f"  loopml monitor --json --no-report {without:.2f} s")
    print(f"  drifted: {sorted(drifted)} (planted: {sorted(PLANTED)})")
    print(f"  dataset drift: {answer['dataset_drift']}")
    if estimated:
        print(f"  estimated: {json.dumps(estimated)[:300]}")
    print(f"  alerts: {[a.get('rule') for a in answer['alerts']]}")
    met = with_report < GOAL_S and drifted == PLANTED
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
