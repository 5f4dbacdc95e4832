"""Run the real `loopml` command as a user would: a subprocess in a project folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def loopml(
    *args: str, cwd: Path, check: bool = False, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "loopml", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"COLUMNS": str(columns)},
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def run_json(*args: str, cwd: Path) -> dict | list:
    return json.loads(loopml(*args, "--json", cwd=cwd, check=True).stdout)
