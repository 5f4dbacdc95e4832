"""MLflow's side of the serving benchmark (`serve_http.py`): save the loopml model as an MLflow model.

Run with the Python of ``benchmarks/_venv_mlflow`` (never loopml's; loopml is installed
there too, because the model's pipeline holds loopml's transformer classes)::

    python benchmarks/_peer_mlflow.py PROJECT/loopml.yaml VERSION OUT_DIR RECORDS.json [N_JOBS]

It loads model ``VERSION`` with ``loopml.Project(...).load_model``, takes its fitted
scikit-learn pipeline (``members[0]``: loopml's preprocessing and the LightGBM
classifier) and writes it with ``mlflow.sklearn.save_model(..., pyfunc_predict_fn=
"predict_proba")`` to ``OUT_DIR``, with the signature MLflow infers from the records in
``RECORDS.json`` (a JSON list of ``{column: value}`` objects, the rows the benchmark
sends) and the pipeline's output on them — MLflow's recommended form, so the server
checks and converts each request's columns as it would in production — in MLflow's
default serialization (skops), trusting exactly the types the pipeline holds. The benchmark
then serves it with ``mlflow models serve -m OUT_DIR --env-manager local``. ``N_JOBS``
(optional, > 0) sets the LightGBM booster's ``n_jobs`` (its prediction threads) before
saving; without it the pipeline is saved exactly as loopml stored it.

Prints one JSON line: the versions of mlflow and its serving stack.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path


def main(project: str, version: str, out_dir: str, records_path: str, n_jobs: str = "0") -> int:
    import mlflow.sklearn
    import pandas as pd
    import skops.io
    from mlflow.models import infer_signature

    import loopml

    pipeline = loopml.Project(project).load_model(version).members[0]
    if int(n_jobs) > 0:
        pipeline.steps[-1][1].set_params(n_jobs=int(n_jobs))
    frame = pd.DataFrame.from_records(json.loads(Path(records_path).read_text()))
    signature = infer_signature(frame, pipeline.predict_proba(frame))
    # MLflow's default format is skops, which loads only the types it is told to trust:
    # exactly those in this pipeline (loopml's own model files are skops files too).
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    mlflow.sklearn.save_model(
        pipeline,
        out_dir,
        signature=signature,
        pyfunc_predict_fn="predict_proba",
        skops_trusted_types=trusted,
    )
    versions = {}
    for name in ("mlflow", "uvicorn", "fastapi", "pandas", "scikit-learn", "lightgbm"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    print(json.dumps(versions))
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        sys.exit("usage: _peer_mlflow.py PROJECT/loopml.yaml VERSION OUT_DIR RECORDS.json [N_JOBS]")
    sys.exit(main(*sys.argv[1:]))
