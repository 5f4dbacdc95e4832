"""Trial data over real datasets, shared by the search tests."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from loopml.search.cv import make_folds
from loopml.search.trials import TrialData
from loopml.spec import ProjectSpec


def trial_data(
    frame: pd.DataFrame, target: str, task: str, metric: str, folds: int = 3
) -> TrialData:
    """TrialData for `frame` with stratified (classification) or random folds."""
    spec = ProjectSpec.model_validate(
        {"name": "t", "data": {"path": "x.csv"}, "target": target, "task": task, "metric": metric}
    )
    strategy = "random" if task == "regression" else "stratified"
    split = make_folds(frame, spec, strategy=strategy, n_splits=folds, seed=0)
    X = frame.drop(columns=[target])
    classes = None if task == "regression" else sorted(frame[target].unique().tolist())
    return TrialData(
        X=X,
        y=frame[target],
        folds=split,
        task=task,
        metric=metric,
        roles=dict.fromkeys(X.columns, "numeric"),
        classes=classes,
        seed=0,
    )


@pytest.fixture(scope="module")
def cancer() -> TrialData:
    """Breast cancer (569 rows, binary), scored by ROC-AUC over three stratified folds."""
    frame = load_breast_cancer(as_frame=True).frame
    return trial_data(frame, "target", "binary", "roc_auc")
