"""Scoring latency: the ONNX export on onnxruntime vs loopml's compiled model, same model.

The model is `serve_http.py`'s (made by its `make_project`): the bundled demo with one
custom family `lgbm200` (a LightGBM classifier of exactly 200 trees, native categorical
codes, no ensemble, no calibration), trained with `--jobs 1`. The model is exported with `loopml export 1 DIR --format onnx` (its parity check included), then both
score the same real rows (the split's training + validation rows) on one thread:

- loopml: `compile_model(model, threads=1).predict_proba(Columns.from_frame(rows))`;
- ONNX: `session.run(None, feeds(rows, signature))`, onnxruntime with one intra-op thread
  and one inter-op thread (`feeds` is the bundle's conversion of a DataFrame).

Each is timed from a DataFrame (what `score.py` and a batch job start from) and from
inputs already converted (Columns / the feeds dict: the model alone), for 1 row (the
first with no missing value) and 1,000 rows; the median of many calls is printed with
the ratio ONNX / loopml (below 1: ONNX is faster).

    python benchmarks/onnx_latency.py [--project DIR] [--repeats-one 3000] [--repeats-batch 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import find_loopml, median_s
from serve_http import TREES, make_project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a project made by an earlier run")
    parser.add_argument("--loopml", help="the loopml command (default: found)")
    parser.add_argument("--repeats-one", type=int, default=3000)
    parser.add_argument("--repeats-batch", type=int, default=100)
    args = parser.parse_args()

    import json

    import numpy as np
    import onnxruntime

    import loopml
    from loopml.features.columns import Columns
    from loopml.models.compiled import compile_model
    from loopml.serve.onnx_inputs import feeds

    loopml_cmd = find_loopml(args.loopml)
    project_dir = args.project or make_project(loopml_cmd, budget=60, jobs=1)
    project = loopml.Project(project_dir / "loopml.yaml")
    model = project.load_model("1")
    booster = model.members[0].steps[-1][1].booster_
    if booster.num_trees() != TREES:
        sys.exit(f"the model has {booster.num_trees()} trees, not {TREES}")
    bundle = Path(tempfile.mkdtemp(prefix="loopml-onnx-bundle-")) / "bundle"
    t0 = time.perf_counter()
    project.export("1", bundle, format="onnx")
    export_s = time.perf_counter() - t0
    manifest = json.loads((bundle / "bundle.json").read_text())
    signature = manifest["signature"]

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    compiled = compile_model(model, threads=1)

    split = project.model("1").get("split_id") or "latest"
    rows = project.open_split(split).train_valid()[list(model.columns)].reset_index(drop=True)
    cases = {1: rows.dropna().head(1), 1000: rows.head(1000)}
    print(
        f"model: {TREES} trees; export with parity check {export_s:.1f} s; parity "
        f"{manifest['parity']['max_abs_difference']:.3g} on {manifest['parity']['rows']:,} rows"
    )
    print(f"onnxruntime {onnxruntime.__version__}, one thread each; median per call")
    print(f"{'rows':>5} {'input':<10} {'loopml':>11} {'onnx':>11} {'onnx/loopml':>12}")
    for n, frame in cases.items():
        repeats = args.repeats_one if n == 1 else args.repeats_batch
        inputs = feeds(frame, signature)
        columns = Columns.from_frame(frame)
        got = session.run(None, inputs)[1]
        assert np.abs(got - compiled.predict_proba(columns)).max() <= 1e-9
        timed = {
            "DataFrame": (
                lambda f=frame: compiled.predict_proba(Columns.from_frame(f)),
                lambda f=frame: session.run(None, feeds(f, signature)),
            ),
            "converted": (
                lambda c=columns: compiled.predict_proba(c),
                lambda i=inputs: session.run(None, i),
            ),
        }
        for label, (ours, theirs) in timed.items():
            a, b = median_s(ours, repeats), median_s(theirs, repeats)
            print(f"{n:>5} {label:<10} {a * 1e6:>9.0f}µs {b * 1e6:>9.0f}µs {b / a:>12.2f}")
    project.close()


if __name__ == "__main__":
    main()
