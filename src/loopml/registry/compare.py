"""Scoring a model version on another version's test rows: the gate's like-for-like check.

Two versions tested on different splits cannot be compared by their recorded numbers. The
gate then scores the current version on the candidate's test rows (one logged
`unseal_test`), with the candidate's metric, so both numbers come from the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loopml.data.splits import load_split, open_split
from loopml.evaluate.metrics import score
from loopml.store import Store


def score_on_split(
    store: Store, project: str, version: dict[str, Any], split_id: str, *, purpose: str
) -> float:
    """`version`'s value of its metric on the test rows of split `split_id`."""
    from loopml.runs.scoring import resolve_model

    model, _, _ = resolve_model(store, project, str(version["version"]))
    run = store.meta.run(version["run_id"])
    target = run["spec"]["target"]
    test = open_split(store, load_split(store, split_id)).unseal_test(purpose)
    return score_model(model, test, target, version["metric"], version["task"])


def score_model(model: Any, frame: Any, target: str, metric: str, task: str) -> float:
    """`metric` of `model` on the rows of `frame` (which hold the target column)."""
    y = frame[target]
    if model.classes is None:
        prediction: Any = model.predict(frame)
    else:
        proba = model.predict_proba(frame)
        prediction = proba[:, 1] if task == "binary" else proba
    return score(
        metric,
        np.asarray(y),
        prediction,
        classes=model.classes,
        threshold=model.threshold,
        task=task,
    )
