"""The model a server answers with, and how it follows a moving reference (hot swap).

`ModelSlot.current` is one immutable `Served` (compiled model, signature, version); a request
reads it once and uses that object to the end, so a swap never mixes two versions in one
answer. `refresh()` asks the registry what the reference names now and, when the version
changed, loads and compiles the new one (checked by sha256, like every load) before replacing
`current` in one assignment: requests keep being answered by the old version meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from loopml.errors import NotFoundError
from loopml.features.columns import Columns
from loopml.registry.signature import Signature
from loopml.spec import ProjectSpec
from loopml.store import Store

log = logging.getLogger("loopml.serve")


@dataclass(frozen=True)
class Served:
    """One loaded model version, ready to answer."""

    model: Any  # a compiled TrainedModel
    signature: Signature
    version: int
    run_id: str
    loaded_at: float = field(default_factory=time.time)

    @cached_property
    def numeric(self) -> frozenset[str]:
        """The input columns that are numbers (logged as such)."""
        return frozenset(c.name for c in self.signature.columns if c.role == "numeric")

    @cached_property
    def inputs(self) -> frozenset[tuple[str, str]]:
        """The input columns' names and roles: what another model must share to compete."""
        from loopml.serve.routing import input_key

        return input_key(self.signature)

    def answer(self, columns: Columns) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The JSON answer (`predictions` and, for a classifier, `probabilities`: class ->
        probability per row) and the same outputs as arrays, for the prediction log."""
        values, proba, keys = self._score(columns)
        if proba is None:
            return {"predictions": values.tolist()}, {"prediction": values}
        rows = np.round(proba, 12).tolist()
        answer = {
            "predictions": values.tolist(),
            "probabilities": [dict(zip(keys, row, strict=True)) for row in rows],
        }
        return answer, _outputs(values, proba, keys)

    def outputs(self, columns: Columns) -> dict[str, np.ndarray]:
        """The outputs `answer` logs, without building the JSON answer (shadow scoring)."""
        return _outputs(*self._score(columns))

    def _score(self, columns: Columns) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
        model = self.model
        if model.classes is None:
            return model.predict(columns), None, []
        proba = model.predict_proba(columns)
        return model.decide(proba), proba, [str(value) for value in model.classes]


def _outputs(values: np.ndarray, proba: np.ndarray | None, keys: list[str]) -> dict[str, Any]:
    if proba is None:
        return {"prediction": values}
    return {"prediction": values} | {f"proba_{k}": proba[:, j] for j, k in enumerate(keys)}


class ModelSlot:
    """The served model for reference `ref`, reloaded when the reference moves."""

    def __init__(self, store: Store, spec: ProjectSpec, ref: str, *, threads: int = 1) -> None:
        self.store = store
        self.threads = threads  # booster threads per request (this worker's share of cores)
        self.spec = spec
        self.ref = str(ref)
        self.current: Served | None = None
        self.store_ok = False
        self.swaps = 0
        self.unresolved: str | None = None  # why the reference names no version now, if so
        self._lock = threading.Lock()  # one refresh at a time

    @property
    def follows(self) -> bool:
        """Whether the reference can move (an alias or `latest`; a version number cannot)."""
        return not self.ref.isdigit()

    def refresh(self) -> bool:
        """Load the version the reference names now, if it is not the one served; True if swapped."""
        from loopml.registry.versions import resolve

        with self._lock:
            try:
                version = resolve(self.store, self.spec.name, self.ref)
            except NotFoundError as exc:  # the store answered: the reference names nothing now
                self.store_ok, self.unresolved = True, str(exc)
                raise
            except Exception:
                self.store_ok = False
                raise
            self.store_ok, self.unresolved = True, None
            if self.current is not None and self.current.version == version["version"]:
                return False
            served = self._load(version)
            previous, self.current = self.current, served
            if previous is not None:
                self.swaps += 1
                log.warning(
                    "model `%s` moved: now serving version %d (was %d)",
                    self.ref,
                    served.version,
                    previous.version,
                )
            return True

    def _load(self, version: dict[str, Any]) -> Served:
        from loopml.models.compiled import compile_model
        from loopml.runs.scoring import resolve_model

        model, signature, number = resolve_model(
            self.store, self.spec.name, str(version["version"]), self.spec
        )
        compiled = compile_model(model, threads=self.threads)
        return Served(compiled, signature, int(number), version["run_id"])
