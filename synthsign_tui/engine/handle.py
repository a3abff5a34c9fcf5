"""One run handle that both front ends use to start, watch, cancel and resume a run.

A handle comes from `launch_new` or `resume` (the run in its own process or processes, in their own session:
it outlives the terminal and the front end that started it), or from `attach` (any run in the catalog: one an
earlier dashboard launched, or a foreground `synthsign run` in another terminal). Watching is reading the
catalog, so every kind looks the same.

`cancel` means the same thing everywhere: SIGTERM on the run's owner (`run_owner`: the launcher while it lives, which hands the signal on once to
each of its processes, else the process holding the run's lease), which the command line turns into the same
cancel event. Either way the run stops after its current image or batch, is recorded `cancelled` and stays
resumable. The signal goes to that one process, never its group: a run process must get it once (a second
signal stops it at once), and a group may hold data-loader workers or a shell's other programs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

from synthsign_tui.catalog import Catalog, Run, owner_alive
from synthsign_tui.catalog.owner import process_start
from synthsign_tui.config import RunConfig
from synthsign_tui.engine.device import gpu_names
from synthsign_tui.engine.processes import Launch, launch_detached, recorded_launcher, resume_detached
from synthsign_tui.vocab import LIVE

log = logging.getLogger(__name__)


def launch_devices() -> str:
    """cuda when `nvidia-smi` lists a GPU, else cpu (which hides GPUs from the processes); no torch import."""
    return "cuda" if gpu_names() else "cpu"


def run_owner(run: Run) -> int | None:
    """The pid to signal to stop `run`: its launcher while that lives, else the process holding its lease (the
    catalog's owner rule: pid, host and start time); None when neither is a live SynthSign process of this
    machine. The one place that decides whom a cancel reaches."""
    here = socket.gethostname()
    launcher = recorded_launcher(run.run_dir)
    if (
        launcher
        and run.host in (None, here)
        and process_start(launcher) is not None
        and _is_synthsign(launcher)
    ):
        return launcher
    lease_alive = owner_alive(run.pid, run.owner_host, run.owner_start, run.heartbeat_at)
    if run.pid and run.owner_host == here and lease_alive and _is_synthsign(run.pid):
        return run.pid
    return None


def _is_synthsign(pid: int) -> bool:
    """Guards against a recycled pid: the process's command line names SynthSign (True without /proc)."""
    try:
        return b"synthsign" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc/self").exists()


def signal_owner(run: Run, sig: int = signal.SIGTERM) -> bool:
    """Send `sig` to the run's owner (`run_owner`) alone; False when there is none to reach."""
    pid = run_owner(run)
    if pid is None:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    log.info("run %s: sent signal %d to pid %d", run.id, sig, pid)
    return True


class RunHandle:
    """A run as a front end holds it: started here, launched as processes, or found in the catalog."""

    def __init__(
        self,
        catalog: Catalog,
        run_id: int,
        *,
        launch: Launch | None = None,
    ) -> None:
        self.catalog = catalog
        self.run_id = run_id
        self.launch = launch
        self.cancel_requested = False
        if launch is not None:  # reap the launcher, so its pid never lingers as a zombie of ours
            threading.Thread(target=self._reap, name=f"reap-{run_id}", daemon=True).start()

    # ------------------------------------------------------------------ making one

    @classmethod
    def launch_new(
        cls,
        config: RunConfig,
        catalog: Catalog,
        *,
        processes: int = 1,
        devices: str | None = None,
        until: str | None = None,
    ) -> RunHandle:
        """Record a run and start it in its own process(es), detached from this one; returns at once."""
        launch = launch_detached(config, catalog, processes, devices or launch_devices(), until)
        return cls(catalog, launch.run_id, launch=launch)

    @classmethod
    def resume(
        cls,
        catalog: Catalog,
        run_id: int,
        *,
        processes: int | None = None,
        devices: str | None = None,
        until: str | None = None,
    ) -> RunHandle:
        """Continue a stopped run in its own process(es), as many as it was launched with unless `processes`."""
        launch = resume_detached(run_id, catalog, processes, devices or launch_devices(), until)
        return cls(catalog, run_id, launch=launch)

    @classmethod
    def attach(cls, catalog: Catalog, run_id: int) -> RunHandle:
        """Any recorded run, whoever started it."""
        catalog.require_run(run_id)
        return cls(catalog, run_id)

    # ------------------------------------------------------------------ watching

    def run(self) -> Run:
        return self.catalog.require_run(self.run_id)

    def status(self) -> str:
        """The run's status by the one liveness rule (a running run whose process died is `interrupted`)."""
        return self.run().display_status()

    def is_live(self) -> bool:
        if self.launch is not None and self.launch.process.poll() is None:
            return True
        return self.status() in LIVE

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds (forever when None) for the run to stop; True once it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_live():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            time.sleep(0.2 if left is None else min(0.2, left))
        return True

    # ------------------------------------------------------------------ stopping

    def cancel(self) -> bool:
        """Ask the run to stop cleanly after its current item; False when it is not running (or not here to
        reach: another machine's run)."""
        self.cancel_requested = True
        run = self.run()
        if run.display_status() not in LIVE and (
            self.launch is None or self.launch.process.poll() is not None
        ):
            return False
        return signal_owner(run)

    def _reap(self) -> None:
        """Once the launcher exits: a run it never started (still `queued`, and by this launch: a later resume
        records its own launcher) is recorded as what became of it."""
        launch = self.launch
        if launch is None:  # only a handle that launched reaps
            return
        code = launch.process.wait()
        with contextlib.suppress(Exception):  # the catalog may be gone with a test's folder
            run = self.catalog.get_run(self.run_id)
            mine = run is not None and recorded_launcher(run.run_dir) == launch.process.pid
            if run is not None and mine and run.status == "queued":
                status = "cancelled" if self.cancel_requested else "failed"
                self.catalog.update_run(
                    self.run_id, status=status, finished_at=time.time(),
                    error=None if status == "cancelled" else
                    f"its process exited with code {code} before the run started; see {launch.log_path}",
                )  # fmt: skip
