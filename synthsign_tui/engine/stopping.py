"""The one way a headless run is stopped: SIGINT (Ctrl-C), SIGTERM and SIGHUP (a dropped SSH session) alike.

`run_stoppably` runs the work in a worker thread while the main thread waits with handlers for these signals
installed. The first signal sets the run's `cancel` event: the run stops at its next image or batch, is
recorded `cancelled` and can be resumed; the command then exits 128 + the signal's number (`STOP_SIGNALS`).
A second signal ends the process at once (the run then reads as `interrupted`, and resumes as well).
After SIGHUP the terminal is gone, so standard output and error are pointed at /dev/null first.

The main thread only waits on an event, never in `Thread.join`: a KeyboardInterrupt inside `join` leaves
Python 3.11 believing the worker finished while it still runs (the cause of `terminate called without an
active exception` when the interpreter then exits under torch).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

STOP_SIGNALS: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


@dataclass
class Stopped(Generic[T]):
    """What `run_stoppably` returns: the work's result and the first stop signal received (None if none)."""

    result: T
    signum: int | None

    @property
    def exit_code(self) -> int:
        return STOP_SIGNALS.get(self.signum or signal.SIGINT, 130)


def silence_terminal() -> None:
    """Point stdout and stderr at /dev/null: after a hang-up, writing to the lost terminal would fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def install_stop_handlers(on_signal: Callable[[int, int], None]) -> dict[int, object] | None:
    """Route the stop signals to `on_signal(signum, count)`; returns the previous handlers (None off the main
    thread, where Python cannot install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    count = 0

    def handler(signum, _frame) -> None:
        nonlocal count
        count += 1
        if signum == signal.SIGHUP:
            silence_terminal()
        on_signal(signum, count)

    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}


def restore_handlers(previous: dict[int, object] | None) -> None:
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)


def run_stoppably(
    work: Callable[[], T], cancel: threading.Event, on_first: Callable[[int], None] | None = None
) -> Stopped[T]:
    """`work()` in a worker thread; the first stop signal sets `cancel` (and calls `on_first(signum)`), a second
    exits at once with the first signal's exit code. Re-raises what `work` raised."""
    received: list[int] = []

    def on_signal(signum: int, count: int) -> None:
        if count > 1:
            os._exit(STOP_SIGNALS[received[0] if received else signum])
        received.append(signum)
        cancel.set()
        if on_first is not None:
            with contextlib.suppress(OSError):  # the terminal may be gone
                on_first(signum)

    outcome: dict[str, object] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # re-raised in the calling thread
            outcome["error"] = exc
        finally:
            finished.set()

    previous = install_stop_handlers(on_signal)
    try:
        threading.Thread(target=run, name="run", daemon=True).start()
        while not finished.wait(0.5):
            pass
    finally:
        restore_handlers(previous)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return Stopped(outcome.get("result"), received[0] if received else None)  # type: ignore[arg-type]
