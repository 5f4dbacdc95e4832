"""Running the REST app: binding rules, uvicorn, worker processes, graceful shutdown.

Binds 127.0.0.1 unless told otherwise; any other address needs a bearer token (`--token` or
LOOPML_TOKEN) unless `--insecure` says, explicitly, that the network is trusted. uvicorn
handles SIGTERM: it stops accepting, finishes the requests in flight, and exits 0. With
`workers > 1` uvicorn's supervisor runs that many processes on one socket; each builds its
app from the settings handed down in the environment (LOOPML_SERVE_SETTINGS).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import tempfile
from dataclasses import asdict, replace
from typing import Any

from loopml.errors import UsageError
from loopml.serve.app import ServeSettings
from loopml.serve.metrics import MULTIPROCESS_ENV

LOOPBACK = frozenset(["127.0.0.1", "localhost", "::1"])
TOKEN_ENV = "LOOPML_TOKEN"
_SETTINGS_ENV = "LOOPML_SERVE_SETTINGS"
MIN_TOKEN_LENGTH = 16


def serving_token(host: str, token: str | None, *, insecure: bool = False) -> str | None:
    """The token requests must carry (None: none), or a UsageError when the binding is unsafe."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise UsageError(
            f"the token is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )
    if token is None and host not in LOOPBACK and not insecure:
        raise UsageError(
            f"binding {host} exposes the model beyond this machine: set a token with --token "
            f"or {TOKEN_ENV} (clients send `Authorization: Bearer <token>`), or pass --insecure "
            "if this network is trusted"
        )
    return token


def check_address(host: str, port: int) -> None:
    """A UsageError when `host`:`port` cannot be bound (in use, or not this machine's)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(
            f"cannot bind {host}: not an address of this machine ({exc.strerror})"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {host} is in use by another program; pick another with --port"
                ) from None
            raise UsageError(
                f"cannot bind {host}:{port} ({exc.strerror}); check --host and --port"
            ) from None


def run_server(
    settings: ServeSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    access_log: bool = False,
    graceful_s: float = 30.0,
) -> None:
    """Serve until SIGTERM / Ctrl-C, then finish the requests in flight (at most `graceful_s`)."""
    import uvicorn

    os.environ[_SETTINGS_ENV] = json.dumps(asdict(settings))
    shared = None
    if workers > 1:  # the workers' Prometheus counts meet in files there, summed per scrape
        shared = tempfile.mkdtemp(prefix="loopml-metrics-")
        os.environ[MULTIPROCESS_ENV] = shared
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler it found:
    # this one makes that a normal exit (status 0) rather than death by signal.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.run(
            "loopml.serve.server:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=access_log,
            log_level="warning",
            timeout_graceful_shutdown=int(graceful_s),
            server_header=False,
        )
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def app_from_environment() -> Any:
    """The app for the settings `run_server` put in the environment (one per worker process)."""
    from loopml.serve.app import create_app

    data = json.loads(os.environ[_SETTINGS_ENV])
    return create_app(replace(ServeSettings(data["spec_path"], data["ref"]), **data))
