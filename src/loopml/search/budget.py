"""The time budget of a run: one clock, a deadline, and estimates of what still fits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# The share of the budget kept back for the work after the search (refit, test evaluation,
# report, saving) before anything is measured; replaced by an estimate once trials ran.
INITIAL_RESERVE_SHARE = 0.15
FIXED_RESERVE_S = 1.5  # saving the model and the run, writing the report


@dataclass
class Budget:
    """`total_s` seconds from `started` (time.perf_counter()); the search ends `reserve_s` early."""

    total_s: float
    started: float = field(default_factory=time.perf_counter)
    reserve_s: float = 0.0

    def __post_init__(self) -> None:
        if self.reserve_s == 0.0:
            self.reserve_s = INITIAL_RESERVE_SHARE * self.total_s + FIXED_RESERVE_S

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    def remaining(self) -> float:
        """Seconds left of the whole budget (negative once it is spent)."""
        return self.total_s - self.elapsed()

    def search_remaining(self) -> float:
        """Seconds left for the search: the budget less what the final steps need."""
        return self.remaining() - self.reserve_s

    def fits(self, seconds: float) -> bool:
        """Whether work expected to take `seconds` still fits in the search's time."""
        return seconds <= self.search_remaining()
