"""Routing: the share a canary gets, stickiness by request id, and which models may compete."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.errors import UsageError
from loopml.registry.signature import ColumnSignature, Signature
from loopml.serve.routing import (
    Experiment,
    checked_experiment,
    goes_to_challenger,
    signature_mismatch,
)


@pytest.mark.parametrize("split", [0.5, 10.0, 37.5, 90.0])
def test_the_challenger_gets_its_share_of_distinct_ids(split: float) -> None:
    canary = Experiment(challenger="2", split=split)
    n = 40_000
    chosen = np.array([goes_to_challenger(f"id-{i}", canary) for i in range(n)])
    share = split / 100
    assert abs(chosen.mean() - share) < 4 * np.sqrt(share * (1 - share) / n)
    # The same id goes the same way every time; a larger split keeps every id it had.
    again = np.array([goes_to_challenger(f"id-{i}", canary) for i in range(1000)])
    assert (again == chosen[:1000]).all()
    wider = Experiment(challenger="2", split=min(split * 2, 99.0))
    assert all(goes_to_challenger(f"id-{i}", wider) for i in np.flatnonzero(chosen[:1000]))


def test_flags_are_checked() -> None:
    assert checked_experiment("4", None, None).split == 10.0  # the default share
    assert checked_experiment(None, None, "4").mode == "shadow"
    assert checked_experiment(None, None, None).mode is None
    for args, says in (
        (("4", None, "5"), "not both"),
        ((None, 5.0, None), "give --challenger"),
        (("4", -1.0, None), "between 0 and 100"),
        (("4", 100.0, None), "between 0 and 100"),
        (("4", 0.001, None), "0.01 % resolution"),
    ):
        with pytest.raises(UsageError, match=says):
            checked_experiment(*args)


def _signature(**roles: str) -> Signature:
    return Signature([ColumnSignature(name, role, nullable=False) for name, role in roles.items()])


def test_models_compete_only_on_the_same_inputs() -> None:
    champion = _signature(a="numeric", b="categorical")
    assert signature_mismatch(champion, _signature(b="categorical", a="numeric")) is None
    why = signature_mismatch(champion, _signature(a="numeric", b="numeric", c="numeric"))
    assert "reads column(s) c" in why and "types column(s) b differently" in why
    assert "lacks column(s) b" in signature_mismatch(champion, _signature(a="numeric"))
