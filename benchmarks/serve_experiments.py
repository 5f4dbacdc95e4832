"""What an online experiment costs the champion: `loopml serve` plain vs canary vs shadow.

A shadow model scores every request after its answer was sent, on a thread of its own; a
canary sends a share of the requests to a challenger. Neither should slow the answers
down much: this script serves the same champion three ways, one after the other on this
machine, loads each with the same wrk runs and prints the figures with the ratios against
plain serving (the peer measured in the same run).

1. The models. Unless ``--project`` names a project with two model versions of the same
   inputs, one is made in a temporary folder: the serving benchmark's demo project
   (``serve_http.make_project``: a LightGBM booster of 200 trees as version 1), then the
   same training with ``seed: 7`` as version 2 — a model of the same cost, so the shadow
   does as much work per request as the champion.
2. The servers: ``loopml serve 1`` (plain), ``loopml serve 1 --challenger 2 --split 50``
   (canary), ``loopml serve 1 --shadow 2`` (shadow), each with the prediction log on (as
   deployed), one worker unless ``--workers``.
3. The load: ``wrk --latency`` with ``_post.lua`` and one fixed body (real rows of the
   model's split, as in serve_http.py): 1 row at concurrency 1 and 8, and 100 rows at
   concurrency 1. The three servers run side by side (idle but for the one measured) and
   are measured in turn, ``--repeat`` rounds of the three (in a rotated order) per case,
   each run
   ``--warmup`` seconds (discarded) then ``--seconds``: the table shows each figure's
   median over the rounds, so that the load other work puts on the machine falls on the
   three alike. At the end, ``/metrics`` tells how many records the shadow scored and how
   many it skipped because it fell behind (its queue is bounded).

Usage::

    python benchmarks/serve_experiments.py                    # make the models, 3 x 5 s per case
    python benchmarks/serve_experiments.py --project /tmp/p --seconds 10 --repeat 5 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import find_loopml
from serve_http import (
    Case,
    Server,
    as_records,
    free_port,
    http,
    make_project,
    wrk,
)

CONFIGS = {
    "plain": (),
    "canary": ("--challenger", "2", "--split", "50"),
    "shadow": ("--shadow", "2"),
}
CASES = [
    Case("c1", "1 row, concurrency 1", 1, 1, 1, 1),
    Case("c8", "1 row, concurrency 8", 1, 8, 1, 1),
    Case("r100", "100 rows, concurrency 1", 1, 1, 1, 100),
]


def second_version(project: Path, loopml: list[str], budget: float) -> None:
    """Version 2: the same training with another seed (another model of the same cost)."""
    import yaml

    path = project / "loopml.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["seed"] = 7
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    for step in (("profile",), ("split",), ("train", "--time-budget", f"{budget:g}")):
        argv = [*loopml, *step, "--jobs", "1"] if step[0] == "train" else [*loopml, *step]
        proc = subprocess.run(argv, cwd=project, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def bodies(project: Path, folder: Path) -> dict[int, Path]:
    """One JSON body per request size, of real rows of version 1's split."""
    import loopml

    model = loopml.Project(project / "loopml.yaml")
    info = model.model("1")
    columns = list(model.load_model("1").columns)
    rows = model.open_split(info["split_id"]).train_valid()[columns].dropna()
    model.close()
    out = {}
    for n in {case.rows for case in CASES}:
        path = folder / f"body-{n}.json"
        path.write_text(json.dumps({"records": as_records(rows.head(n))}))
        out[n] = path
    return out


