"""URL helpers shared by the data sources and the store."""

from __future__ import annotations

import re

_PASSWORD = re.compile(r"([^:/@\s]+):[^@/\s]*@")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, even when the scheme is mistyped."""
    return _PASSWORD.sub(r"\1:***@", url)
