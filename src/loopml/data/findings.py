"""Findings: what a data quality check reports, with a severity and the columns involved."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class Finding:
    """One result of a quality check."""

    check: str
    severity: Severity
    columns: list[str]
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data."""
        return asdict(self)


def at_least(findings: list[Finding], level: str) -> list[Finding]:
    """The findings whose severity is `level` or worse."""
    floor = SEVERITY_RANK[level]
    return [f for f in findings if SEVERITY_RANK[f.severity] >= floor]
