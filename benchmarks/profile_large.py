"""Profile a large mixed-type table with loopml and, side by side, ydata-profiling.

Issue 2 asks: profile + version a 1,000,000 x 50 mixed-type table in under 60 s with
peak memory under 4 GB on the project's 2-core machine, and compare with
ydata-profiling's minimal mode on the same table.

What this script does:

1. Generates the table deterministically (numpy ``default_rng`` with a fixed seed) and
   writes it as CSV and Parquet to ``benchmarks/_data/`` (git-ignored) unless the files
   already exist.
2. Runs loopml the way a user would, in a fresh temporary project folder:
   ``loopml init --data <csv> --target target --task binary --name bench`` and then
   ``loopml profile --json``.
3. Runs ydata-profiling in minimal mode (``pd.read_csv`` + ``ProfileReport(df,
   minimal=True).to_file(...)``, both inside the timed child) from its own benchmark-only
   virtualenv ``benchmarks/_venv_ydata`` (git-ignored; created on first use). It is never a
   dependency of loopml.
4. Prints a side-by-side table: wall time, peak RSS and the ratios ydata / loopml.

Measurement: every measured command runs as a child process under GNU ``/usr/bin/time
-v`` (Debian package ``time``). Wall time is taken with ``time.perf_counter`` around the
child; peak memory is time's "Maximum resident set size", i.e. the peak RSS of the
largest single process of the child tree (getrusage semantics, not a sum over
processes).

Usage::

    python benchmarks/profile_large.py                  # 1,000,000 rows, both tools
    python benchmarks/profile_large.py --rows 100000    # quicker trial
    python benchmarks/profile_large.py --skip-peer      # loopml only
    python benchmarks/profile_large.py --skip-loopml    # ydata-profiling only
    python benchmarks/profile_large.py --cprofile       # also cProfile loopml profile

Exit status: 0 when loopml ran and met both bounds (or was skipped), 1 when it ran but
missed a bound, 2 when a measured command failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import find_loopml  # benchmarks/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "_data"
YDATA_VENV = HERE / "_venv_ydata"
DEFAULT_ROWS = 1_000_000
DEFAULT_SEED = 20240601
BOUND_WALL_S = 60.0
BOUND_RSS_MB = 4096.0
GNU_TIME = "/usr/bin/time"


# --------------------------------------------------------------------------------------
# 1. the table
# --------------------------------------------------------------------------------------


def table_paths(rows: int, seed: int, data_dir: Path = DATA_DIR) -> tuple[Path, Path]:
    stem = f"mixed_{rows}x50_seed{seed}"
    return data_dir / f"{stem}.csv", data_dir / f"{stem}.parquet"


def build_table(rows: int, seed: int):
    """Return a pyarrow Table with ``rows`` rows and 50 columns of mixed types.

    Columns: 31 numeric (normal, lognormal, integer counts, uniform, heavy-tailed; some
    with 5-40 % missing), 12 categorical strings (cardinality 3 to 2,000; some missing),
    2 ISO date columns, 1 boolean, 1 unique identifier, 1 constant, 1 near-duplicate of a
    numeric column, and a binary ``target`` that depends on a few features.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    n = rows
    cols: dict[str, pa.Array] = {}

    def with_missing(values: np.ndarray, rate: float) -> pa.Array:
        if rate <= 0:
            return pa.array(values)
        mask = rng.random(n) < rate
        return pa.array(values, mask=mask)

    # -- numeric: 10 normal ------------------------------------------------------------
    normal_missing = {2: 0.05, 5: 0.15, 8: 0.40}
    normals = []
    for i in range(10):
        x = rng.normal(loc=i * 3.0, scale=1.0 + i, size=n)
        normals.append(x)
        cols[f"num_normal_{i}"] = with_missing(x, normal_missing.get(i, 0.0))
    # -- numeric: 6 lognormal (one with 10 % missing, one with 25 % missing) --------------
    lognormal_missing = {1: 0.10, 4: 0.25}
    lognormals = []
    for i in range(6):
        x = rng.lognormal(mean=1.0 + 0.5 * i, sigma=0.6 + 0.15 * i, size=n)
        lognormals.append(x)
        cols[f"num_lognormal_{i}"] = with_missing(x, lognormal_missing.get(i, 0.0))
    # -- numeric: 6 integer counts (poisson / negative binomial) -----------------------
    count_missing = {3: 0.20}
    for i in range(6):
        if i % 2 == 0:
            x = rng.poisson(lam=0.5 + 4 * i, size=n).astype(np.int64)
        else:
            x = rng.negative_binomial(n=2 + i, p=0.3, size=n).astype(np.int64)
        cols[f"num_count_{i}"] = with_missing(x, count_missing.get(i, 0.0))
    # -- numeric: 5 uniform ------------------------------------------------------------
    for i in range(5):
        x = rng.uniform(low=-i, high=10.0 * (i + 1), size=n)
        cols[f"num_uniform_{i}"] = with_missing(x, 0.07 if i == 2 else 0.0)
    # -- numeric: 4 heavy-tailed (outliers) ---------------------------------------------
    for i in range(4):
        x = rng.standard_t(df=2 + i, size=n) * (10.0**i)
        cols[f"num_heavy_{i}"] = with_missing(x, 0.0)
    # that is 31 numeric columns

    # -- 12 categorical string columns, cardinality 3 .. 2,000 (Zipf-like frequencies) -
    cardinalities = [3, 4, 5, 7, 10, 15, 25, 50, 120, 400, 1000, 2000]
    cat_missing = {1: 0.02, 6: 0.10, 9: 0.25, 11: 0.05}
    cat_codes = []
    for i, k in enumerate(cardinalities):
        weights = 1.0 / np.arange(1, k + 1) ** 0.8
        weights /= weights.sum()
        codes = rng.choice(k, size=n, p=weights).astype(np.int32)
        cat_codes.append(codes)
        width = len(str(k - 1))
        dictionary = pa.array([f"c{i}_{j:0{width}d}" for j in range(k)], type=pa.string())
        rate = cat_missing.get(i, 0.0)
        mask = rng.random(n) < rate if rate else None
        indices = pa.array(codes, mask=mask)
        cols[f"cat_{i}_k{k}"] = pa.DictionaryArray.from_arrays(indices, dictionary).cast(
            pa.string()
        )

    # -- 2 date columns (ISO yyyy-mm-dd in the CSV) ---------------------------------------
    epoch_2015 = 16436  # days since 1970-01-01
    signup = rng.integers(epoch_2015, epoch_2015 + 3650, size=n).astype(np.int32)
    last_seen = signup + rng.integers(0, 900, size=n).astype(np.int32)
    cols["date_signup"] = pa.array(signup, type=pa.int32()).cast(pa.date32())
    mask = rng.random(n) < 0.08
    cols["date_last_seen"] = pa.array(last_seen, type=pa.int32(), mask=mask).cast(pa.date32())

    # -- 1 boolean ----------------------------------------------------------------------
    flag = rng.random(n) < 0.35
    cols["is_premium"] = pa.array(flag, type=pa.bool_())

    # -- 1 identifier-like: unique string ids in shuffled order -------------------------
    ids = pa.array(rng.permutation(n).astype(np.int64) + 1_000_000)
    cols["customer_id"] = pc.binary_join_element_wise("CUST-", pc.cast(ids, pa.string()), "")

    # -- 1 constant ---------------------------------------------------------------------
    cols["constant_one"] = pa.array(np.ones(n, dtype=np.int64))

    # -- 1 near-duplicate of num_normal_0 -------------------------------------------------
    cols["num_normal_0_near_dup"] = pa.array(normals[0] + rng.normal(0, 1e-3, size=n))

    # -- binary target depending on a few features ---------------------------------------
    logit = (
        -1.2
        + 0.8 * (normals[1] - 3.0) / 2.0
        + 0.5 * np.log(lognormals[0])
        - 0.6 * flag
        + 0.4 * (cat_codes[2] == 0)
        - 0.3 * (cat_codes[4] >= 5)
        + rng.logistic(size=n) * 0.5
    )
    target = (logit > 0).astype(np.int64)
    cols["target"] = pa.array(target)

    table = pa.table(cols)
    assert table.num_columns == 50, table.num_columns
    return table


