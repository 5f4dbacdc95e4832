"""FLAML's side of the AutoML benchmark (`automl.py`): fit within a time budget, predict test.

Run with the Python of ``benchmarks/_venv_flaml`` (never loopml's)::

    python benchmarks/_peer_flaml.py config.json

The JSON config names ``train`` and ``test`` (Parquet files of the same split that loopml
uses, the target column in both), ``target``, ``task`` (binary | multiclass |
regression), ``metric`` (roc_auc | log_loss | rmse), ``classes`` (the class labels in
scoring order; empty for regression), ``time_budget`` (seconds), ``cores``, ``seed``,
``predictions`` (Parquet to write) and ``result`` (JSON to write).

The predictions file has the column ``prediction`` (regression: the predicted value;
classification: the predicted label) and, for classification, one ``proba_<class>``
column per class of ``classes``, in that order — the format of ``loopml score``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

FLAML_METRIC = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}


def as_object_strings(frame):
    """String columns as object dtype, the form FLAML's preprocessing expects."""
    import numpy as np
    import pandas as pd

    for col in frame.columns:
        kind = frame[col].dtype
        if pd.api.types.is_string_dtype(kind) and not isinstance(kind, np.dtype):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def main(config_path: str) -> int:
    t_start = time.perf_counter()
    cfg = json.loads(Path(config_path).read_text())
    import numpy as np
    import pandas as pd
    from flaml import AutoML
    from flaml import __version__ as flaml_version

    t_import = time.perf_counter()
    target, task = cfg["target"], cfg["task"]
    train = as_object_strings(pd.read_parquet(cfg["train"]))
    test = as_object_strings(pd.read_parquet(cfg["test"]))
    y_train = train.pop(target)
    test = test.drop(columns=[target], errors="ignore")

    automl = AutoML()
    t_fit = time.perf_counter()
    automl.fit(
        X_train=train,
        y_train=y_train,
        task="regression" if task == "regression" else "classification",
        metric=FLAML_METRIC[cfg["metric"]],
        time_budget=float(cfg["time_budget"]),
        n_jobs=int(cfg["cores"]),
        seed=int(cfg.get("seed", 0)),
        verbose=0,
    )
    t_predict = time.perf_counter()
    out = pd.DataFrame(index=range(len(test)))
    if task == "regression":
        out["prediction"] = np.asarray(automl.predict(test), dtype=float)
    else:
        proba = np.asarray(automl.predict_proba(test), dtype=float)
        model_classes = [str(c) for c in automl.classes_]
        labels = [str(c) for c in cfg["classes"]]
        for label in labels:
            # a class the model never saw gets probability 0 (the scorer clips it)
            col = model_classes.index(label) if label in model_classes else None
            out[f"proba_{label}"] = proba[:, col] if col is not None else 0.0
        out["prediction"] = [model_classes[i] for i in proba.argmax(axis=1)]
    out.to_parquet(cfg["predictions"], index=False)
    t_end = time.perf_counter()

    result = {
        "system": "flaml",
        "version": flaml_version,
        "pandas": pd.__version__,
        "best_estimator": automl.best_estimator,
        "best_config": automl.best_config,
        "best_validation_loss": automl.best_loss,
        "best_config_train_time_s": automl.best_config_train_time,
        "import_s": t_import - t_start,
        "read_s": t_fit - t_import,
        "fit_s": t_predict - t_fit,
        "predict_s": t_end - t_predict,
        "n_train": len(train),
        "n_test": len(test),
    }
    Path(cfg["result"]).write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({k: result[k] for k in ("best_estimator", "fit_s", "predict_s")}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: _peer_flaml.py CONFIG.json")
    sys.exit(main(sys.argv[1]))
