"""Several processes, one run: the engine's `Distributed` under `accelerate launch`, and a detached launcher.

Started as `accelerate launch --multi_gpu --num_processes N -m synthsign_tui run CONFIG` (or `resume RUN_ID`),
every process runs the same stages: generation splits the images between the processes, training is DDP
through `Accelerator`, evaluation splits the photos and gathers the predictions. The main process alone writes
the catalog. `current()` reads the launcher's environment (WORLD_SIZE) and joins the process group through
accelerate's `PartialState`: NCCL between GPUs, gloo on the CPU. Objects travel with torch.distributed's
`broadcast_object_list` and `all_gather_object`.

On a machine without GPUs, `--multi_gpu` still starts N processes (accelerate's `--cpu` starts one process
unless MPI is installed); they find no GPU and use gloo.

`launch_detached` starts such a launch as a child in its own session, so the run outlives the dashboard that
started it; the dashboard follows it through the catalog like any other run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from synthsign_tui.catalog import Catalog
from synthsign_tui.config import RunConfig
from synthsign_tui.engine.context import Distributed
from synthsign_tui.engine.device import DEVICES
from synthsign_tui.engine.runner import check_resumable, create_run
from synthsign_tui.errors import SynthSignError
from synthsign_tui.files import write_atomic
from synthsign_tui.vocab import STAGES

log = logging.getLogger(__name__)

# A process may wait long for the others: the main process reconciles a large dataset or decodes the image
# cache while they wait. torch's defaults (10 min NCCL, 30 min gloo) would kill such a run.
COLLECTIVE_TIMEOUT = timedelta(hours=2)


def launched_processes() -> int:
    """How many processes the launcher (accelerate launch, torchrun) started; 1 when run directly."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def current() -> Distributed:
    """This process's place in the launch: the plain single-process `Distributed` unless launched with N > 1."""
    if launched_processes() <= 1:
        return Distributed()
    import torch
    from accelerate import PartialState

    cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") or not torch.cuda.is_available()
    state = PartialState(cpu=cpu, timeout=COLLECTIVE_TIMEOUT)
    log.info(
        "process %d of %d on %s (%s)", state.process_index, state.num_processes, state.device, state.backend
    )
    return AccelerateDistributed(state.process_index, state.num_processes, state)


@dataclass
class AccelerateDistributed(Distributed):
    """The collectives of an initialised torch.distributed process group, as accelerate's PartialState set it up."""

    state: Any = None

    def barrier(self) -> None:
        self.state.wait_for_everyone()

    def broadcast(self, value: Any) -> Any:
        import torch.distributed

        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, items: list[Any]) -> list[Any]:
        import torch.distributed

        parts: list[Any] = [None] * self.num_processes
        torch.distributed.all_gather_object(parts, list(items))
        return [item for part in parts for item in part]

    def share(self, items: list[Any]) -> list[Any]:
        with self.state.split_between_processes(list(items)) as mine:
            return list(mine)


# ---------------------------------------------------------------- launching


@dataclass
class Launch:
    """A run started in the background: follow `run_id` in the catalog; `process` is the launcher."""

    run_id: int
    process: subprocess.Popen[bytes]
    log_path: Path
    command: list[str]


def launch_command(
    run_id: int, catalog: Catalog, num_processes: int, devices: str = "cuda", until: str | None = None
) -> list[str]:
    """The command that executes recorded run `run_id` in `num_processes` processes (1: no launcher)."""
    check_launch(num_processes, devices, until)
    app = ["-m", "synthsign_tui", "--db", str(catalog.path.resolve()), "--runs-dir", str(catalog.runs_dir.resolve()),
           "resume", str(run_id), *(["--until", until] if until else [])]  # fmt: skip
    return [*accelerate_launcher(num_processes), *app] if num_processes > 1 else [sys.executable, *app]


