"""Online experiments: which model answers a request, and which pairs of models may compete.

A server answers with one model (variant `main`), or runs one experiment beside its model,
the **champion**:

- canary (`--challenger REF --split PCT`): PCT % of the requests are answered by the
  challenger (variant `challenger`), the rest by the champion (variant `champion`);
- shadow (`--shadow REF`): the champion answers every request; after the answer is sent
  the shadow model scores the same records, and its predictions are logged (variant
  `shadow`), never returned.

A request goes to the challenger when the sha256 of its request id falls in the first PCT %
of 10,000 buckets: the same id always lands on the same variant (a retried request with its
`X-Request-ID` meets the same model, in any worker), and distinct ids split at PCT %.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from loopml.errors import UsageError

log = logging.getLogger("loopml.serve")

MAIN, CHAMPION, CHALLENGER, SHADOW = "main", "champion", "challenger", "shadow"
VARIANTS = (MAIN, CHAMPION, CHALLENGER, SHADOW)
BUCKETS = 10_000  # the split's resolution: 0.01 %
DEFAULT_SPLIT = 10.0  # percent of requests a challenger answers unless --split says


@dataclass(frozen=True)
class Experiment:
    """What runs beside the champion: a canary challenger or a shadow (or nothing)."""

    challenger: str | None = None
    split: float | None = None  # percent of requests the challenger answers
    shadow: str | None = None

    @property
    def mode(self) -> str | None:
        """`canary`, `shadow`, or None for a plain server."""
        if self.challenger is not None:
            return "canary"
        return "shadow" if self.shadow is not None else None

    @property
    def other(self) -> str | None:
        """The reference of the model competing with the champion."""
        return self.challenger if self.challenger is not None else self.shadow

    @property
    def variant(self) -> str | None:
        """The log's name for that model: `challenger` or `shadow`."""
        return {"canary": CHALLENGER, "shadow": SHADOW}.get(self.mode or "")

    @property
    def champion(self) -> str:
        """The log's name for the champion: `champion` during an experiment, else `main`."""
        return MAIN if self.mode is None else CHAMPION

    @property
    def threshold(self) -> int:
        """Buckets below this go to the challenger."""
        return round((self.split or 0.0) * BUCKETS / 100)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for /metadata."""
        return {
            "mode": self.mode,
            "challenger": self.challenger,
            "split": self.split,
            "shadow": self.shadow,
        }


def checked_experiment(
    challenger: str | None, split: float | None, shadow: str | None
) -> Experiment:
    """The experiment the flags ask for, or a UsageError saying which combination is wrong."""
    if challenger is not None and shadow is not None:
        raise UsageError(
            "use --challenger or --shadow, not both: a server runs one experiment at a time"
        )
    if split is not None and challenger is None:
        raise UsageError("--split is the challenger's share of requests; give --challenger REF too")
    if challenger is not None:
        split = DEFAULT_SPLIT if split is None else float(split)
        if not 0 < split < 100:
            raise UsageError(
                f"--split {split:g} is not a share between 0 and 100 (exclusive): give the "
                "challenger's percent of requests, e.g. --split 10"
            )
        if round(split * BUCKETS / 100) == 0:
            raise UsageError(
                f"--split {split:g} is below the 0.01 % resolution; give at least 0.01"
            )
    return Experiment(challenger=challenger, split=split, shadow=shadow)


def bucket(request_id: str) -> int:
    """The request id's bucket, 0 to BUCKETS - 1 (the same in every process and run)."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def goes_to_challenger(request_id: str, experiment: Experiment) -> bool:
    """Whether a canary sends this request to the challenger."""
    return bucket(request_id) < experiment.threshold


def input_key(signature: Any) -> frozenset[tuple[str, str]]:
    """What two models must share to answer the same requests: input names and roles."""
    return frozenset((column.name, column.role) for column in signature.columns)


