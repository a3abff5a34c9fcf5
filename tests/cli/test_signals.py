"""Stopping a headless run as a user does: real `synthsign` processes, real signals, a real catalog.

One run is stopped in each stage by each stop signal (SIGINT in generate, SIGTERM in train, SIGHUP in
evaluate), and once by a second Ctrl-C; each time it is resumed, and it ends done with consistent records.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

CONFIG = ["--preset", "road-signs-offline", "--set", "data.images_per_class=60", "--set", "data.background_images=0",
          "--set", "generator.height=48", "--set", "generator.width=48", "--set", "train.image_size=32",
          "--set", "train.epochs=2", "--set", "train.batch_size=8", "--set", "evaluate.multicrop=off",
          "--set", "evaluate.tta=none", "--set", "evaluate.batch_size=4"]  # fmt: skip


def start(*args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SYNTHSIGN_DB": "", "COLUMNS": "160"}
    return subprocess.Popen([sys.executable, "-m", "synthsign_tui", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


@pytest.fixture
def started(tmp_path):
    """`start` that ends, whatever happens, every process it started."""
    procs = []

    def start_here(*args):
        procs.append(start(*args, cwd=tmp_path))
        return procs[-1]

    yield start_here
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def row(db, *columns):
    with sqlite3.connect(db, timeout=30) as conn:
        found = conn.execute(f"SELECT {', '.join(columns)} FROM runs WHERE id = 1").fetchone()
    return found


def wait_for_stage(proc, db, stage: str) -> None:
    """Until the catalog shows process `proc` working on `stage` (an item of it done)."""
    deadline = time.time() + 240
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                now = row(db, "stage", "progress_done", "status", "pid")
            except sqlite3.OperationalError:  # the table is not there yet
                now = None
            if now and now[0] == stage and now[1] > 0 and now[2:] == ("running", proc.pid):
                return
        time.sleep(0.02)
    raise AssertionError(f"the run never reached {stage}")


def stop(proc, signums, timeout=240):
    for signum in signums:
        proc.send_signal(signum)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def test_every_stop_signal_cancels_in_every_stage_and_resume_completes(tmp_path, started):
    db = tmp_path / "runs.db"

    proc = started("run", *CONFIG)
    wait_for_stage(proc, db, "generate")
    code, text = stop(proc, [signal.SIGINT])
    assert code == 130, text
    assert row(db, "status", "stage") == ("cancelled", "generate")
    assert "Traceback" not in text and "continue it with `synthsign resume 1`" in text

    proc = started("resume", "1")
    wait_for_stage(proc, db, "train")
    code, text = stop(proc, [signal.SIGTERM])
    assert code == 143, text
    assert row(db, "status", "stage") == ("cancelled", "train")

    proc = started("resume", "1")
    wait_for_stage(proc, db, "train")
    code, text = stop(proc, [signal.SIGINT, signal.SIGINT])  # a second Ctrl-C stops at once
    assert code == 130, text
    assert row(db, "status") == ("running",)  # left as it was, its owner gone: it reads as interrupted
    listed = subprocess.run([sys.executable, "-m", "synthsign_tui", "runs", "--json"], cwd=tmp_path, text=True,
                            capture_output=True, env={**os.environ, "SYNTHSIGN_DB": ""}, check=True)  # fmt: skip
    assert '"status": "interrupted"' in listed.stdout

    proc = started("resume", "1")
    wait_for_stage(proc, db, "evaluate")
    code, text = stop(proc, [signal.SIGHUP])
    assert code == 129, text
    assert row(db, "status", "stage") == ("cancelled", "evaluate")

    proc = started("resume", "1")
    code, text = stop(proc, [])
    assert code == 0, text
    assert row(db, "status", "epochs_done") == ("done", 2)
    with sqlite3.connect(db) as conn:
        epochs = [e for (e,) in conn.execute("SELECT epoch FROM epochs WHERE run_id = 1 ORDER BY epoch")]
        steps = conn.execute("SELECT count(*), count(DISTINCT step) FROM steps WHERE run_id = 1").fetchone()
        evaluations = conn.execute("SELECT count(*) FROM evaluations WHERE run_id = 1").fetchone()[0]
    assert epochs == [0, 1, 2]
    assert steps[0] == steps[1] == 2 * 14  # 108 training images in batches of 8, each step once
    assert evaluations == 4  # synthetic-val and real, before and best
    assert not [p for p in (tmp_path / "runs").rglob("*") if ".tmp" in p.name]
