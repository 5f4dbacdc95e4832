"""BentoML's side of the serving benchmark (`serve_http.py`): the loopml model as a service.

Served from ``benchmarks/`` with the ``bentoml`` of ``benchmarks/_venv_bentoml`` (never
loopml's environment; loopml is installed there too, because the model's pipeline holds
loopml's transformer classes)::

    bentoml serve _peer_bentoml:Service --working-dir benchmarks --port 3000 \
        --arg project=/path/to/loopml.yaml --arg version=1 --arg workers=2 [--arg n_jobs=1]

Each worker loads the model version once (``loopml.Project(project).load_model(version)``)
and keeps its fitted scikit-learn pipeline (``members[0]``: loopml's preprocessing and the
LightGBM classifier). ``POST /predict`` with ``{"records": [{column: value, ...}, ...]}``
returns ``pipeline.predict_proba(pd.DataFrame.from_records(records))`` as a list of rows,
in the pipeline's class order. ``workers`` is BentoML's number of worker processes; each
runs the synchronous API on one thread (BentoML's default). ``n_jobs`` (optional, > 0)
sets the LightGBM booster's prediction threads; without it the pipeline is used exactly as
loopml stored it. Readiness: ``GET /readyz``.
"""

from __future__ import annotations

import bentoml
import pandas as pd

ARGS = bentoml.use_arguments()
WORKERS = int(getattr(ARGS, "workers", 1))


@bentoml.service(workers=WORKERS, traffic={"timeout": 120})
class Service:
    def __init__(self) -> None:
        import loopml

        model = loopml.Project(ARGS.project).load_model(str(ARGS.version))
        self.pipeline = model.members[0]
        n_jobs = int(getattr(ARGS, "n_jobs", 0))
        if n_jobs > 0:
            self.pipeline.steps[-1][1].set_params(n_jobs=n_jobs)

    @bentoml.api
    def predict(self, records: list[dict]) -> list[list[float]]:
        frame = pd.DataFrame.from_records(records)
        return self.pipeline.predict_proba(frame).tolist()
