"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


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