def accelerate_launcher(num_processes: int) -> list[str]:
    """`accelerate launch` of `num_processes` > 1 processes on this machine, on a free port; add `-m MODULE ARGS`."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0"]  # fmt: skip


def check_launch(num_processes: int, devices: str, until: str | None) -> None:
    if devices not in DEVICES:
        raise SynthSignError(f"devices {devices!r}: choose one of {', '.join(DEVICES)}")
    if num_processes < 1:
        raise SynthSignError(f"{num_processes} processes: expected 1 or more")
    if until is not None and until not in STAGES:
        raise SynthSignError(f"until {until!r}: choose one of {', '.join(STAGES)}")


def launch_environment(devices: str) -> dict[str, str]:
    """The launcher's environment: this one, with the GPUs hidden for a CPU launch."""
    env = dict(os.environ)
    if devices == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # each process then finds no GPU and uses gloo
        env["ACCELERATE_USE_CPU"] = "true"
    return env


def prepare_launch(
    config: RunConfig, catalog: Catalog, num_processes: int, devices: str = "cuda", until: str | None = None
) -> tuple[int, list[str]]:
    """Record a queued run whose command is its launch; returns (run id, the command that executes it)."""
    check_launch(num_processes, devices, until)
    run = create_run(config, catalog, until=until)
    command = launch_command(run.id, catalog, num_processes, devices, until)
    catalog.update_run(run.id, command=shlex.join(command))
    write_atomic(run.folder / "command.txt", shlex.join(command) + "\n")
    return run.id, command


def stop_launch(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> None:
    """Cancel a launched run cleanly: `signum` to the launcher alone, which hands it on to each of its processes
    once (accelerate's launcher does; a single process is the run itself). Sending it to the whole process
    group would reach every run process twice, and a second signal stops a run at once."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)


def launch_detached(
    config: RunConfig,
    catalog: Catalog,
    num_processes: int = 1,
    devices: str = "cuda",
    until: str | None = None,
) -> Launch:
    """Record a queued run and start it in the background in `num_processes` processes; returns at once.

    The launcher runs in its own session (closing the dashboard or its terminal does not stop it) and writes
    its output to `launch.log` in the run folder. `handle.RunHandle.cancel` (or `stop_launch`) cancels it cleanly
    and leaves it resumable.
    """
    run_id, command = prepare_launch(config, catalog, num_processes, devices, until)
    return start_detached(run_id, catalog, command, devices)


def resume_detached(
    run_id: int,
    catalog: Catalog,
    num_processes: int | None = None,
    devices: str = "cuda",
    until: str | None = None,
) -> Launch:
    """Start `synthsign resume RUN_ID` in the background, in as many processes as the run was launched with
    (unless `num_processes` says otherwise); raises SynthSignError, starting nothing, when it cannot resume."""
    run = catalog.require_run(run_id)
    check_resumable(run)
    if num_processes is None:
        num_processes = launched_with(run.command)
    command = launch_command(run_id, catalog, num_processes, devices, until)
    catalog.update_run(run_id, status="queued", error=None)  # at once: its process takes seconds to start
    return start_detached(run_id, catalog, command, devices)


def launched_with(command: str | None) -> int:
    """How many processes a recorded launch command starts (1 for a plain `synthsign run`)."""
    words = shlex.split(command or "")
    if "--num_processes" in words[:-1]:
        value = words[words.index("--num_processes") + 1]
        return int(value) if value.isdigit() else 1
    return 1


def start_detached(run_id: int, catalog: Catalog, command: list[str], devices: str) -> Launch:
    """Start `command` (which executes run `run_id`) in its own session, output to the run's `launch.log`."""
    run_dir = catalog.require_run(run_id).folder
    log_path = run_dir / "launch.log"
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=launch_environment(devices), start_new_session=True, cwd=os.getcwd(),
        )  # fmt: skip
    record_launcher(run_dir, process.pid)
    log.info("run %d launched as pid %d: %s", run_id, process.pid, command)
    return Launch(run_id, process, log_path, command)


LAUNCHER_FILE = "launch.pid"  # the pid of the process that launched a run's process(es), in its run folder


def record_launcher(run_dir: Path, pid: int) -> None:
    write_atomic(Path(run_dir) / LAUNCHER_FILE, f"{pid}\n")


def recorded_launcher(run_dir: str | Path | None) -> int | None:
    """The launcher's pid that `record_launcher` wrote for a run folder, or None."""
    if run_dir is None:
        return None
    try:
        return int((Path(run_dir) / LAUNCHER_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
