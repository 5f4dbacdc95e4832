"""A model family: its tasks, the encoding it needs, its defaults, its search space, its builder.

The registry `FAMILIES` holds the built-in families (see `loopml.models.catalog`) and any a user
adds with `register_family`. Nothing here imports Optuna or a booster: they are imported only
inside the functions that build an estimator or draw from a trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loopml.errors import UsageError
from loopml.features import ENCODINGS

TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
CLASSIFICATION: tuple[str, ...] = ("binary", "multiclass")
BASELINE = "baseline"

# build(task, params, seed, n_jobs) -> an unfitted scikit-learn estimator
Builder = Callable[[str, dict[str, Any], int, int], Any]
# defaults(task) -> parameters
Defaults = Callable[[str], dict[str, Any]]
# space(trial, task) -> parameters drawn from an Optuna trial
Space = Callable[[Any, str], dict[str, Any]]


def no_params(task: str) -> dict[str, Any]:
    """The defaults of a family whose estimator needs no parameters."""
    return {}


@dataclass(frozen=True)
class Family:
    """One kind of model, from default parameters and a search space to an unfitted estimator.

    `encoding` is what `loopml.features.build_preprocessor` gives the estimator ("onehot",
    "ordinal" or "native"), `scale` whether the numeric outputs are standardised. `cost` ranks
    families by how expensive a fit is (cheap first; the search splits its budget by it).
    `space` is None for a family that is never tuned (the baseline): `suggest` then returns
    the defaults. Parameters given to `make_estimator` are laid over the defaults, so a space
    may draw only some of them. `portfolio` holds points of the space known to do well on
    many tables: tuning tries them first, before the sampler's own proposals.
    """

    name: str
    tasks: tuple[str, ...]
    encoding: str
    build: Builder
    defaults: Defaults = no_params
    space: Space | None = None
    scale: bool = False
    cost: int = 5
    description: str = ""
    portfolio: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise UsageError(
                f"family name {self.name!r} must be letters, digits and underscores, like `my_svm`"
            )
        if isinstance(self.tasks, str):
            object.__setattr__(self, "tasks", (self.tasks,))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        unknown = [task for task in self.tasks if task not in TASKS]
        if not self.tasks or unknown:
            raise UsageError(
                f"family `{self.name}` names tasks {list(self.tasks)}; use some of {', '.join(TASKS)}"
            )
        if self.encoding not in ENCODINGS:
            raise UsageError(
                f"family `{self.name}` asks for encoding {self.encoding!r}; "
                f"use one of {', '.join(ENCODINGS)}"
            )

    @property
    def tunable(self) -> bool:
        """Whether the family has a search space (the baseline has none)."""
        return self.space is not None

    def supports(self, task: str) -> bool:
        """Whether the family can learn `task`."""
        return task in self.tasks

    def default_params(self, task: str) -> dict[str, Any]:
        """Parameters that work without tuning: what a one-trial budget gets."""
        self._check_task(task)
        return dict(self.defaults(task))

    def suggest(self, trial: Any, task: str) -> dict[str, Any]:
        """Parameters drawn from an Optuna trial (the defaults when the family is not tuned)."""
        self._check_task(task)
        if self.space is None:
            return self.default_params(task)
        return dict(self.space(trial, task))

    def make_estimator(
        self, task: str, params: dict[str, Any] | None = None, seed: int = 0, n_jobs: int = 1
    ) -> Any:
        """An unfitted estimator: `params` over the defaults, seeded, using `n_jobs` cores."""
        merged = {**self.default_params(task), **(params or {})}
        return self.build(task, merged, seed, n_jobs)

    def _check_task(self, task: str) -> None:
        if task not in self.tasks:
            raise UsageError(
                f"model family `{self.name}` cannot learn a {task} task; "
                f"it supports {', '.join(self.tasks)}"
            )


FAMILIES: dict[str, Family] = {}


def register_family(family: Family, *, replace: bool = False) -> Family:
    """Add `family` to the catalog (any scikit-learn compatible estimator with its space)."""
    if not isinstance(family, Family):
        raise UsageError(
            f"register_family takes a loopml.models.Family, not {type(family).__name__}"
        )
    if family.name in FAMILIES and not replace:
        raise UsageError(
            f"a model family named `{family.name}` is already registered; "
            "pick another name or pass replace=True"
        )
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The registered family called `name`."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise UsageError(
            f"unknown model family `{name}`; known families are {', '.join(sorted(FAMILIES))}"
        ) from None


def families_for(task: str, names: list[str] | None = None) -> list[Family]:
    """The model families to search for `task`, cheapest first.

    Without `names`: every registered family that supports the task, the baseline excepted
    (it is not searched: it always runs first, see `FAMILIES["baseline"]`). With `names`
    (`--families`): exactly those, in cost order; an unknown name, or one that cannot learn
    the task, is a UsageError naming it.
    """
    if task not in TASKS:
        raise UsageError(f"unknown task `{task}`; use one of {', '.join(TASKS)}")
    if names is None:
        chosen = [f for f in FAMILIES.values() if f.supports(task) and f.name != BASELINE]
    else:
        names = [name.strip() for name in names if name.strip()]
        if not names:
            raise UsageError(f"no model family named; choose some of {', '.join(_names_for(task))}")
        chosen = []
        for name in dict.fromkeys(names):
            if name not in FAMILIES:
                raise UsageError(
                    f"unknown model family `{name}`; known families are "
                    f"{', '.join(sorted(FAMILIES))}"
                )
            family = FAMILIES[name]
            if not family.supports(task):
                raise UsageError(
                    f"model family `{name}` cannot learn a {task} task; "
                    f"for {task} choose from {', '.join(_names_for(task))}"
                )
            chosen.append(family)
    return sorted(chosen, key=lambda family: family.cost)  # stable: ties keep their order


def _names_for(task: str) -> list[str]:
    return sorted(f.name for f in FAMILIES.values() if f.supports(task) and f.name != BASELINE)