def ensure_table(rows: int, seed: int, data_dir: Path = DATA_DIR) -> tuple[Path, Path]:
    """Write the CSV and Parquet files unless both already exist; return their paths."""
    csv_path, parquet_path = table_paths(rows, seed, data_dir)
    if csv_path.exists() and parquet_path.exists():
        print(f"table: reusing {csv_path.name} ({csv_path.stat().st_size / 2**20:.0f} MiB)")
        return csv_path, parquet_path

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    data_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    table = build_table(rows, seed)
    t1 = time.perf_counter()
    for path, write in (
        (csv_path, lambda p: pacsv.write_csv(table, p)),
        (parquet_path, lambda p: pq.write_table(table, p)),
    ):
        tmp = path.with_suffix(path.suffix + ".tmp")
        write(str(tmp))
        os.replace(tmp, path)
    t2 = time.perf_counter()
    print(
        f"table: generated {rows:,} x {table.num_columns} in {t1 - t0:.1f} s, "
        f"wrote CSV ({csv_path.stat().st_size / 2**20:.0f} MiB) and Parquet "
        f"({parquet_path.stat().st_size / 2**20:.0f} MiB) in {t2 - t1:.1f} s"
    )
    return csv_path, parquet_path


# --------------------------------------------------------------------------------------
# 2. measuring a child process
# --------------------------------------------------------------------------------------


