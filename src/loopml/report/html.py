"""Render the report templates (Jinja2, autoescaped) and write pages atomically."""

from __future__ import annotations

import logging
import math
import numbers
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from loopml._version import __version__

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
DASH = "—"


def format_count(value: Any) -> str:
    """An integer with thousands separators ("12,345"); a dash when missing."""
    if value is None:
        return DASH
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError, OverflowError):
        return str(value)


def format_number(value: Any) -> str:
    """A number for people: integers with separators, floats to 4 significant digits."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "∞" if number > 0 else "−∞"
        if number.is_integer() and abs(number) < 1e15:
            return f"{int(number):,}"
        magnitude = abs(number)
        if 1e4 <= magnitude < 1e15:
            return f"{number:,.0f}"
        return f"{number:.4g}"
    return format_value(value)


def format_percent(rate: Any, digits: int = 1) -> str:
    """A share in 0..1 as a percentage with one decimal ("12.5%")."""
    if rate is None:
        return DASH
    try:
        number = float(rate) * 100
    except (TypeError, ValueError):
        return str(rate)
    if math.isnan(number):
        return DASH
    text = f"{number:.{digits}f}"
    if number > 0 and float(text) == 0:  # never show a real share as zero
        return f"<{10**-digits:.{digits}f}%"
    return f"{text}%"


def format_value(value: Any) -> str:
    """Any statistic: numbers as `format_number`, dates in ISO-8601, the rest as text."""
    if value is None:
        return DASH
    if isinstance(value, numbers.Number) and not isinstance(value, complex):
        return format_number(value)
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ")
        return text.removesuffix(" 00:00:00")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas / numpy timestamps
        return str(value.isoformat())
    return str(value)


def format_seconds(seconds: Any) -> str:
    """A duration ("0.42 s", "3.1 s", "2 min 5 s")."""
    if seconds is None:
        return DASH
    seconds = float(seconds)
    if seconds < 10:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The report templates' Jinja2 environment (autoescaped, strict about undefined names)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        count=format_count,
        num=format_number,
        pct=format_percent,
        value=format_value,
        seconds=format_seconds,
    )
    env.globals["loopml_version"] = __version__
    return env


def render(template_name: str, **context: Any) -> str:
    """Render one template of the report folder with `context`."""
    context.setdefault("generated_at", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    return environment().get_template(template_name).render(**context)


def write_report(path: Path, html: str) -> Path:
    """Write `html` to `path` atomically (temp file in the same folder, fsync, replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(html)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def draw_chart(draw: Callable[..., str], *args: Any, **kwargs: Any) -> str | None:
    """A chart's data URI, or None (and a logged warning) when it cannot be drawn."""
    try:
        return draw(*args, **kwargs)
    except Exception:  # one bad input must not cost the whole report
        log.warning("could not draw the chart %s", getattr(draw, "__name__", draw), exc_info=True)
        return None
