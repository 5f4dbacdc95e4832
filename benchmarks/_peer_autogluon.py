"""AutoGluon's side of the AutoML benchmark (`automl.py`): fit within a time budget, predict.

Run with the Python of ``benchmarks/_venv_autogluon`` (never loopml's)::

    python benchmarks/_peer_autogluon.py config.json

The config is the one `_peer_flaml.py` reads (train / test Parquet, target, task, metric,
classes, time_budget, cores, seed, predictions, result), plus ``model_dir`` (where
AutoGluon saves its models), ``presets`` (default ``medium_quality``, AutoGluon's own
default) and ``keep_models`` (default false: the model folder is deleted after
predicting). The predictions file has the format of ``loopml score``: ``prediction`` and,
for classification, one ``proba_<class>`` column per class of ``classes``, in order.

AutoGluon runs without PyTorch (installed as ``autogluon.tabular[lightgbm,catboost,
xgboost]``), so its two neural-network families (NN_TORCH, FASTAI) are excluded up front
(they would only fail at fit time); LightGBM, CatBoost, XGBoost, random forests, extra
trees, k-nearest neighbours and the weighted ensemble run. With torch installed in the
venv, nothing is excluded.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

AG_METRIC = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error"}


def main(config_path: str) -> int:
    t_start = time.perf_counter()
    cfg = json.loads(Path(config_path).read_text())
    import numpy as np
    import pandas as pd
    from autogluon.tabular import TabularPredictor
    from autogluon.tabular import __version__ as ag_version

    t_import = time.perf_counter()
    target, task = cfg["target"], cfg["task"]
    train = pd.read_parquet(cfg["train"])
    test = pd.read_parquet(cfg["test"]).drop(columns=[target], errors="ignore")
    model_dir = Path(cfg["model_dir"])
    shutil.rmtree(model_dir, ignore_errors=True)

    predictor = TabularPredictor(
        label=target,
        problem_type=task,
        eval_metric=AG_METRIC[cfg["metric"]],
        path=str(model_dir),
        verbosity=int(cfg.get("verbosity", 1)),
    )
    # Without torch the neural networks would only fail at fit time: leave them out.
    excluded = [] if importlib.util.find_spec("torch") else ["NN_TORCH", "FASTAI"]
    t_fit = time.perf_counter()
    predictor.fit(
        train,
        time_limit=float(cfg["time_budget"]),
        presets=cfg.get("presets") or "medium_quality",
        num_cpus=int(cfg["cores"]),
        num_gpus=0,
        excluded_model_types=excluded or None,
    )
    t_predict = time.perf_counter()
    out = pd.DataFrame(index=range(len(test)))
    if task == "regression":
        out["prediction"] = np.asarray(predictor.predict(test), dtype=float)
    else:
        proba = predictor.predict_proba(test, as_multiclass=True)
        by_label = {str(c): c for c in proba.columns}
        for label in (str(c) for c in cfg["classes"]):
            col = by_label.get(label)
            out[f"proba_{label}"] = proba[col].to_numpy(dtype=float) if col is not None else 0.0
        out["prediction"] = [str(c) for c in proba.idxmax(axis=1)]
    out.to_parquet(cfg["predictions"], index=False)
    t_end = time.perf_counter()

    board = predictor.leaderboard(silent=True)
    result = {
        "system": "autogluon",
        "version": ag_version,
        "pandas": pd.__version__,
        "presets": cfg.get("presets") or "medium_quality",
        "best_model": predictor.model_best,
        "models_fitted": len(board),
        "excluded_model_types": excluded,
        "leaderboard": board[["model", "score_val", "fit_time"]].head(8).to_dict("records"),
        "import_s": t_import - t_start,
        "read_s": t_fit - t_import,
        "fit_s": t_predict - t_fit,
        "predict_s": t_end - t_predict,
        "n_train": len(train),
        "n_test": len(test),
    }
    Path(cfg["result"]).write_text(json.dumps(result, indent=2, default=str))
    if not cfg.get("keep_models"):
        shutil.rmtree(model_dir, ignore_errors=True)
    print(json.dumps({k: result[k] for k in ("best_model", "models_fitted", "fit_s")}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: _peer_autogluon.py CONFIG.json")
    sys.exit(main(sys.argv[1]))
