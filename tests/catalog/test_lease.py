"""One owner per live run: the lease in a real catalog file, with real processes as owners."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from synthsign_tui.catalog import Catalog, RunBusy, owner_alive
from synthsign_tui.catalog.owner import Owner, process_start, this_process
from synthsign_tui.config import load_config


@pytest.fixture
def catalog(tmp_path):
    return Catalog(tmp_path / "runs.db")


@pytest.fixture
def sleeper():
    """A live process on this host, and its owner record."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc, Owner(proc.pid, socket.gethostname(), process_start(proc.pid))
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
    proc.wait()


def test_the_second_owner_is_refused_with_the_holder_named(catalog, sleeper):
    proc, owner = sleeper
    run = catalog.create_run(load_config())
    taken = catalog.take_lease(run.id, owner)
    assert (taken.status, taken.pid, taken.owner_host) == ("running", proc.pid, socket.gethostname())
    with pytest.raises(
        RunBusy, match=rf"run {run.id} is running in process {proc.pid} on {socket.gethostname()} since "
    ):
        catalog.take_lease(run.id)
    assert catalog.get_run(run.id).pid == proc.pid


def test_two_claims_at_once_leave_exactly_one_owner(catalog, sleeper):
    _, other = sleeper

    def claim(run_id: int, owner: Owner, barrier: threading.Barrier, won: list[int]) -> None:
        barrier.wait()
        try:
            catalog.take_lease(run_id, owner)
            won.append(owner.pid)
        except RunBusy:
            pass

    for _ in range(10):
        run = catalog.create_run(load_config())
        barrier, won = threading.Barrier(2), []
        threads = [
            threading.Thread(target=claim, args=(run.id, o, barrier, won)) for o in (this_process(), other)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1 and catalog.get_run(run.id).pid == won[0]


def test_a_stopped_owner_still_owns_and_a_dead_one_is_replaced(catalog, sleeper):
    """Ctrl-Z (SIGSTOP) for longer than any heartbeat rule: the run is still live, not resumable."""
    proc, owner = sleeper
    run = catalog.create_run(load_config())
    catalog.take_lease(run.id, owner)
    os.kill(proc.pid, signal.SIGSTOP)
    catalog.update_run(run.id, heartbeat_at=time.time() - 600)  # its heartbeat stopped long ago
    assert catalog.get_run(run.id).display_status() == "running"
    assert catalog.mark_interrupted() == []
    with pytest.raises(RunBusy):
        catalog.take_lease(run.id)
    proc.kill()
    proc.wait()
    assert catalog.get_run(run.id).display_status() == "interrupted"  # at once, with no heartbeat to wait for
    assert catalog.mark_interrupted() == [run.id]
    assert catalog.take_lease(run.id).pid == os.getpid()


def test_a_reused_pid_is_not_taken_for_the_owner(sleeper):
    proc, owner = sleeper
    assert owner_alive(owner.pid, owner.host, owner.start, None)
    assert not owner_alive(
        owner.pid, owner.host, str(int(owner.start) - 1), None
    )  # same pid, another process
    assert owner_alive(12345, "another-host", "1", time.time())  # elsewhere, only the heartbeat tells
    assert not owner_alive(12345, "another-host", "1", time.time() - 600)


def test_a_v2_catalog_gains_the_lease_columns(tmp_path):
    path = tmp_path / "v2.db"
    Catalog(path).create_run(load_config())
    with sqlite3.connect(path) as db:
        for column in ("owner_host", "owner_start", "lease_at"):
            db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        db.execute("PRAGMA user_version = 2")
    catalog = Catalog(path)
    assert catalog.schema_version() == 3
    assert catalog.take_lease(1).owner_host == socket.gethostname()
