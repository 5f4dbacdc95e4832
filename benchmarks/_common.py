"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def find_loopml(explicit: str | None) -> list[str]:
    """The loopml command: given, beside this Python, on PATH, or `python -m loopml`."""
    if explicit:
        return [explicit]
    beside = Path(sys.executable).parent / "loopml"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("loopml")
    if found:
        return [found]
    return [sys.executable, "-m", "loopml"]


def median_s(call: Callable[[], Any], repeats: int) -> float:
    """The median wall time of `call` over `repeats` calls (after a few warm-up calls)."""
    for _ in range(min(10, repeats)):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
