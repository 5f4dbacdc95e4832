"""URL helpers shared by the data sources and the store."""

from __future__ import annotations

import re
from pathlib import Path

_PASSWORD = re.compile(r"([^:/@\s]+):[^@/\s]*@")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, even when the scheme is mistyped."""
    return _PASSWORD.sub(r"\1:***@", url)


def sqlite_url_in(url: str, root: Path) -> str:
    """A SQLite URL with a relative file path made absolute under `root`; others unchanged."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    database, sep, query = url.removeprefix(prefix).partition("?")
    if database in ("", ":memory:") or Path(database).is_absolute():
        return url
    return f"{prefix}{(root / database).resolve()}{sep}{query}"
