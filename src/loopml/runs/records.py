"""What a run writes to the store and returns: trial rows, the leaderboard, the train result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.search.ensemble import Ensemble
from loopml.search.trials import Candidate, TrialData

LEADERBOARD_COLUMNS = [
    "rank",
    "name",
    "family",
    "status",
    "cv_score",
    "cv_std",
    "vs_baseline",
    "folds",
    "fit_seconds",
    "predict_seconds",
    "params",
    "error",
]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def trial_row(run_id: str, candidate: Candidate) -> dict[str, Any]:
    """The `trials` table row of `candidate`."""
    params = dict(candidate.params)
    if candidate.rounds is not None:
        params["refit_rounds"] = candidate.rounds
    return {
        "run_id": run_id,
        "number": candidate.number,
        "family": candidate.family,
        "params": _jsonable(params),
        "status": candidate.status,
        "fold_scores": [_number(v) for v in candidate.fold_scores],
        "score": _number(candidate.score) if candidate.complete else None,
        "fit_s": candidate.fit_s,
        "predict_s": candidate.predict_s,
        "error": candidate.error,
    }


def leaderboard_rows(
    data: TrialData, candidates: list[Candidate], ensemble: Ensemble | None
) -> list[dict[str, Any]]:
    """Every trial (and the ensemble, when kept), best first; failed and pruned ones last."""
    baseline = candidates[0].score
    rows = []
    for c in candidates:
        scores = [v for v in c.fold_scores if not math.isnan(v)]
        rows.append(
            {
                "name": "baseline" if c.number == 0 else c.name,
                "family": c.family,
                "status": c.status,
                "cv_score": _number(c.score) if c.complete else None,
                "cv_std": float(np.std(scores)) if len(scores) > 1 else None,
                "folds": len(c.fold_scores),
                "fit_seconds": round(c.fit_s, 4),
                "predict_seconds": round(c.predict_s, 4),
                "params": _jsonable(c.params),
                "error": c.error,
            }
        )
    if ensemble is not None:
        members = ", ".join(
            f"{m.name} ×{w:.2f}" for m, w in zip(ensemble.members, ensemble.weights, strict=True)
        )
        rows.append(
            {
                "name": ensemble.name,
                "family": "ensemble",
                "status": "complete",
                "cv_score": _number(ensemble.score),
                "cv_std": None,
                "folds": len(data.folds),
                "fit_seconds": round(sum(m.fit_s for m in ensemble.members), 4),
                "predict_seconds": round(sum(m.predict_s for m in ensemble.members), 4),
                "params": {"members": members},
                "error": None,
            }
        )
    for row in rows:
        score = row["cv_score"]
        row["vs_baseline"] = (
            None if score is None or baseline is None else data.gain(score) - data.gain(baseline)
        )
    done = sorted(
        (r for r in rows if r["cv_score"] is not None), key=lambda r: -data.gain(r["cv_score"])
    )
    for rank, row in enumerate(done, start=1):
        row["rank"] = rank
    rest = [r for r in rows if r["cv_score"] is None]
    for row in rest:
        row["rank"] = None
    return [{key: row.get(key) for key in LEADERBOARD_COLUMNS} for row in done + rest]


def leaderboard_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The leaderboard rows as a DataFrame (one row per trial, best first)."""
    return pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def jsonable(value: Any) -> Any:
    """`value` with numpy scalars as Python ones and NaN as None (for JSON columns)."""
    return _jsonable(value)


@dataclass
class TrainResult:
    """What `train` returns: the run, its leaderboard, the chosen model and its test metrics."""

    run_id: str
    version: int
    model: Any
    model_sha256: str
    leaderboard: pd.DataFrame
    chosen: dict[str, Any]
    test_metrics: dict[str, Any]
    baseline_test_metrics: dict[str, Any]
    evaluation: dict[str, Any]
    report_path: Path | None
    wall_seconds: float
    time_budget_s: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json`: run id, model reference, leaderboard, metrics, report."""
        return jsonable(
            {
                "run_id": self.run_id,
                "model": {
                    "ref": str(self.version),
                    "version": self.version,
                    "run_id": self.run_id,
                    "name": self.chosen["name"],
                    "sha256": self.model_sha256,
                    "refit_all": self.chosen.get("model_all_rows") is not None,
                },
                "chosen": {
                    k: v for k, v in self.chosen.items() if k not in ("model", "model_all_rows")
                },
                "leaderboard": self.leaderboard.to_dict(orient="records"),
                "test_metrics": self.test_metrics,
                "baseline_test_metrics": self.baseline_test_metrics,
                "intervals": self.evaluation.get("intervals"),
                "improvement": self.evaluation.get("improvement"),
                "goals": self.evaluation.get("goals"),
                "business": self.evaluation.get("business"),
                "report": None if self.report_path is None else str(self.report_path),
                "wall_seconds": round(self.wall_seconds, 3),
                "time_budget_s": self.time_budget_s,
                "notes": self.notes,
            }
        )