@dataclass
class Measurement:
    label: str
    argv: list[str]
    rc: int
    wall_s: float
    peak_rss_mb: float | None
    cpu_s: float | None  # user + system CPU seconds of the child tree
    stdout: str
    stderr: str
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.rc == 0


def ensure_gnu_time() -> None:
    if Path(GNU_TIME).exists():
        return
    sys.exit(
        f"{GNU_TIME} is missing: install Debian's 'time' package "
        "(apt-get install -y time) and run again."
    )


def measure(
    label: str,
    argv: list[str],
    cwd: Path | None = None,
    timeout: float | None = None,
    env: dict | None = None,
) -> Measurement:
    """Run ``argv`` under GNU time; return wall time, peak RSS and the child's output."""
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as fh:
        time_file = Path(fh.name)
    try:
        full = [GNU_TIME, "-v", "-o", str(time_file), *argv]
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                full, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
            )
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc = 124
            out = exc.stdout or ""
            err = (exc.stderr or "") + f"\n[benchmark] timed out after {timeout} s"
            out = out.decode() if isinstance(out, bytes) else out
            err = err.decode() if isinstance(err, bytes) else err
        wall = time.perf_counter() - t0
        report = time_file.read_text() if time_file.exists() else ""
    finally:
        time_file.unlink(missing_ok=True)
    match = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", report)
    peak = int(match.group(1)) / 1024.0 if match else None
    cpu = None
    user = re.search(r"User time \(seconds\):\s*([\d.]+)", report)
    system = re.search(r"System time \(seconds\):\s*([\d.]+)", report)
    if user and system:
        cpu = float(user.group(1)) + float(system.group(1))
    extra = {"load_1m_before": load_before, "load_1m_after": os.getloadavg()[0]}
    return Measurement(label, argv, rc, wall, peak, cpu, out, err, extra)


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------------------
# 3. loopml
# --------------------------------------------------------------------------------------


