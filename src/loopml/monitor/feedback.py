"""Ground truth that arrives after the prediction: labels joined to logged predictions by id.

    summary = record_feedback(project_folders, rows)   # rows: request_id, label[, record]
    summary.accepted, summary.unknown                    # unknown ids are reported, not stored

Labels are kept in append-only Parquet files beside the prediction log
(`<artifacts>/feedback/<project>/`), each with the request id, the record's position in its
request (0 for one-record requests and batch rows), the label as text and when it came.
An id the prediction log does not hold is refused and listed, never silently dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.errors import DataError
from loopml.monitor.log import read_log

MAX_SHOWN = 20  # unknown ids listed in a summary; the count says how many there were


@dataclass
class FeedbackSummary:
    """What a feedback call did: how many labels were stored and which ids are unknown."""

    received: int = 0
    accepted: int = 0
    unknown_count: int = 0
    unknown: list[str] = field(default_factory=list)
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for --json and the server's answer."""
        return dict(self.__dict__)


def feedback_folder(project: Any) -> Path:
    """Where a project's labels live: `<artifacts>/feedback/<project name>/`."""
    return Path(project.store.artifacts_root) / "feedback" / project.spec.name


def normalise(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """`request_id`, `record`, `label` from a user's table; a DataError naming what is wrong."""
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source} lacks column(s) {', '.join(missing)}; feedback needs `request_id` and "
            "`label` (and `record` for requests of several records)"
        )
    if len(frame) == 0:
        raise DataError(f"{source} holds no feedback rows")
    out = pd.DataFrame(
        {
            "request_id": frame["request_id"].astype("string"),
            "record": frame["record"] if "record" in frame.columns else 0,
            "label": frame["label"],
        }
    )
    if out["request_id"].isna().any():
        row = int(out["request_id"].isna().to_numpy().argmax())
        raise DataError(f"{source} row {row} has no request_id; every label needs one")
    if out["label"].isna().any():
        row = int(out["label"].isna().to_numpy().argmax())
        raise DataError(f"{source} row {row} has no label; drop it or fill it in")
    records = pd.to_numeric(out["record"], errors="coerce")
    if records.isna().any() or (records < 0).any() or (records % 1 != 0).any():
        raise DataError(f"{source}: `record` must be a whole number ≥ 0 (a record's position)")
    out["record"] = records.astype("int64")
    out["label"] = out["label"].map(_label_text)
    return out


def record_feedback(
    log_folder: Path, folder: Path, rows: pd.DataFrame, *, source: str = "feedback"
) -> FeedbackSummary:
    """Store the labels whose (request_id, record) the prediction log holds; list the rest."""
    rows = normalise(rows, source)
    logged = read_log(log_folder, columns=["request_id", "record"])
    known = (
        set(
            zip(
                logged.column("request_id").to_pylist(),
                logged.column("record").to_pylist(),
                strict=True,
            )
        )
        if logged.num_rows
        else set()
    )
    keys = list(zip(rows["request_id"].tolist(), rows["record"].tolist(), strict=True))
    found = [key in known for key in keys]
    accepted = rows[found]
    unknown = [
        f"{rid}" if rec == 0 else f"{rid}#{rec}"
        for (rid, rec), ok in zip(keys, found, strict=True)
        if not ok
    ]
    summary = FeedbackSummary(
        received=len(rows),
        accepted=len(accepted),
        unknown_count=len(unknown),
        unknown=unknown[:MAX_SHOWN],
    )
    if len(accepted):
        summary.file = str(_write(folder, accepted))
    return summary


def read_feedback(folder: Path) -> pd.DataFrame:
    """Every stored label (the latest one per request id and record wins)."""
    files = sorted(p for p in Path(folder).glob("*.parquet"))
    if not files:
        return pd.DataFrame(columns=["request_id", "record", "label", "received_at"])
    frame = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
    frame = frame.sort_values("received_at", kind="stable")
    return frame.drop_duplicates(["request_id", "record"], keep="last").reset_index(drop=True)


def _write(folder: Path, rows: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"{stamp}-{os.getpid()}.parquet"
    tmp = folder / f".{path.name}.tmp"
    rows.assign(received_at=pd.Timestamp(now)).to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def _label_text(value: Any) -> str:
    """A label as the text the log writes predictions in (4529.0 and 4529 are both "4529")."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
