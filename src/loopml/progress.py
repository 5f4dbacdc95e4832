"""Progress reporting: stages announce phases and advance; faces decide how to show it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """What a stage may tell about long work."""

    def phase(self, description: str, total: float | None = None) -> None:
        """Start a named phase of `total` units (None when unknown)."""

    def advance(self, amount: float = 1) -> None:
        """Mark `amount` units of the current phase done."""

    def describe(self, text: str) -> None:
        """Say what the current phase is doing now (a trial, the best score so far)."""


class NoProgress:
    """Progress that shows nothing (Python API default, tests, --json)."""

    def phase(self, description: str, total: float | None = None) -> None:
        """Ignore the phase."""

    def advance(self, amount: float = 1) -> None:
        """Ignore the advance."""

    def describe(self, text: str) -> None:
        """Ignore the description."""