def run_loopml(
    csv_path: Path,
    loopml: list[str],
    timeout: float,
    cprofile: bool,
    debug: bool,
    keep: bool,
) -> dict:
    project = Path(tempfile.mkdtemp(prefix="loopml-bench-"))
    print(f"loopml: project folder {project}")
    result: dict = {"project": str(project)}
    try:
        init = measure(
            "loopml init",
            [
                *loopml,
                "init",
                "--data",
                str(csv_path),
                "--target",
                "target",
                "--task",
                "binary",
                "--name",
                "bench",
            ],
            cwd=project,
            timeout=timeout,
        )
        result["init"] = init
        print(f"loopml init: rc={init.rc} wall={init.wall_s:.2f} s peak={fmt_mb(init.peak_rss_mb)}")
        if not init.ok:
            print(tail(init.stdout + "\n" + init.stderr))
            return result

        profile_argv = (
            [*loopml, "--debug", "profile", "--json"]
            if debug
            else [
                *loopml,
                "profile",
                "--json",
            ]
        )
        prof = measure("loopml profile", profile_argv, cwd=project, timeout=timeout)
        result["profile"] = prof
        print(
            f"loopml profile: rc={prof.rc} wall={prof.wall_s:.2f} s peak={fmt_mb(prof.peak_rss_mb)}"
        )
        if not prof.ok:
            print(tail(prof.stdout + "\n" + prof.stderr, 40))
        else:
            summary = summarise_profile_json(prof.stdout)
            prof.extra.update(summary)
            if summary:
                print("loopml profile --json: " + json.dumps(summary))
        if debug and prof.stderr.strip():
            print("loopml profile --debug (stderr tail):")
            print(textwrap.indent(tail(prof.stderr, 60), "    "))

        if cprofile and prof.ok:
            result["cprofile"] = run_cprofile(project, loopml, timeout)
    finally:
        if keep:
            print(f"loopml: kept {project}")
        else:
            shutil.rmtree(project, ignore_errors=True)
    return result


def summarise_profile_json(stdout: str) -> dict:
    """Pick version / rows / columns / finding counts out of ``loopml profile --json``."""
    text = stdout.strip()
    start = text.find("{")
    if start < 0:
        return {}
    try:
        data = json.loads(text[start:])
    except json.JSONDecodeError:
        return {"json": "unparseable"}
    findings = data.get("findings") or []
    by_severity: dict[str, int] = {}
    checks: dict[str, int] = {}
    for f in findings:
        if isinstance(f, dict):
            sev = str(f.get("severity"))
            by_severity[sev] = by_severity.get(sev, 0) + 1
            check = str(f.get("check"))
            checks[check] = checks.get(check, 0) + 1
    version = data.get("version")
    if isinstance(version, dict):
        version = version.get("id") or version.get("sha256") or version
    return {
        "version": str(version)[:16] if version else None,
        "rows": data.get("rows"),
        "columns": data.get("columns") if not isinstance(data.get("columns"), list) else None,
        "findings_by_severity": by_severity,
        "findings_by_check": checks,
        "cleaned_version": str(data.get("cleaned_version") or "")[:16] or None,
        "elapsed_s_reported": data.get("elapsed_s"),
        "report": data.get("report") or data.get("report_path"),
    }


def run_cprofile(project: Path, loopml: list[str], timeout: float) -> dict:
    """Profile ``loopml profile`` once more under cProfile (a second run of the same
    data, so dataset-version work may be cached; read the hotspots, not the total)."""
    script = loopml[0] if len(loopml) == 1 else None
    prof_file = project / "loopml_profile.prof"
    if script is None:
        argv = [sys.executable, "-m", "cProfile", "-o", str(prof_file), *loopml[1:]]
    else:
        argv = [sys.executable, "-m", "cProfile", "-o", str(prof_file), script]
    argv += ["profile", "--json"]
    m = measure("loopml profile (cProfile)", argv, cwd=project, timeout=timeout)
    print(f"cProfile run: rc={m.rc} wall={m.wall_s:.2f} s (profiler overhead included)")
    if not prof_file.exists():
        print(tail(m.stderr))
        return {"rc": m.rc}
    import io
    import pstats

    keep = HERE / "_data" / "loopml_profile.prof"
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(prof_file, keep)
    buf = io.StringIO()
    stats = pstats.Stats(str(prof_file), stream=buf)
    stats.sort_stats("cumulative").print_stats(r"loopml", 30)
    buf.write("\n---- by internal time ----\n")
    stats.sort_stats("tottime").print_stats(20)
    print(f"cProfile hotspots (full stats kept at {keep}):")
    print(buf.getvalue())
    return {"rc": m.rc, "wall_s": m.wall_s, "stats": str(keep)}


