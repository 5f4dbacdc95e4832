"""The model search: the baseline, each family's defaults, then tuning where it pays, in budget.

Order of work (design: "cheap families first, more time to the promising ones"):
1. the non-model baseline (always; every later score is shown next to it);
2. each family once with its default parameters, cheapest first — a family whose expected
   time no longer fits is skipped and said so;
3. tuning: each family has its own Optuna study (TPE by default, random or grid by choice,
   a median pruner that stops a trial after a poor fold); the next trial goes to the family
   with the least time spent per unit of share, where the family ranked r-th by its best
   score has share 2^-r. The best family gets about half the tuning time, the next a quarter.
The search stops when `max_trials` is reached, or when no family's next trial is expected to
fit in the time the budget leaves before the final refit and evaluation.

Determinism: samplers are seeded (the seed plus the family's position), so the same data,
spec and seed give the same sequence of trials; how many of them fit in a time budget depends
on the machine. `max_trials` (or `loopml reproduce`, which replays a run's trials) fixes it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loopml.errors import DataError
from loopml.evaluate import default_baseline_strategy
from loopml.models import BASELINE, Family, get_family
from loopml.progress import NoProgress, Progress
from loopml.search.budget import Budget
from loopml.search.trials import Candidate, TrialData, run_trial
from loopml.search.worker import TrialRunner

METHODS = ("tpe", "random", "grid")
TPE_STARTUP_TRIALS = 5
PRUNER_STARTUP_TRIALS = 3
RECENT_TRIALS = 3  # a family's next trial is expected to take the mean of its last three
GRID_POINTS = 3  # values per numeric parameter in a grid search


@dataclass
class SearchResult:
    """Every trial of a search, the baseline first, and what the search had to say."""

    candidates: list[Candidate]
    notes: list[str] = field(default_factory=list)

    @property
    def baseline(self) -> Candidate:
        """The non-model baseline's trial (number 0)."""
        return self.candidates[0]

    def ranked(self, data: TrialData) -> list[Candidate]:
        """Complete model trials, best first (ties: the earlier trial first)."""
        done = [c for c in self.candidates[1:] if c.complete and c.score is not None]
        return sorted(done, key=lambda c: (-data.gain(c.score), c.number))


@dataclass
class _FamilyState:
    family: Family
    position: int
    study: Any = None
    grid_size: int | None = None
    spent: float = 0.0
    trials: list[Candidate] = field(default_factory=list)
    closed: bool = False

    def best(self, data: TrialData) -> Candidate | None:
        done = [c for c in self.trials if c.complete and c.score is not None]
        return min(done, key=lambda c: (-data.gain(c.score), c.number), default=None)

    def expected_seconds(self) -> float | None:
        timed = [c.seconds for c in self.trials if c.complete]
        return float(np.mean(timed[-RECENT_TRIALS:])) if timed else None


def search_models(
    data: TrialData,
    families: list[Family],
    budget: Budget,
    *,
    method: str = "tpe",
    max_trials: int | None = None,
    progress: Progress | None = None,
    on_trial: Callable[[Candidate], None] | None = None,
    update_reserve: Callable[[list[Candidate]], float] | None = None,
    runner: TrialRunner | None = None,
) -> SearchResult:
    """Search `families` on `data` within `budget`; the baseline is trial 0.

    `runner(number, family_name, params, budget=, after_fold=)` runs one trial (default: in
    this process; `TrialWorker.run` runs it in a worker that can be stopped at the deadline).
    """
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r}; use one of {', '.join(METHODS)}")
    progress = progress or NoProgress()
    result = SearchResult([])
    if runner is None:

        def runner(number: int, name: str, params: dict[str, Any], **kwargs: Any) -> Candidate:
            return run_trial(data, number, get_family(name), params, **kwargs)

    search = _Search(
        data, budget, method, max_trials, progress, on_trial, update_reserve, result, runner
    )
    search.baseline()
    states = [_FamilyState(family, i) for i, family in enumerate(families)]
    for state in states:
        if search.full():
            break
        search.defaults(state)
    search.tune(states)
    return result


