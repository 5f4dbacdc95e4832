"""Time ``loopml --help`` and ``loopml --version`` against a bare Python start.

Issue 2 asks that ``loopml --help`` answers in under 0.3 s and that the CLI imports
nothing heavy (pandas, sklearn, lightgbm, ...) until a command needs it.

Each command runs as a fresh subprocess: 2 warm-up runs, then ``--runs`` (20) timed runs;
the script prints min / median / p90 in seconds and the ratio of each median to the
floor, ``python -c pass`` with the same interpreter. It then reports which heavy modules
``loopml --help`` / ``--version`` pulled into ``sys.modules`` and the slowest imports
according to ``python -X importtime``.

Usage::

    python benchmarks/cli_startup.py            # the loopml of this environment
    python benchmarks/cli_startup.py --runs 50
    python benchmarks/cli_startup.py --loopml /path/to/loopml

Exit status: 0 when the median of ``loopml --help`` is within the bound (0.3 s), 1 when
it is not, 2 when a command failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

from _common import find_loopml  # benchmarks/ is on sys.path when run as a script

HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "sklearn",
    "scipy",
    "sqlalchemy",
    "matplotlib",
    "lightgbm",
)
BOUND_HELP_S = 0.3

# Runs the console script's entry point in-process, then lists the heavy modules loaded.
PROBE = """
import contextlib, io, json, sys
heavy = {heavy!r}
sys.argv = ["loopml", *{args!r}]
from loopml.cli import main
rc = 0
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main()
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
loaded = sorted(h for h in heavy if h in sys.modules)
print("PROBE " + json.dumps({{"rc": rc, "heavy": loaded, "modules": len(sys.modules)}}))
"""


def time_command(argv: list[str], runs: int, warmup: int) -> tuple[list[float], int, str]:
    """Run ``argv`` warmup + runs times; return the timed durations, last rc and output."""
    times: list[float] = []
    rc, out = 0, ""
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        rc, out = proc.returncode, proc.stdout + proc.stderr
        if rc != 0:
            return times, rc, out
        if i >= warmup:
            times.append(elapsed)
    return times, rc, out


def p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def probe_heavy(args: list[str]) -> dict:
    code = PROBE.format(heavy=HEAVY, args=args)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[len("PROBE ") :])
    return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]}


def slowest_imports(args: list[str], top: int) -> list[tuple[int, str]]:
    """Packages by cumulative import time (microseconds) under ``-X importtime``.

    Each package is counted once, at its root module (``pandas``, ``typer``), wherever in
    the import tree it was first imported; ``loopml.cli`` itself is listed as the total.
    """
    code = (
        f"import sys; sys.argv = ['loopml', *{args!r}]\n"
        "from loopml.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    cumulative: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        if name == "loopml.cli" or ("." not in name and not name.startswith("_")):
            cumulative[name] = max(cumulative.get(name, 0), int(parts[1]))
    ranked = sorted(((us, pkg) for pkg, us in cumulative.items()), reverse=True)
    return ranked[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--loopml", help="path of the loopml executable (default: this env's)")
    parser.add_argument("--bound", type=float, default=BOUND_HELP_S, help="seconds, --help median")
    args = parser.parse_args(argv)

    loopml = find_loopml(args.loopml)
    load = os.getloadavg()
    print(f"python: {sys.executable} ({sys.version.split()[0]})")
    print(f"loopml: {' '.join(loopml)}")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}; {args.warmup} warm-up + {args.runs} timed runs each"
    )
    print()

    commands = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
        ("loopml --help", [*loopml, "--help"]),
        ("loopml --version", [*loopml, "--version"]),
    ]
    header = f"{'command':<26} {'min s':>8} {'median s':>9} {'p90 s':>8} {'x floor':>8}"
    print(header)
    print("-" * len(header))
    medians: dict[str, float] = {}
    failed = False
    for label, cmd in commands:
        times, rc, out = time_command(cmd, args.runs, args.warmup)
        if rc != 0:
            failed = True
            print(f"{label:<26} FAILED (exit {rc})")
            print("    " + "\n    ".join(out.strip().splitlines()[-8:]))
            continue
        med = statistics.median(times)
        medians[label] = med
        floor = medians.get(commands[0][0])
        ratio = f"{med / floor:.1f}x" if floor else "-"
        print(f"{label:<26} {min(times):>8.3f} {med:>9.3f} {p90(times):>8.3f} {ratio:>8}")
    print()

    probed_ok = True
    for flag in ("--help", "--version"):
        probe = probe_heavy([flag])
        if "error" in probe:
            print(f"heavy modules after loopml {flag}: probe failed: {probe['error']}")
            failed = True
            probed_ok = False
            continue
        heavy = ", ".join(probe["heavy"]) or "none"
        print(
            f"heavy modules after loopml {flag}: {heavy} "
            f"({probe['modules']} modules in sys.modules)"
        )
    ranked = slowest_imports(["--help"], 8) if probed_ok else []
    if ranked:
        print("slowest imports for loopml --help (-X importtime, cumulative, nested overlap):")
        for us, pkg in ranked:
            print(f"    {us / 1000:8.1f} ms  {pkg}")
    print()

    help_median = medians.get("loopml --help")
    if failed or help_median is None:
        print("RESULT: a command failed")
        return 2
    verdict = "within" if help_median <= args.bound else "OVER"
    print(f"RESULT: loopml --help median {help_median:.3f} s, {verdict} the {args.bound} s bound")
    return 0 if help_median <= args.bound else 1


if __name__ == "__main__":
    sys.exit(main())