# --------------------------------------------------------------------------------------
# 4. ydata-profiling (peer)
# --------------------------------------------------------------------------------------

YDATA_CHILD = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
import pandas as pd
from ydata_profiling import ProfileReport
t1 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
t2 = time.perf_counter()
report = ProfileReport(df, minimal=True, title="benchmark", progress_bar=False)
report.to_file(sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "read_csv_s": t2 - t1, "profile_s": t3 - t2,
                  "shape": list(df.shape)}))
"""


def ensure_ydata_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", "import ydata_profiling"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            return python
    print(f"ydata-profiling: creating benchmark-only virtualenv {venv} ...")
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "ydata-profiling"], check=True)
    return python


def ydata_versions(python: Path) -> str:
    code = (
        "import importlib.metadata as m;"
        "print(', '.join(f'{p} {m.version(p)}' for p in "
        "('ydata-profiling', 'pandas', 'numpy')))"
    )
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or proc.stderr.strip()


def run_ydata(csv_path: Path, venv: Path, timeout: float) -> Measurement:
    python = ensure_ydata_venv(venv)
    print(f"ydata-profiling: {ydata_versions(python)}")
    out_dir = Path(tempfile.mkdtemp(prefix="ydata-bench-"))
    try:
        m = measure(
            "ydata-profiling minimal",
            [str(python), "-c", YDATA_CHILD, str(csv_path), str(out_dir / "report.html")],
            timeout=timeout,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    print(f"ydata-profiling: rc={m.rc} wall={m.wall_s:.2f} s peak={fmt_mb(m.peak_rss_mb)}")
    if m.ok:
        for line in reversed(m.stdout.strip().splitlines()):
            if line.startswith("{"):
                phases = json.loads(line)
                m.extra.update(phases)
                print("ydata-profiling phases: " + json.dumps(phases))
                break
    else:
        print(tail(m.stdout + "\n" + m.stderr, 40))
    return m


# --------------------------------------------------------------------------------------
# 5. report
# --------------------------------------------------------------------------------------


def fmt_mb(mb: float | None) -> str:
    return "n/a" if mb is None else f"{mb:,.0f} MB"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def table_row(m: Measurement) -> str:
    rss = "n/a" if m.peak_rss_mb is None else f"{m.peak_rss_mb:,.0f}"
    cpu = "n/a" if m.cpu_s is None else f"{m.cpu_s:.2f}"
    share = "n/a" if m.cpu_s is None or not m.wall_s else f"{m.cpu_s / m.wall_s:.2f}"
    load = f"{m.extra.get('load_1m_before', 0):.1f}>{m.extra.get('load_1m_after', 0):.1f}"
    return f"{m.label:<26} {m.wall_s:>8.2f} {cpu:>8} {share:>8} {rss:>12} {m.rc:>3} {load:>10}"


def print_table(loopml_res: dict | None, peer: Measurement | None, rows: int) -> int:
    print()
    print(f"== profile {rows:,} x 50 ==")
    header = (
        f"{'tool':<26} {'wall s':>8} {'CPU s':>8} {'CPU/wall':>8} {'peak RSS MB':>12} {'rc':>3}"
    )
    print(header)
    print("-" * len(header))
    lp = None
    if loopml_res:
        for key in ("init", "profile"):
            if loopml_res.get(key) is not None:
                print(table_row(loopml_res[key]))
        lp = loopml_res.get("profile")
    if peer is not None:
        print(table_row(peer))
    print(
        "(CPU s: user + system seconds of the child; load: 1-minute load average before > "
        "after the child. A CPU/wall well under the cores the tool can use, or a load above "
        "it, means other work competed for the 2 cores)"
    )
    print()
    status = 0
    if lp is not None and peer is not None and lp.ok and peer.ok:
        print(
            f"ratio ydata / loopml profile: wall {ratio(peer.wall_s, lp.wall_s)}, "
            f"CPU {ratio(peer.cpu_s, lp.cpu_s)}, "
            f"peak RSS {ratio(peer.peak_rss_mb, lp.peak_rss_mb)}"
        )
    if lp is not None:
        if not lp.ok:
            print("loopml profile FAILED: bounds not checked")
            status = 2
        else:
            wall_ok = lp.wall_s < BOUND_WALL_S
            rss_ok = lp.peak_rss_mb is not None and lp.peak_rss_mb < BOUND_RSS_MB
            print(
                f"loopml bounds: wall {lp.wall_s:.1f} s < {BOUND_WALL_S:.0f} s: "
                f"{'met' if wall_ok else 'MISSED'}; peak RSS {fmt_mb(lp.peak_rss_mb)} < "
                f"{BOUND_RSS_MB:,.0f} MB: {'met' if rss_ok else 'MISSED'}"
            )
            if rows != DEFAULT_ROWS:
                print(f"(bounds are stated for {DEFAULT_ROWS:,} rows; this run used {rows:,})")
            status = 0 if (wall_ok and rss_ok) else 1
    elif loopml_res is not None:
        status = 2
    if peer is not None and not peer.ok:
        status = max(status, 2)
    return status


def machine_note() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?", "?", "?")
    return (
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}, Python {platform.python_version()} ({sys.executable})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the table")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument("--skip-peer", action="store_true", help="do not run ydata-profiling")
    parser.add_argument("--skip-loopml", action="store_true", help="do not run loopml")
    parser.add_argument("--loopml", help="path of the loopml executable (default: this env's)")
    parser.add_argument("--ydata-venv", type=Path, default=YDATA_VENV)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per child, seconds")
    parser.add_argument(
        "--cprofile", action="store_true", help="also run loopml profile under cProfile"
    )
    parser.add_argument("--debug", action="store_true", help="run loopml --debug profile")
    parser.add_argument("--keep", action="store_true", help="keep the loopml project folder")
    parser.add_argument("--generate-only", action="store_true", help="only write the table")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    ensure_gnu_time()
    print(machine_note())
    csv_path, _ = ensure_table(args.rows, args.seed)
    if args.generate_only:
        return 0

    loopml_res = None
    if not args.skip_loopml:
        loopml = find_loopml(args.loopml)
        print(f"loopml: {' '.join(loopml)}")
        loopml_res = run_loopml(
            csv_path, loopml, args.timeout, args.cprofile, args.debug, args.keep
        )
    peer = None
    if not args.skip_peer:
        peer = run_ydata(csv_path, args.ydata_venv, args.timeout)

    status = print_table(loopml_res, peer, args.rows)
    print(machine_note())

    if args.json_out:
        out: dict = {"rows": args.rows, "seed": args.seed, "csv": str(csv_path)}
        for key, m in (
            ("loopml_init", (loopml_res or {}).get("init")),
            ("loopml_profile", (loopml_res or {}).get("profile")),
            ("ydata_minimal", peer),
        ):
            if m is not None:
                out[key] = {
                    "rc": m.rc,
                    "wall_s": round(m.wall_s, 3),
                    "peak_rss_mb": m.peak_rss_mb,
                    "cpu_s": m.cpu_s,
                    **m.extra,
                }
        args.json_out.write_text(json.dumps(out, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
