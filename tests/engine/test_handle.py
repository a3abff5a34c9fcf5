"""The run handle's process side, without training: who owns a run, what a dead launch leaves, which runs the
one liveness rule calls interrupted. (Launching, watching and cancelling real runs: tests/app/test_app_engine.py
and test_app_launch.py.)"""

import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

from synthsign_tui.catalog import Catalog
from synthsign_tui.config import load_config
from synthsign_tui.engine.handle import RunHandle, run_owner, signal_owner
from synthsign_tui.engine.processes import launched_with, record_launcher, start_detached

TINY = ["data.images_per_class=4", "data.val_fraction=0.25", "data.background_images=0"]


def queued_run(tmp_path: Path):
    catalog = Catalog(tmp_path / "runs.db")
    run = catalog.create_run(load_config(preset="road-signs-offline", overrides=TINY))
    Path(run.run_dir).mkdir(parents=True)
    return catalog, run


def test_the_owner_is_a_live_synthsign_process_never_a_recycled_pid(tmp_path):
    catalog, run = queued_run(tmp_path)
    stranger = subprocess.Popen(
        ["sleep", "30"]
    )  # alive, but not SynthSign: a pid the run's process left behind
    try:
        run = catalog.update_run(
            run.id,
            status="running",
            heartbeat_at=time.time(),
            pid=stranger.pid,
            owner_host=socket.gethostname(),
        )
        assert run_owner(run) is None
        assert not signal_owner(run)
        assert stranger.poll() is None, "a stranger must never get the signal"
    finally:
        stranger.kill()
        stranger.wait()
    run = catalog.update_run(run.id, pid=stranger.pid)
    assert run.display_status() == "interrupted", "its process is gone: interrupted at once, heartbeat fresh"
    assert catalog.mark_interrupted() == [run.id]


def test_cancel_signals_the_launcher_alone_once(tmp_path):
    catalog, run = queued_run(tmp_path)
    # a stand-in launcher, named like SynthSign, that records each SIGTERM it gets and then exits
    got = tmp_path / "signals"
    script = (
        "import signal, sys, time  # synthsign\n"
        f"def on_term(*_):\n    open({str(got)!r}, 'a').write('TERM\\n')\n    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, on_term)\ntime.sleep(60)\n"
    )
    launch = start_detached(run.id, catalog, [sys.executable, "-c", script], "cpu")
    handle = RunHandle(catalog, run.id, launch=launch)
    time.sleep(1.0)
    assert run_owner(catalog.get_run(run.id)) == launch.process.pid
    assert handle.cancel()
    assert launch.process.wait(10) == 0
    assert got.read_text() == "TERM\n", "the launcher must get the signal exactly once (it hands it on)"
    assert handle.join(10)
    # it never started the run: the reaper records what became of it
    assert catalog.get_run(run.id).status == "cancelled"


def test_a_launch_that_dies_before_starting_the_run_is_recorded_failed(tmp_path):
    catalog, run = queued_run(tmp_path)
    command = [sys.executable, "-c", "import sys; print('no such module'); sys.exit(3)"]
    handle = RunHandle(catalog, run.id, launch=start_detached(run.id, catalog, command, "cpu"))
    assert handle.join(30)
    run = catalog.get_run(run.id)
    assert run.status == "failed" and "code 3" in run.error and "launch.log" in run.error
    assert "no such module" in (Path(run.run_dir) / "launch.log").read_text()


def test_resume_uses_as_many_processes_as_the_launch():
    assert (
        launched_with(shlex.join(["python", "-m", "accelerate.commands.launch", "--num_processes", "4"])) == 4
    )
    assert launched_with("synthsign run --preset road-signs-quick") == 1
    assert launched_with(None) == 1


def test_the_recorded_launcher_wins_while_it_lives(tmp_path):
    catalog, run = queued_run(tmp_path)
    script = "import time; time.sleep(60)  # synthsign"
    launcher, worker = (subprocess.Popen([sys.executable, "-c", script]) for _ in range(2))
    try:
        record_launcher(Path(run.run_dir), launcher.pid)
        run = catalog.update_run(
            run.id,
            status="running",
            heartbeat_at=time.time(),
            pid=worker.pid,
            owner_host=socket.gethostname(),
        )
        assert run_owner(run) == launcher.pid
        launcher.kill()
        launcher.wait()
        assert run_owner(run) == worker.pid  # the launcher is gone: the process executing the run
    finally:
        worker.kill()
        worker.wait()
