"""One-off deployment: a self-contained folder that scores without the project or its store.

bundle/
  model.skops        the model file (sha256 in bundle.json, checked before loading)
  bundle.json        version, sha256, task, classes, signature, model card, packages
  requirements.txt   the packages the model was trained with, pinned
  vendor/loopml/     the loopml code the model's classes come from
  score.py           python score.py INPUT OUTPUT   (CSV / Parquet / JSON Lines)
  serve.py           python serve.py [--host 127.0.0.1] [--port 8080] [--token T]
  Dockerfile, README.md

`write_bundle` writes what every bundle shares (manifest, requirements, scorer, server,
Dockerfile, README) into a hidden folder renamed to the target once complete; the ONNX
bundle (`loopml.serve.onnx_export`) adds its own model file and loader.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.errors import UsageError
from loopml.runs.environment import package_versions
from loopml.store import ArtifactRef, Store

# Packages the model file needs at load time (the rest of loopml's dependencies are not).
RUNTIME_PACKAGES = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "lightgbm",
    "xgboost",
    "catboost",
    "skops",
    # imported by the vendored loopml modules the model file refers to
    "pydantic",
    "pyyaml",
    "rich",
)

_SCORE = '''"""Score a table with the bundled model: python score.py INPUT OUTPUT (.csv or .parquet)."""

import sys

from bundle import load, score_file

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python score.py INPUT OUTPUT")
    try:
        summary = score_file(load(), sys.argv[1], sys.argv[2])
    except Exception as exc:  # one sentence, no traceback: the input is the user's
        sys.exit(f"error: {exc}")
    print(f"scored {summary['scored']} of {summary['rows']} rows; rejected {summary['rejected']}")
'''

_BUNDLE_SKOPS = '''"""Load the bundled model (sha256 checked, skops allow-list) and score with it."""

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "vendor"))

from loopml.models.compiled import compile_model  # noqa: E402
from loopml.models.persist import load_model  # noqa: E402
from loopml.registry.signature import Signature  # noqa: E402


def load():
    """(model, signature, manifest) from this folder."""
    manifest = json.loads((HERE / "bundle.json").read_text())
    data = (HERE / "model.skops").read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        sys.exit("model.skops does not match the sha256 in bundle.json; refusing to load it")
    model = load_model(data, sha256=manifest["sha256"], trusted=manifest.get("trusted", []))
    return compile_model(model), Signature.from_dict(manifest["signature"]), manifest


def predict(loaded, frame):
    """(predictions frame for the valid rows, rejected rows with reasons)."""
    model, signature, manifest = loaded
    checked = signature.check(frame)
    good = frame[checked.valid]
    out = model.prediction_frame(good) if len(good) else good.iloc[:, :0]
    out["model_version"] = manifest["version"]
    rejected = frame[~checked.valid].assign(reason=checked.reasons[~checked.valid])
    return out, rejected
'''

# Shared by every bundle's bundle.py, after its own load() and predict().
_SCORE_FILE = '''

def score_file(loaded, source, target):
    """Score a CSV / Parquet / JSON Lines file into a .csv or .parquet file."""
    import pandas as pd

    path = Path(source)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        frame = pd.read_json(path, lines=True)
    else:
        frame = pd.read_csv(path)
    out, rejected = predict(loaded, frame)
    out.insert(0, "row", out.index)
    target = Path(target)
    write = (lambda f, p: f.to_parquet(p, index=False)) if target.suffix == ".parquet" else (
        lambda f, p: f.to_csv(p, index=False)
    )
    write(out, target)
    if len(rejected):
        write(rejected.rename_axis("row").reset_index(), target.with_name(
            f"{target.stem}.rejected{target.suffix}"
        ))
    return {"rows": len(frame), "scored": len(out), "rejected": len(rejected)}
'''

_SERVE = '''"""A small HTTP server for the bundled model (standard library only).

POST /predict  {"records": [{...}, ...]}  ->  {"predictions", "probabilities", "rejected",
"model_version"};  GET /health.  Binds 127.0.0.1 unless --host says otherwise, and then
requires --token (or BUNDLE_TOKEN), sent as "Authorization: Bearer <token>".
"""

import argparse
import hmac
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

from bundle import load, predict

MAX_BODY = 10 << 20
LOADED = load()


class Handler(BaseHTTPRequestHandler):
    token = None

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self._reply(200, {"status": "ok", "model_version": LOADED[2]["version"]})
        return self._reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/predict":
            return self._reply(404, {"error": "not found"})
        if self.token is not None:
            sent = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(sent, self.token):
                return self._reply(401, {"error": "a valid bearer token is required"})
        size = int(self.headers.get("Content-Length") or 0)
        if size > MAX_BODY:
            return self._reply(413, {"error": f"the body is over {MAX_BODY} bytes"})
        try:
            records = json.loads(self.rfile.read(size))["records"]
            frame = pd.DataFrame.from_records(records)
        except (ValueError, KeyError, TypeError):
            return self._reply(400, {"error": 'send JSON: {"records": [{"column": value, ...}]}'})
        try:
            out, rejected = predict(LOADED, frame)
        except Exception as exc:  # a missing column: the signature names it
            return self._reply(422, {"error": str(exc)})
        body = {
            "predictions": out["prediction"].tolist() if "prediction" in out else [],
            "probabilities": [
                {c.removeprefix("proba_"): row[c] for c in out.columns if c.startswith("proba_")}
                for _, row in out.iterrows()
            ],
            "rejected": [{"index": int(i), "reason": r} for i, r in rejected["reason"].items()],
            "model_version": LOADED[2]["version"],
        }
        return self._reply(200, body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--token", default=os.environ.get("BUNDLE_TOKEN"))
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.token:
        parser.error("binding beyond this machine needs --token (or BUNDLE_TOKEN)")
    Handler.token = args.token
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"serving model version {LOADED[2]['version']} on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
'''

_DOCKERFILE = """FROM python:{python}-slim
WORKDIR /bundle
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
EXPOSE 8080
# Inside a container the server must listen beyond localhost: give it a token.
CMD ["sh", "-c", "python serve.py --host 0.0.0.0 --port 8080 --token \\"$BUNDLE_TOKEN\\""]
"""

_README = """# {project} — model version {version} ({name})