@dataclass
class _Search:
    data: TrialData
    budget: Budget
    method: str
    max_trials: int | None
    progress: Progress
    on_trial: Callable[[Candidate], None] | None
    update_reserve: Callable[[list[Candidate]], float] | None
    result: SearchResult
    runner: TrialRunner

    def full(self) -> bool:
        # The baseline is not counted against max_trials.
        return self.max_trials is not None and len(self.result.candidates) - 1 >= self.max_trials

    def record(self, candidate: Candidate) -> Candidate:
        self.result.candidates.append(candidate)
        if self.on_trial is not None:
            self.on_trial(candidate)
        if self.update_reserve is not None and candidate.complete:
            self.budget.reserve_s = self.update_reserve(self.result.ranked(self.data))
        best = self.result.ranked(self.data)
        shown = f"best {self.data.metric} {best[0].score:.4g} ({best[0].name})" if best else ""
        self.progress.describe(f"{candidate.name} done · {shown}")
        self.progress.advance(candidate.seconds)
        return candidate

    def baseline(self) -> None:
        family = get_family(BASELINE)
        strategy = default_baseline_strategy(self.data.task, self.data.metric)
        self.progress.describe("baseline")
        candidate = self.record(run_trial(self.data, 0, family, {"strategy": strategy}))
        if not candidate.complete:
            raise DataError(
                f"the baseline could not be fitted on the training part: {candidate.error}"
            )

    def _next_number(self) -> int:
        return len(self.result.candidates)

    def _guess(self, state: _FamilyState) -> float:
        expected = state.expected_seconds()
        if expected is not None:
            return expected
        # Not yet timed: assume it is as quick as the quickest model so far (optimistic; a
        # trial that turns out slower is stopped after the fold that shows it).
        timed = [c.seconds for c in self.result.candidates[1:] if c.complete]
        return min(timed, default=0.0)

    def defaults(self, state: _FamilyState) -> None:
        family = state.family
        guess = self._guess(state)
        if not self.budget.fits(guess):
            state.closed = True
            left = max(0.0, self.budget.search_remaining())
            self.result.notes.append(
                f"{family.name} was not tried: the search's time was spent ({left:.1f} s left, "
                f"about {guess:.1f} s needed); a larger --time-budget tries it"
            )
            return
        number = self._next_number()
        self.progress.describe(f"{family.name} #{number} (defaults)")
        candidate = self.runner(
            number, family.name, family.default_params(self.data.task), budget=self.budget
        )
        state.trials.append(candidate)
        state.spent += candidate.seconds
        self.record(candidate)
        if not candidate.complete:
            state.closed = True
            if candidate.status == "failed":
                self.result.notes.append(
                    f"{family.name} failed with its default parameters and was not tuned: "
                    f"{candidate.error}"
                )

    def tune(self, states: list[_FamilyState]) -> None:
        while not self.full():
            alive = [
                s
                for s in states
                if not s.closed and s.family.tunable and s.best(self.data) is not None
            ]
            if not alive:
                return
            alive.sort(key=lambda s: (-self.data.gain(s.best(self.data).score), s.position))
            shares = {id(s): 0.5**rank for rank, s in enumerate(alive)}
            state = min(alive, key=lambda s: (s.spent / shares[id(s)], s.position))
            guess = self._guess(state)
            if not self.budget.fits(guess):
                state.closed = True
                continue
            self.tuned_trial(state)

    def tuned_trial(self, state: _FamilyState) -> None:
        from optuna.trial import TrialState

        study = self._study(state)
        if state.grid_size is not None and len(state.trials) - 1 >= state.grid_size:
            state.closed = True
            return
        trial = study.ask()
        params = state.family.suggest(trial, self.data.task)
        number = self._next_number()
        self.progress.describe(f"{state.family.name} #{number}")

        def after_fold(step: int, running: float) -> bool:
            if math.isnan(running):
                return False
            trial.report(running, step)
            return trial.should_prune()

        candidate = self.runner(
            number, state.family.name, params, budget=self.budget, after_fold=after_fold
        )
        if candidate.complete and candidate.score is not None and not math.isnan(candidate.score):
            study.tell(trial, candidate.score)
        elif candidate.status == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, state=TrialState.FAIL)
        state.trials.append(candidate)
        state.spent += candidate.seconds
        self.record(candidate)

    def _study(self, state: _FamilyState) -> Any:
        if state.study is not None:
            return state.study
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        seed = (self.data.seed + 7919 * (state.position + 1)) % (2**32)
        points: list[dict[str, Any]] = []
        if self.method == "grid":
            # Every grid point enqueued once, in a seeded order (Optuna's GridSampler stops
            # the study itself, which the ask-and-tell loop here cannot use).
            grid = space_grid(state.family, self.data.task)
            points = [
                dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())
            ]
            order = np.random.default_rng(seed).permutation(len(points))
            points = [points[i] for i in order]
            state.grid_size = len(points)
            sampler: Any = optuna.samplers.RandomSampler(seed=seed)
        elif self.method == "random":
            sampler = optuna.samplers.RandomSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=TPE_STARTUP_TRIALS, multivariate=True
            )
            points = list(state.family.portfolio)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS)
        direction = "maximize" if self.data.higher_is_better else "minimize"
        state.study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
        for point in points:
            state.study.enqueue_trial(point)
        return state.study


class _RecordingTrial:
    """Stands in for an Optuna trial to read a family's search space."""

    def __init__(self) -> None:
        self.space: dict[str, list[Any]] = {}

    def suggest_float(
        self, name: str, low: float, high: float, *, log: bool = False, **_: Any
    ) -> float:
        if log:
            values = np.geomspace(low, high, GRID_POINTS)
        else:
            values = np.linspace(low, high, GRID_POINTS)
        self.space[name] = [float(v) for v in values]
        return low

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, **_: Any) -> int:
        values = (
            np.geomspace(low, high, GRID_POINTS) if log else np.linspace(low, high, GRID_POINTS)
        )
        self.space[name] = sorted({int(np.rint(v)) for v in values})
        return low

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.space[name] = list(choices)
        return self.space[name][0]


def space_grid(family: Family, task: str) -> dict[str, list[Any]]:
    """A grid over `family`'s search space: every choice, three values per numeric range."""
    recorder = _RecordingTrial()
    family.suggest(recorder, task)
    return recorder.space
