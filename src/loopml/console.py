"""Terminal rendering for the CLI: progress bars, tables, errors (no stage logic here)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

# Piped output gets 120 columns (rich would assume 80) unless COLUMNS says otherwise.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120
console = Console(highlight=False, markup=False, width=_WIDTH)  # user text is never markup
err_console = Console(stderr=True, highlight=False, width=_WIDTH)

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


class RichProgress:
    """Shows each stage phase as a progress bar with elapsed and remaining time."""

    def __init__(self, enabled: bool = True) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=not enabled or not err_console.is_terminal,
        )
        self._task: TaskID | None = None
        self._names: dict[TaskID, str] = {}

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def phase(self, description: str, total: float | None = None) -> None:
        """Close the current bar and start a new one."""
        if self._task is not None:
            task = self._progress.tasks[-1]
            self._progress.update(self._task, completed=task.total or task.completed)
        self._task = self._progress.add_task(description, total=total)
        self._names[self._task] = description

    def advance(self, amount: float = 1) -> None:
        """Advance the current bar."""
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def describe(self, text: str) -> None:
        """Show `text` after the current phase's name."""
        if self._task is not None:
            name = self._names.get(self._task, "")
            self._progress.update(self._task, description=f"{name}: {text}" if name else text)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def severity(level: str) -> Text:
    """A finding's severity, coloured."""
    return Text(level, style=SEVERITY_STYLE[level])


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    """A rich table with the given header and rows; only the last column wraps."""
    out = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
    for position, name in enumerate(columns, start=1):
        last = position == len(columns)
        out.add_column(name, overflow="fold", no_wrap=not last)
    for row in rows:
        out.add_row(*(v if isinstance(v, Text) else Text("" if v is None else str(v)) for v in row))
    return out


def fitted_tables(
    title: str | None, keys: list[str], columns: list[str], rows: list[list[Any]]
) -> list[Table]:
    """`table`s that each fit the console's width without wrapping a cell: every one shows
    the `keys` columns (the first cells of each row) and a share of the other `columns`, as
    even as fits; the title of the second and later ones says `(continued)`."""

    def width(j: int) -> int:
        names = [*keys, *columns]
        return max([len(names[j]), *(len(str(row[j])) for row in rows)]) + 3  # padding, rule

    n = len(keys)
    room = console.width - 1 - sum(width(j) for j in range(n))
    chunks = _chunks([width(j) for j in range(n, n + len(columns))], room, len(columns))
    even = _chunks(
        [width(j) for j in range(n, n + len(columns))], room, -(-len(columns) // len(chunks))
    )
    if len(even) == len(chunks):
        chunks = even
    out = []
    for i, chunk in enumerate(chunks):
        caption = title if i == 0 or title is None else f"{title} (continued)"
        picked = [[*row[:n], *(row[n + j] for j in chunk)] for row in rows]
        out.append(table(caption, [*keys, *(columns[j] for j in chunk)], picked))
    return out


def _chunks(widths: list[int], room: int, most: int) -> list[list[int]]:
    """Consecutive positions of `widths`, at most `most` and `room` wide a chunk (one at
    least)."""
    chunks: list[list[int]] = [[]]
    used = 0
    for j, size in enumerate(widths):
        if chunks[-1] and (used + size > room or len(chunks[-1]) == most):
            chunks.append([])
            used = 0
        chunks[-1].append(j)
        used += size
    return chunks


def error(message: str) -> None:
    """One sentence on stderr."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