A self-contained export of a loopml model: it needs neither the project nor its store.

    python -m venv .venv && .venv/bin/pip install -r requirements.txt
    .venv/bin/python score.py new_rows.csv predictions.csv       # batch
    .venv/bin/python serve.py --port 8080                          # HTTP on 127.0.0.1

    curl -s localhost:8080/predict -d '{{"records": [{{...}}]}}'

Docker: `docker build -t {project}-v{version} . && docker run -e BUNDLE_TOKEN=secret -p 8080:8080 {project}-v{version}`
(requests then need `Authorization: Bearer secret`).

{model_note} Rows that fail the model's input signature are returned (or
written to `<output>.rejected.<ext>`) with the reason. Inputs: {inputs}.
Test {metric}: {score} (baseline {baseline}).
"""

_SKOPS_NOTE = """`model.skops` is loaded only if its sha256 matches `bundle.json` ({sha}), with an allow-list of
types (nothing is unpickled)."""


def runtime_versions(
    recorded: dict[str, str], names: tuple[str, ...] = RUNTIME_PACKAGES
) -> dict[str, str]:
    """Pinned versions of `names`: as the run recorded them, else as installed here."""
    installed = package_versions(tuple(n for n in names if n not in recorded))
    return {n: recorded.get(n) or installed[n] for n in names if n in recorded or n in installed}


def manifest_of(version: dict[str, Any], run: dict[str, Any], sha256: str) -> dict[str, Any]:
    """What every bundle's bundle.json holds about the model version."""
    return {
        "project": version["project"],
        "version": version["version"],
        "name": version["name"],
        "sha256": sha256,
        "task": version["task"],
        "metric": version["metric"],
        "signature": version["signature"],
        "card": version["card"],
        "packages": run["environment"].get("packages", {}),
        "python": run["environment"].get("python"),
    }


def check_target(target: Path) -> None:
    """Refuse a target that is a file or a folder with something in it."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} exists and is not an empty folder; choose a new folder")


def write_bundle(
    target: Path,
    version: dict[str, Any],
    manifest: dict[str, Any],
    *,
    fill: Callable[[Path], None],
    loader: str,
    pins: dict[str, str],
    model_note: str,
) -> Path:
    """Write a bundle into `target`: `fill(folder)` adds the model's own files, this the rest.

    Everything is written into a hidden sibling folder first, renamed to `target` only
    once complete, so a failure leaves nothing behind.
    """
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staging.chmod(0o755)
        fill(staging)
        (staging / "bundle.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        (staging / "requirements.txt").write_text(
            "\n".join(f"{name}=={v}" for name, v in pins.items()) + "\n"
        )
        (staging / "bundle.py").write_text(loader + _SCORE_FILE)
        (staging / "score.py").write_text(_SCORE)
        (staging / "serve.py").write_text(_SERVE)
        python = ".".join((manifest.get("python") or "3.11").split(".")[:2])
        (staging / "Dockerfile").write_text(_DOCKERFILE.format(python=python))
        metric = version["metric"]
        (staging / "README.md").write_text(
            _README.format(
                project=version["project"],
                version=version["version"],
                name=version["name"],
                model_note=model_note,
                inputs=", ".join(c["name"] for c in version["signature"]["columns"]),
                metric=metric,
                score=version["test_metrics"].get(metric),
                baseline=version["baseline_metrics"].get(metric),
            )
        )
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def export_bundle(
    store: Store, version: dict[str, Any], run: dict[str, Any], target: Path, *, trusted: list[str]
) -> Path:
    """Write the bundle of model `version` into the new or empty folder `target`."""
    check_target(target)
    ref = ArtifactRef.from_row(version)
    source = store.artifacts.verified_path(ref)

    def fill(folder: Path) -> None:
        import loopml

        shutil.copyfile(source, folder / "model.skops")
        shutil.copytree(
            Path(loopml.__file__).parent,
            folder / "vendor" / "loopml",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "demo"),
        )

    manifest = manifest_of(version, run, ref.sha256) | {"trusted": trusted}
    return write_bundle(
        target,
        version,
        manifest,
        fill=fill,
        loader=_BUNDLE_SKOPS,
        pins=runtime_versions(manifest["packages"]),
        model_note=_SKOPS_NOTE.format(sha=ref.sha256[:12]),
    )