def shadow_counts(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    _, text = http(f"{url}/metrics")
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == "loopml_shadow_records_total":
                outcome = sample.labels["outcome"]
                counts[outcome] = counts.get(outcome, 0) + sample.value
    return counts


def serve(loopml: list[str], project: Path, config: str, workers: int, logs: Path) -> tuple:
    port = free_port()
    argv = [*loopml, "serve", "1", "--port", str(port), "--workers", str(workers)]
    server = Server(config, [*argv, *CONFIGS[config]], project, dict(os.environ), logs / config)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if http(f"{url}/ready", timeout=2)[0] == 200:
                return server, url
        except OSError:
            pass
        if server.proc.poll() is not None:
            break
        time.sleep(0.3)
    tail = server.tail()
    server.stop()
    sys.exit(f"loopml serve ({config}) did not become ready:\n{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, help="A project with versions 1 and 2.")
    parser.add_argument("--seconds", type=float, default=5.0, help="Measured seconds per run.")
    parser.add_argument("--warmup", type=float, default=1.0, help="Discarded seconds first.")
    parser.add_argument("--repeat", type=int, default=3, help="Rounds per case (median).")
    parser.add_argument("--workers", type=int, default=1, help="Server worker processes.")
    parser.add_argument("--budget", type=float, default=60.0, help="Training budget (s).")
    parser.add_argument("--loopml", help="The loopml command (default: beside this Python).")
    args = parser.parse_args()
    loopml = find_loopml(args.loopml)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    project = args.project
    if project is None:
        project = make_project(loopml, args.budget, 1)
        second_version(project, loopml, args.budget)
    folder = Path(tempfile.mkdtemp(prefix="loopml-experiments-bench-"))
    files = bodies(project, folder)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; project {project}")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        c: {k.key: [] for k in CASES} for c in CONFIGS
    }
    try:
        urls = {
            config: serve(loopml, project, config, args.workers, folder)[1] for config in CONFIGS
        }
        for case in CASES:
            for round_ in range(args.repeat):
                order = list(urls)[round_ % 3 :] + list(urls)[: round_ % 3]  # rotated
                for config in order:
                    url = urls[config]
                    wrk(case, f"{url}/predict", files[case.rows], args.warmup)
                    figures = wrk(case, f"{url}/predict", files[case.rows], args.seconds)
                    figures.pop("text", None)
                    runs[config][case.key].append(figures)
        time.sleep(1.0)  # the shadow's queue drains
        counts = shadow_counts(urls["shadow"])
    finally:
        Server.stop_all()
    results = {
        config: {key: median(figures) for key, figures in cases.items()}
        for config, cases in runs.items()
    }
    print_table(results, counts, args.repeat)
    out = folder / "serve_experiments.json"
    out.write_text(json.dumps({"runs": runs, "median": results, "shadow": counts}, indent=2))
    print(f"figures: {out}")
    return 0


def median(figures: list[dict[str, Any]]) -> dict[str, float]:
    """Each figure's median over the rounds."""
    import statistics

    keys = ("p50_ms", "p99_ms", "rps", "non2xx")
    return {key: statistics.median(f[key] for f in figures) for key in keys}


def print_table(results: dict[str, dict[str, Any]], counts: dict[str, float], rounds: int) -> None:
    plain = results["plain"]
    print(
        f"\n{'case':<26}{'server':<8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}"
        f"{'p50 ×':>8}{'p99 ×':>8}{'req/s ×':>9}{'non-2xx':>9}"
    )
    for case in CASES:
        for config, figures in results.items():
            got, base = figures[case.key], plain[case.key]
            print(
                f"{case.label:<26}{config:<8}{got['p50_ms']:>9.3f}{got['p99_ms']:>9.3f}"
                f"{got['rps']:>9.0f}{got['p50_ms'] / base['p50_ms']:>8.2f}"
                f"{got['p99_ms'] / base['p99_ms']:>8.2f}{got['rps'] / base['rps']:>9.2f}"
                f"{got['non2xx']:>9.0f}"
            )
    print(f"(medians of {rounds} rounds)")
    print(
        f"\nshadow records: scored {counts.get('scored', 0):,.0f}, skipped (fell behind) "
        f"{counts.get('skipped', 0):,.0f}, failed {counts.get('failed', 0):,.0f}"
    )
    print("×: the figure divided by plain serving's in this run (p50/p99: lower is better).")


if __name__ == "__main__":
    sys.exit(main())
