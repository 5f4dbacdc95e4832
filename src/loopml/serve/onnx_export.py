"""`loopml export --format onnx`: the bundle with an ONNX graph, checked against loopml first.

bundle/
  model.onnx         the whole model (preprocessing, members, weights, calibration, threshold)
  bundle.json        version, sha256, task, classes, signature, parity, packages
  onnx_inputs.py     a table as the graph's inputs, and the row checks
  requirements.txt   onnxruntime, numpy, pandas, pyarrow, pinned
  bundle.py, score.py, serve.py, Dockerfile, README.md   as in the default bundle

Before anything is written the graph scores a seeded sample of the split's training rows
(never the sealed test rows), the same rows with values blanked and unseen categories, with
onnxruntime and with loopml's compiled model; a difference above the tolerance refuses it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import ExportError
from loopml.serve.export import manifest_of, runtime_versions, write_bundle
from loopml.serve.onnx_graph import OPSETS
from loopml.serve.onnx_inputs import TEXT_ROLES, feeds
from loopml.store import ArtifactRef, Store

TOLERANCE = 1e-4
PARITY_ROWS = 1000  # sampled training rows; blanked and unseen-category copies are added
ONNX_PACKAGES = ("onnxruntime", "numpy", "pandas", "pyarrow")
_UNSEEN = "loopml parity check: a category never seen"

_BUNDLE_ONNX = '''"""Load the bundled ONNX model (sha256 checked) and score with onnxruntime."""

import hashlib
import json
import sys
from pathlib import Path

import onnxruntime
import pandas as pd

from onnx_inputs import check, feeds

HERE = Path(__file__).resolve().parent


def load():
    """(session, signature, manifest) from this folder."""
    manifest = json.loads((HERE / "bundle.json").read_text())
    data = (HERE / "model.onnx").read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        sys.exit("model.onnx does not match the sha256 in bundle.json; refusing to load it")
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session, manifest["signature"], manifest


def predict(loaded, frame):
    """(predictions frame for the valid rows, rejected rows with reasons)."""
    session, signature, manifest = loaded
    formats = manifest.get("date_formats")
    valid, reasons = check(frame, signature, formats)
    good = frame[valid]
    out = pd.DataFrame(index=good.index)
    if len(good):
        names = [o.name for o in session.get_outputs()]
        results = dict(zip(names, session.run(None, feeds(good, signature, formats))))
        out["prediction"] = results["prediction"]
        for j, value in enumerate(manifest["classes"] or []):
            out[f"proba_{value}"] = results["probabilities"][:, j]
    out["model_version"] = manifest["version"]
    rejected = frame[~valid].assign(reason=reasons[~valid])
    return out, rejected
'''

_ONNX_NOTE = """`model.onnx` (ONNX opset {opset}, ai.onnx.ml {ml}) needs only onnxruntime; it is loaded only
if its sha256 matches `bundle.json` ({sha}). Its inputs are one (n, 1) tensor per column:
float64 for numbers, text for categories and true/false (a missing one is ""), float64
seconds since 1970-01-01 UTC for dates (`score.py` reads date text in the format training
read it in, `date_formats` in `bundle.json`, and rejects other text); its outputs
are `prediction` and, for a classifier, `probabilities` (n × classes, in the order of
`classes` in `bundle.json`). Parity, measured at export on {rows:,} rows (training rows,
and copies with values blanked and categories unseen): the largest absolute difference of
{measure} between onnxruntime and loopml was {difference:.3g} (tolerance {tolerance:g})."""


@dataclass(frozen=True)
class Parity:
    """How closely the ONNX graph scores like loopml on the checked rows."""

    rows: int
    measure: str  # what was compared
    max_abs_difference: float
    tolerance: float


def export_onnx_bundle(
    store: Store,
    version: dict[str, Any],
    run: dict[str, Any],
    target: Path,
    *,
    trusted: list[str],
    tolerance: float = TOLERANCE,
) -> Path:
    """Write the ONNX bundle of model `version` into `target`, if it scores like loopml."""
    from loopml.serve.export import check_target

    check_target(target)
    if not tolerance >= 0:
        raise ExportError(f"--tolerance must be a number of at least 0, not {tolerance}")
    onnxruntime = _onnxruntime()
    from loopml.models.compiled import compile_model
    from loopml.models.persist import load_model
    from loopml.serve.onnx_graph import build_graph

    ref = ArtifactRef.from_row(version)
    data = store.artifacts.verified_path(ref).read_bytes()
    model = compile_model(load_model(data, sha256=ref.sha256, trusted=trusted), threads=1)
    signature = version["signature"]
    proto = build_graph(model, signature, version=version)
    formats = json.loads({p.key: p.value for p in proto.metadata_props}["loopml.date_formats"])
    graph = proto.SerializeToString()
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    frame, target_values = parity_rows(store, run, signature)
    parity = measure_parity(model, session, frame, signature, formats, target_values, tolerance)
    if parity.max_abs_difference > tolerance:
        raise ExportError(
            f"the ONNX graph's {parity.measure} differ from loopml's by up to "
            f"{parity.max_abs_difference:.3g} on {parity.rows:,} checked rows, above the tolerance "
            f"{tolerance:g}; nothing was written: export in the default format (leave out "
            "--format onnx) or allow more with --tolerance"
        )
    sha256 = hashlib.sha256(graph).hexdigest()
    manifest = manifest_of(version, run, sha256) | {
        "format": "onnx",
        "opsets": OPSETS,
        "classes": None if model.classes is None else [_plain(c) for c in model.classes],
        "date_formats": formats,
        "parity": asdict(parity),
    }

    def fill(folder: Path) -> None:
        (folder / "model.onnx").write_bytes(graph)
        shutil.copyfile(Path(__file__).with_name("onnx_inputs.py"), folder / "onnx_inputs.py")

    recorded = {k: v for k, v in manifest["packages"].items() if k != "onnxruntime"}
    note = _ONNX_NOTE.format(
        opset=OPSETS[""],
        ml=OPSETS["ai.onnx.ml"],
        sha=sha256[:12],
        rows=parity.rows,
        measure=parity.measure,
        difference=parity.max_abs_difference,
        tolerance=parity.tolerance,
    )
    return write_bundle(
        target,
        version,
        manifest,
        fill=fill,
        loader=_BUNDLE_ONNX,
        pins=runtime_versions(recorded, ONNX_PACKAGES),
        model_note=note,
    )


def _onnxruntime() -> Any:
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        raise ExportError(
            "--format onnx needs the onnx extra: pip install 'loopml[onnx]'"
        ) from None
    return onnxruntime


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def parity_rows(
    store: Store, run: dict[str, Any], signature: dict[str, Any], *, n: int = PARITY_ROWS
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Rows to compare on (a seeded sample of the split's training and validation rows, then
    copies with a fifth of the values blanked and with every category unseen), and the
    target of the sampled rows when the store has it."""
    from loopml.data.splits import load_split, open_split

    rows = open_split(store, load_split(store, run["split_id"])).train_valid()
    sample = rows.sample(min(n, len(rows)), random_state=0).reset_index(drop=True)
    target = run["spec"].get("target")
    values = None
    if target in sample.columns:
        values = pd.to_numeric(sample[target], errors="coerce").to_numpy(dtype=np.float64)
    names = [c["name"] for c in signature["columns"]]
    features = sample[names]
    rng = np.random.default_rng(0)
    blanked = (
        features.head(200)
        .astype(object)
        .mask(rng.random((min(200, len(features)), len(names))) < 0.2)
    )
    unseen = features.head(50).astype(object)
    for column in signature["columns"]:
        if column["role"] in TEXT_ROLES:
            unseen[column["name"]] = _UNSEEN
    empty = pd.DataFrame({name: [np.nan] for name in names}, dtype=object)
    frame = pd.concat([features, blanked, unseen, empty], ignore_index=True)
    for column in signature["columns"]:  # numbers stay numbers, as a table gives them
        if column["role"] == "numeric":
            frame[column["name"]] = pd.to_numeric(frame[column["name"]], errors="coerce")
    return frame, values


def measure_parity(
    model: Any,
    session: Any,
    frame: pd.DataFrame,
    signature: dict[str, Any],
    formats: dict[str, Any],
    target: np.ndarray | None,
    tolerance: float,
) -> Parity:
    """The largest difference between loopml's and onnxruntime's scores of `frame`: of the
    probabilities for a classifier, of the predictions over the target's spread otherwise."""
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, feeds(frame, signature, formats)), strict=True))
    if model.classes is None:
        expected = np.asarray(model.predict(frame), dtype=np.float64)
        spread = np.nanstd(target) if target is not None and np.isfinite(target).any() else 0.0
        spread = float(spread) if spread > 0 else 1.0
        difference = np.abs(got["prediction"] - expected) / spread
        measure = "predictions (divided by the target's standard deviation)"
    else:
        expected = np.asarray(model.predict_proba(frame), dtype=np.float64)
        difference = np.abs(got["probabilities"] - expected)
        measure = "probabilities"
    worst = float(np.max(difference, initial=0.0))
    if np.isnan(difference).any():
        worst = float("inf")
    return Parity(len(frame), measure, worst, tolerance)
