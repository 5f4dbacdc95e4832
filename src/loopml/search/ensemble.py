"""Greedy ensemble selection over out-of-fold predictions (Caruana et al., 2004).

Start from the best single candidate; each round add (with replacement) the candidate whose
addition gives the best out-of-fold score of the averaged predictions; keep the best round.
The result is kept by the caller only when it beats the best single candidate out of fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loopml.search.trials import Candidate, TrialData

POOL_SIZE = 10  # the best candidates an ensemble may draw from
ROUNDS = 25


@dataclass(frozen=True)
class Ensemble:
    """Members with weights (summing to one) and the out-of-fold score of their average."""

    members: list[Candidate]
    weights: list[float]
    score: float
    oof: np.ndarray

    @property
    def name(self) -> str:
        """`ensemble of N`, or the single member's name."""
        if len(self.members) == 1:
            return self.members[0].name
        return f"ensemble of {len(self.members)}"


def greedy_ensemble(
    data: TrialData, ranked: list[Candidate], *, pool_size: int = POOL_SIZE, rounds: int = ROUNDS
) -> Ensemble:
    """The greedy ensemble of the best `pool_size` of `ranked` (best first, with OOF)."""
    pool = [c for c in ranked if c.oof is not None][:pool_size]
    if not pool:
        raise ValueError("an ensemble needs at least one candidate with out-of-fold predictions")
    rows = data.validated_rows
    predictions = [c.oof[rows] for c in pool]
    y = data.y.iloc[rows]
    counts = np.zeros(len(pool), dtype=int)
    counts[0] = 1
    total = predictions[0].copy()
    best_counts, best_gain = counts.copy(), data.gain(data.score_of(y, total))
    for _ in range(rounds):
        size = counts.sum() + 1
        gains = [data.gain(data.score_of(y, (total + p) / size)) for p in predictions]
        pick = int(np.argmax(gains))  # ties: the better-ranked candidate
        counts[pick] += 1
        total += predictions[pick]
        if gains[pick] > best_gain:
            best_counts, best_gain = counts.copy(), gains[pick]
    chosen = np.flatnonzero(best_counts)
    weights = best_counts[chosen] / best_counts.sum()
    oof = np.full_like(pool[0].oof, np.nan)
    oof[rows] = sum(w * predictions[i] for i, w in zip(chosen, weights, strict=True))
    score = data.oof_score(oof)
    return Ensemble([pool[i] for i in chosen], [float(w) for w in weights], score, oof)
