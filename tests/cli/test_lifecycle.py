"""A run's life when things go wrong around it: a second owner, a deleted folder, an unwritable runs folder, a
full disk. Real `synthsign` processes on a real catalog: a clean message, the documented exit code, and the
run never left `running` nor `queued`."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys

from synthsign_tui.catalog import Catalog
from synthsign_tui.catalog.owner import Owner, process_start
from synthsign_tui.config import load_config
from synthsign_tui.engine import create_run

TINY = ["--set", "data.images_per_class=4", "--set", "data.background_images=0", "--set", "generator.height=32",
        "--set", "generator.width=32", "--set", "localiser.scenes=0"]  # fmt: skip


def synthsign(*args, cwd, env=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SYNTHSIGN_DB": "", "COLUMNS": "160", **(env or {})}
    return subprocess.run([sys.executable, "-m", "synthsign_tui", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


def test_resume_of_a_run_another_process_owns_is_refused(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    run = create_run(load_config(), catalog)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        catalog.take_lease(run.id, Owner(holder.pid, socket.gethostname(), process_start(holder.pid)))
        os.kill(holder.pid, signal.SIGSTOP)  # stopped with Ctrl-Z: still the owner
        proc = synthsign("resume", "1", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert f"run 1 is running in process {holder.pid} on {socket.gethostname()} since" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert catalog.get_run(1).pid == holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_resume_of_a_run_whose_folder_is_gone(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    run = create_run(load_config(), catalog)
    catalog.update_run(run.id, status="interrupted")
    shutil.rmtree(run.run_dir)
    proc = synthsign("resume", "1", cwd=tmp_path)
    assert proc.returncode == 2 and "run 1's folder" in proc.stderr and "is gone" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert catalog.get_run(1).status == "interrupted"


def test_an_unwritable_runs_folder_records_no_run(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    proc = synthsign(
        "--runs-dir", str(tmp_path / "file" / "runs"), "run", "--until", "generate", *TINY, cwd=tmp_path
    )
    assert (
        proc.returncode == 2 and "cannot create the run folder" in proc.stderr and "--runs-dir" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert json.loads(synthsign("runs", "--json", cwd=tmp_path).stdout) == []  # no orphan queued row


def test_a_full_disk_fails_the_run_cleanly_and_resume_completes_it(tmp_path):
    proc = synthsign(
        "run", "--until", "generate", *TINY, cwd=tmp_path, env={"SYNTHSIGN_FAULT": "generate.image:3:enospc"}
    )
    assert proc.returncode == 1, proc.stderr
    assert "run 1 failed" in proc.stderr and "No space left on device" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert Catalog(tmp_path / "runs.db").get_run(1).status == "failed"
    assert synthsign("resume", "1", "--until", "generate", cwd=tmp_path).returncode == 0
    run = Catalog(tmp_path / "runs.db").get_run(1)
    assert (run.status, run.gen_images) == ("done", 8)
