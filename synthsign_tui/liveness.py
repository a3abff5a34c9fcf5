"""Whether a run marked `running` still has a process behind it: the one rule the catalog, the CLI and every
screen apply, kept free of heavy imports so the dashboard's first screen needs no database library."""

from __future__ import annotations

import os
import socket
import time

STALE_AFTER_SECONDS = 30.0  # a run's heartbeat is written every 5 s; six missed beats mean its process died


def is_stale(heartbeat: float | None, now: float | None = None) -> bool:
    return heartbeat is None or (now or time.time()) - heartbeat > STALE_AFTER_SECONDS


def process_alive(pid: int) -> bool:
    """True while process `pid` of this machine exists and is not a zombie (exited, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) said it exists


def status_now(
    status: str, heartbeat_at: float | None, host: str | None, pid: int | None, now: float | None = None
) -> str:
    """A `running` run reads as `interrupted` when its heartbeat went stale, and a running or launched (`queued`
    with a pid) one at once when its process (the recorded pid, on this machine) is gone."""
    if status not in ("running", "queued"):
        return status
    if status == "running" and is_stale(heartbeat_at, now):
        return "interrupted"
    if pid is not None and host == socket.gethostname() and not process_alive(pid):
        return "interrupted"
    return status
