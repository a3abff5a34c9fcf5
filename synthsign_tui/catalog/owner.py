"""Who owns a live run, and whether that owner still lives: the one liveness rule of the catalog.

A process that starts or resumes a run takes a lease on its row (`Catalog.take_lease`): its pid, host and
process start time, and a heartbeat it renews every few seconds. A `running` row is live while its owner is:
on this host, the owner is alive when a process with its pid exists and started at the recorded time (so a
reused pid is not taken for the owner, and a process stopped with Ctrl-Z stays the owner however old its
heartbeat); on another host, only the heartbeat can tell, and it must be fresher than `STALE_AFTER_SECONDS`.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthsign_tui.errors import SynthSignError

STALE_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class Owner:
    """A process that may hold a run: its pid, host, and start time (a token from /proc, or '' where unknown)."""

    pid: int
    host: str
    start: str


def process_start(pid: int) -> str | None:
    """A token for when process `pid` started (clock ticks since boot, from /proc/<pid>/stat); None when no such
    process lives (a zombie has died). '' where /proc is missing and the process exists."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:  # no /proc (macOS): existence is all we can tell
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
        return ""
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    if fields[0] in ("Z", "X"):  # zombie or dead: it has exited, its parent has not reaped it yet
        return None
    return fields[19]


def this_process() -> Owner:
    return Owner(os.getpid(), socket.gethostname(), process_start(os.getpid()) or "")


def owner_alive(
    pid: int | None,
    host: str | None,
    start: str | None,
    heartbeat_at: float | None,
    now: float | None = None,
) -> bool:
    """Whether the process recorded as a run's owner still runs (see the module docstring)."""
    if pid is not None and host == socket.gethostname():
        found = process_start(pid)
        return found is not None and (not start or not found or found == start)
    return heartbeat_at is not None and (now or time.time()) - heartbeat_at <= STALE_AFTER_SECONDS


def display_status(
    status: str,
    heartbeat_at: float | None,
    now: float | None = None,
    *,
    pid: int | None = None,
    owner_host: str | None = None,
    owner_start: str | None = None,
) -> str:
    """The status a reader should see: a `running` row whose owner died reads as `interrupted`."""
    if status == "running" and not owner_alive(pid, owner_host, owner_start, heartbeat_at, now):
        return "interrupted"
    return status


class RunBusy(SynthSignError):
    """Another live process owns the run (see `Catalog.take_lease`)."""


def busy_message(run: Any) -> str:
    """Who holds a live run (a `Run` row), since when, and what to do about it."""
    since = time.strftime(
        "%Y-%m-%d %H:%M:%S", time.localtime(run.lease_at or run.started_at or run.updated_at)
    )
    return (
        f"run {run.id} is running in process {run.pid} on {run.owner_host or run.host or 'an unknown host'} since "
        f"{since}: wait for it to finish, or stop that process (Ctrl-C, or `kill {run.pid}`, cancels it cleanly) "
        f"and then `synthsign resume {run.id}`"
    )