def signature_mismatch(champion: Any, other: Any) -> str | None:
    """Why `other`'s input signature cannot answer the champion's requests (None: it can)."""
    mine, theirs = input_key(champion), input_key(other)
    if mine == theirs:
        return None
    roles = {name: role for name, role in mine}
    lacks = sorted(name for name in roles if name not in {n for n, _ in theirs})
    extra = sorted(name for name, _ in theirs if name not in roles)
    typed = sorted(name for name, role in theirs if name in roles and roles[name] != role)
    parts = []
    if extra:
        parts.append(f"reads column(s) {', '.join(extra[:5])} the champion does not")
    if lacks:
        parts.append(f"lacks column(s) {', '.join(lacks[:5])}")
    if typed:
        parts.append(f"types column(s) {', '.join(typed[:5])} differently")
    return "; ".join(parts)


def paused(champion: Any, other: Any) -> str | None:
    """Why the experiment is paused (the champion answers alone), or None while it runs.

    Both references may move while the server runs: when they come to name the same version
    (the challenger was promoted) or inputs that differ, the champion answers every request.
    """
    if other is None:
        return None
    if other.version == champion.version:
        return f"both references name version {champion.version}"
    if other.inputs != champion.inputs:
        return f"version {other.version} {signature_mismatch(champion.signature, other.signature)}"
    return None


def competing(champion: Any, rival: Any) -> Any:
    """The challenger or shadow (a `Served`) that competes with `champion` now, or None."""
    if rival is None:
        return None
    other = rival.current
    if other is None or other.version == champion.version or other.inputs != champion.inputs:
        return None
    return other


def warn_if_paused(champion: Any, rival: Any) -> None:
    """Log why the experiment is paused, if it is (at start and after each swap)."""
    if rival is not None:
        why = paused(champion.current, rival.current)
        if why is not None:
            log.warning("experiment paused, the champion answers alone: %s", why)


def experiment_metadata(
    experiment: Experiment, slots: dict[str, Any], champion: Any, rival: Any
) -> dict[str, Any] | None:
    """The experiment for /metadata: mode, split, whether it runs, each variant's version."""
    if rival is None:
        return None
    why = paused(champion, rival.current)
    return experiment.to_dict() | {
        "active": why is None,
        "paused": why,
        "variants": [
            {
                "variant": name,
                "reference": slot.ref,
                "model_version": slot.current.version,
                "run_id": slot.current.run_id,
                "swaps": slot.swaps,
            }
            for name, slot in slots.items()
        ],
    }


def resolve_rival(
    store: Any, project: str, champion: dict[str, Any], experiment: Experiment
) -> dict[str, Any] | None:
    """The model version competing with `champion` (None without an experiment), checked
    before any worker starts: it exists, is another version, reads the same inputs."""
    from loopml.registry.signature import Signature
    from loopml.registry.versions import resolve
    from loopml.runs.scoring import model_artifact

    if experiment.mode is None:
        return None
    flag = "--shadow" if experiment.mode == "shadow" else "--challenger"
    try:
        rival = resolve(store, project, experiment.other)
    except UsageError as exc:
        raise type(exc)(f"{flag} {experiment.other}: {exc.message}") from None
    if rival["version"] == champion["version"]:
        raise UsageError(
            f"{flag} {experiment.other} is version {rival['version']}, the champion itself; "
            "name another version to compare with it"
        )
    runs = [store.meta.run(version["run_id"]) for version in (champion, rival)]
    signatures = [(run["chosen"] or {}).get("signature") for run in runs]
    if None not in signatures:
        why = signature_mismatch(*(Signature.from_dict(s) for s in signatures))
        if why is not None:
            raise UsageError(
                f"{flag} {experiment.other} (version {rival['version']}) {why}; both models "
                f"must read the same input columns as the champion (version "
                f"{champion['version']})"
            )
    model_artifact(store, runs[1])
    return rival
