"""Trials run in a worker process, so that one which overruns the time left can be stopped.

A fit inside scikit-learn cannot be interrupted from Python; a process can. The worker is
started once as `python -m loopml.search.worker` (a fresh interpreter: no forked OpenMP state,
and unlike multiprocessing's spawn it never re-imports the caller's script or notebook),
talks over two pipes, receives the rows and folds once, then runs
trials one at a time. After each fold it asks the search whether to go on (Optuna's
pruner lives in the search's process). When a trial is still running at its deadline the
worker is killed, the trial is recorded as stopped for time, and a new worker is started only
if another trial is asked for. A worker that dies (a crash inside a native library) fails
only its trial. Results come back over a pipe between the two processes of this run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from loopml.search.budget import Budget
from loopml.search.trials import AfterFold, Candidate, TrialData, run_trial

GRACE_S = 0.5  # how long past its deadline a trial may take to wind up before it is killed
START_TIMEOUT_S = 60.0


def _serve(conn: Any) -> None:  # pragma: no cover - runs in the worker process
    """The worker's loop: hold the data, run trials, ask about pruning after each fold."""
    import lightgbm  # noqa: F401  # imported while the search's process still reads the data

    from loopml.models import get_family, register_family
    from loopml.models.custom import custom_family

    data: TrialData | None = None
    while True:
        message = conn.recv()
        kind = message[0]
        if kind == "stop":
            return
        if kind == "data":
            data, declared = message[1], message[2]
            for spec_family in declared:
                register_family(custom_family(spec_family), replace=True)
            conn.send(("ready",))
            continue
        _, number, family_name, params, seconds_left, prunable = message
        budget = None
        if seconds_left is not None:
            budget = Budget(seconds_left, reserve_s=1e-9)

        def after_fold(step: int, running: float) -> bool:
            conn.send(("fold", step, running))
            return bool(conn.recv())

        candidate = run_trial(
            data,
            number,
            get_family(family_name),
            params,
            budget=budget,
            after_fold=after_fold if prunable else None,
        )
        conn.send(("done", candidate))


class TrialWorker:
    """Runs trials of one search in a separate process, killing one that overruns."""

    def __init__(
        self, data: TrialData | None = None, custom_families: list[Any] | None = None
    ) -> None:
        self.data = data
        self.custom_families = list(custom_families or [])
        self._process: Any = None
        self._conn: Any = None
        self._loaded = False

    def start(self) -> TrialWorker:
        """Start the worker process now, so its imports overlap with the caller's work."""
        if self._process is None or self._process.poll() is not None:
            self._spawn()
        return self

    def _spawn(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-m", "loopml.search.worker", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._process, self._conn, self._loaded = process, _Duplex(from_child_r, to_child_w), False

    def _load(self) -> None:
        if self.data is None:
            raise ValueError("the trial worker has no data: give TrialWorker(data) first")
        self._conn.send(("data", self.data, self.custom_families))
        if not self._conn.poll(START_TIMEOUT_S):
            self._discard()
            raise RuntimeError("the trial worker did not start")
        self._conn.recv()
        self._loaded = True

    def run(
        self,
        number: int,
        family: str,
        params: dict[str, Any],
        *,
        budget: Budget | None = None,
        after_fold: AfterFold | None = None,
    ) -> Candidate:
        """Run one trial; stop it at the search's deadline when `budget` is given."""
        self.start()
        if not self._loaded:
            self._load()
        seconds_left = None if budget is None else max(0.0, budget.search_remaining())
        started = time.perf_counter()
        self._conn.send(("trial", number, family, params, seconds_left, after_fold is not None))
        deadline = None if seconds_left is None else started + seconds_left + GRACE_S
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.perf_counter())
            try:
                ready = self._conn.poll(wait)
                message = self._conn.recv() if ready else None
            except (EOFError, OSError):
                self._discard()
                return self._lost(number, family, params, started, "the worker process died")
            if message is None:
                self._discard()
                return self._lost(
                    number, family, params, started, "stopped: it ran past the time left"
                )
            if message[0] == "fold":
                self._conn.send(bool(after_fold(message[1], message[2])))
                continue
            return message[1]

    def _lost(
        self, number: int, family: str, params: dict[str, Any], started: float, why: str
    ) -> Candidate:
        status = "pruned" if why.startswith("stopped") else "failed"
        seconds = time.perf_counter() - started
        return Candidate(number, family, dict(params), status=status, seconds=seconds, error=why)

    def _discard(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def close(self) -> None:
        """Stop the worker process."""
        if self._process is not None and self._process.poll() is None:
            try:
                self._conn.send(("stop",))
                self._process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._discard()

    def __enter__(self) -> TrialWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Duplex:
    """Two one-way pipe connections used as one: receive on `read_fd`, send on `write_fd`."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        from multiprocessing.connection import Connection

        self._in = Connection(read_fd, writable=False)
        self._out = Connection(write_fd, readable=False)

    def send(self, obj: Any) -> None:
        self._out.send(obj)

    def recv(self) -> Any:
        return self._in.recv()

    def poll(self, timeout: float | None = 0.0) -> bool:
        return self._in.poll(timeout)

    def close(self) -> None:
        self._in.close()
        self._out.close()


# run(number, family name, params, budget=, after_fold=) -> Candidate
TrialRunner = Callable[..., Candidate]


if __name__ == "__main__":  # pragma: no cover - the worker process
    _serve(_Duplex(int(sys.argv[1]), int(sys.argv[2])))
