"""Batch scoring speed and memory: `loopml score` on a large table vs the bare model.

Issue 4 asks: batch `score` on 1M rows at rows/s within 2x of calling the bare model on a
NumPy array, in constant memory. This script:

1. makes a project from the bundled demo (`loopml init --demo`) and trains a LightGBM
   model (`loopml train --families lightgbm --max-trials 1`), unless `--project` names one;
2. writes the demo's feature rows repeated to `--rows` rows as Parquet
   (`benchmarks/_data/`, git-ignored);
3. times, in child processes, (a) `loopml score latest big.parquet out.parquet` (read,
   signature check, preprocessing, predict, write: the whole command, with interpreter
   start-up, imports and model load), (b) the same scoring through `Project.score` in a
   process that has already imported loopml and loaded the model once, and (c) the bare
   booster: the model's LightGBM estimator `predict_proba` on the already-preprocessed
   NumPy array of the same rows (no I/O, no checks, no preprocessing);
4. prints rows/s of each, the ratios, and the peak RSS of (a) (GNU time's maximum RSS).

Usage: python benchmarks/batch_score.py [--rows 1000000] [--project DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import find_loopml

DATA = Path(__file__).resolve().parent / "_data"

_BARE = r"""
import sys, time
import numpy as np, pandas as pd
import loopml
project = loopml.Project(sys.argv[1])
model = project.load_model("latest")
frame = pd.read_parquet(sys.argv[2])
member = model.members[0]
X = member.steps[0][1].transform(frame[model.columns])
booster = member.steps[-1][1]
started = time.perf_counter()
booster.predict_proba(np.asarray(X))
print(time.perf_counter() - started)
"""


_IN_PROCESS = r"""
import sys, time
import loopml
project = loopml.Project(sys.argv[1])
project.load_model("latest")  # imports and the first load, not counted
started = time.perf_counter()
project.score("latest", sys.argv[2], sys.argv[3])
print(time.perf_counter() - started)
"""


def _timed(command: list[str], cwd: Path) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in KiB, stdout) of a child under GNU time."""
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *command], cwd=cwd, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)[1])
    return wall, peak, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--loopml", default=None)
    args = parser.parse_args()
    loopml = find_loopml(args.loopml)
    project = args.project or Path(tempfile.mkdtemp(prefix="loopml-batch-"))
    if args.project is None:
        subprocess.run([*loopml, "init", "--demo"], cwd=project, check=True, capture_output=True)
        subprocess.run(
            [*loopml, "train", "--families", "lightgbm", "--max-trials", "1", "--json"],
            cwd=project,
            check=True,
            capture_output=True,
        )
    import pandas as pd

    DATA.mkdir(exist_ok=True)
    big = DATA / f"batch_{args.rows}.parquet"
    if not big.exists():
        demo = pd.read_csv(project / "data" / "flights.csv")
        reps = -(-args.rows // len(demo))
        pd.concat([demo] * reps, ignore_index=True).head(args.rows).to_parquet(big, index=False)
    out = project / "scored.parquet"
    wall, peak, stdout = _timed([*loopml, "score", "latest", str(big), str(out), "--json"], project)
    summary = json.loads(stdout)
    _, _, bare_out = _timed(
        [sys.executable, "-c", _BARE, str(project / "loopml.yaml"), str(big)], project
    )
    bare = float(bare_out.strip().splitlines()[-1])
    _, _, inner_out = _timed(
        [sys.executable, "-c", _IN_PROCESS, str(project / "loopml.yaml"), str(big), str(out)],
        project,
    )
    inner = float(inner_out.strip().splitlines()[-1])
    rows = summary["rows"]
    print(f"rows: {rows:,} (scored {summary['scored']:,}, rejected {summary['rejected']:,})")
    print(
        f"loopml score (whole command): {wall:6.2f} s  {rows / wall:12,.0f} rows/s  peak RSS {peak / 1024:,.0f} MiB"
    )
    print(f"Project.score (in process):   {inner:6.2f} s  {rows / inner:12,.0f} rows/s")
    print(f"bare booster predict_proba:   {bare:6.2f} s  {rows / bare:12,.0f} rows/s")
    print(f"ratio bare / whole command:   {wall / bare:.2f}x (goal: at most 2x)")
    print(f"ratio bare / in-process:      {inner / bare:.2f}x (start-up and imports excluded)")


if __name__ == "__main__":
    main()
