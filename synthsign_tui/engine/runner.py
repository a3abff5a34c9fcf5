"""The run engine: the one entry point that the command line and the dashboard both drive.

`start_run` records a new run in the catalog and runs its stages (generate, train, evaluate) in order;
`resume_run` continues a cancelled, failed or interrupted one where it stopped. Progress goes to an
`on_event` callback as `Event`s; setting the `cancel` event stops the run cleanly between items, leaving it
resumable. The engine knows nothing of the UI.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from synthsign_tui.catalog import HEARTBEAT_SECONDS, Catalog, Run, RunBusy, busy_message
from synthsign_tui.config import RunConfig, resolve_path, validate
from synthsign_tui.engine.context import Cancelled, Distributed, Event, RunContext
from synthsign_tui.engine.device import default_device
from synthsign_tui.errors import RuntimeFailure, SynthSignError
from synthsign_tui.files import remove_stale_temps, write_atomic
from synthsign_tui.vocab import RESERVED_EVALUATIONS, RESUMABLE, STAGES

log = logging.getLogger(__name__)
T = TypeVar("T")

PACKAGES = (
    "synthsign-tui", "torch", "torchvision", "diffusers", "transformers", "accelerate", "textual", "sqlmodel",
    "pillow", "numpy", "scikit-learn",
)  # fmt: skip


def environment_record(device: str | None = None) -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "git_commit": git_commit(),
        "versions": versions,
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def check_inputs(config: RunConfig, until: str | None = None) -> None:
    """Fail before a run starts, not after training, when a folder it will read is missing."""
    folders = {}
    if until != "generate":
        folders.update({f"train.extra_sources ({k})": k for k in config.train.extra_sources})
    if until not in ("generate", "train"):
        folders["evaluate.real_dir"] = config.evaluate.real_dir
        folders.update({f"evaluate.extra_real.{k}": v for k, v in config.evaluate.extra_real.items()})
    for key, folder in folders.items():
        if not resolve_path(folder).is_dir():
            raise SynthSignError(
                f"{key}: folder {folder!r} does not exist (looked in {Path.cwd()} and the project folder); "
                "point it at an ImageFolder of real photos, e.g. --set evaluate.real_dir=/path/to/photos"
            )


def create_run(
    config: RunConfig, catalog: Catalog, *, command: str | None = None, until: str | None = None
) -> Run:
    """Record a queued run and write its folder: the resolved config and the command that made it.

    Raises SynthSignError, recording nothing, when a folder the run will read (up to `until`) is missing.
    """
    check_inputs(config, until)
    run = catalog.create_run(config, command=command)
    run_dir = run.folder
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        write_atomic(run_dir / "config.toml", config.to_toml())
        write_atomic(run_dir / "command.txt", (command or "") + "\n")
    except OSError as exc:  # no orphan queued row for a run that never had a folder
        catalog.delete_run(run.id, remove_folder=True)
        raise SynthSignError(
            f"cannot create the run folder {run_dir}: {exc.strerror or exc}; choose a writable folder with "
            "--runs-dir PATH, or free space on its disk"
        ) from exc
    return run


def start_run(
    config: RunConfig,
    catalog: Catalog,
    *,
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    until: str | None = None,
    command: str | None = None,
    dist: Distributed | None = None,
) -> int:
    """Create a run and execute it; returns its id. Raises only for a bad `until`; run errors go in the catalog."""
    dist = dist or Distributed()
    _check_until(until)
    run_id = None
    if dist.is_main:
        run_id = create_run(config, catalog, command=command, until=until).id
    run_id = dist.broadcast(run_id)
    return execute(run_id, catalog, on_event=on_event, cancel=cancel, until=until, dist=dist)


def check_resumable(run: Run) -> None:
    """Raise unless the run can be resumed: stopped (cancelled, failed, interrupted), stopped early with
    `until`, or queued by a launcher that has not started it yet."""
    status = run.display_status()
    if status == "running":
        raise RunBusy(busy_message(run))
    if not run.run_dir or not Path(run.run_dir).is_dir():
        raise SynthSignError(
            f"run {run.id}'s folder {run.run_dir} is gone, so it cannot be resumed: start it again as a new run "
            f"from its saved config (`synthsign show {run.id} --json` prints it)"
        )
    finished_early = status == "done" and run.stage != STAGES[-1]
    if status not in (*RESUMABLE, "queued") and not finished_early:
        raise SynthSignError(
            f"run {run.id} is {status}: only {', '.join(RESUMABLE)} runs (or runs stopped early with --until) "
            "can be resumed"
        )


def resume_run(
    run_id: int,
    catalog: Catalog,
    *,
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    until: str | None = None,
    dist: Distributed | None = None,
) -> int:
    """Continue a cancelled, failed or interrupted run (or one stopped early with `until`) where it stopped."""
    _check_until(until)
    catalog.mark_interrupted()
    check_resumable(catalog.require_run(run_id))
    return execute(run_id, catalog, on_event=on_event, cancel=cancel, until=until, dist=dist, resumed=True)


def execute(
    run_id: int,
    catalog: Catalog,
    *,
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    until: str | None = None,
    dist: Distributed | None = None,
    resumed: bool = False,
) -> int:
    """Run the stages of a recorded run, keeping its status, heartbeat and errors in the catalog."""
    dist = dist or Distributed()
    cancel = cancel or threading.Event()
    run = catalog.require_run(run_id)
    config = validate(run.config, f"run {run_id}'s saved config")
    ctx = RunContext(run_id, run.folder, config, catalog, on_event, cancel, dist)
    last = STAGES.index(until) if until else len(STAGES) - 1
    started = time.time()
    heartbeat_stop = threading.Event()
    if dist.is_main:
        catalog.take_lease(run_id)  # raises RunBusy while another live process runs it
        catalog.update_run(run_id, started_at=run.started_at or time.time())
        for path in remove_stale_temps(ctx.run_dir):
            log.info("removed %s, left by a stopped writer", path)
        threading.Thread(target=_beat, args=(catalog, run_id, heartbeat_stop), daemon=True).start()
    ctx.emit("status", message="running", data={"status": "running"})
    status, error = "done", None
    try:
        device = default_device()
        dist.on_main(lambda: _record_environment(ctx, device))
        processes = f" x {dist.num_processes} processes" if dist.num_processes > 1 else ""
        ctx.log(
            ("resumed" if resumed else "started")
            + f" on {device}{processes}, stages {', '.join(STAGES[: last + 1])}"
        )
        for stage in STAGES[: last + 1]:
            dist.together(ctx.check_cancel)
            if dist.is_main:
                catalog.update_run(run_id, stage=stage, progress_done=0, progress_total=0, progress_rate=None)
            ctx.emit("status", stage=stage, message=f"stage {stage}", data={"status": "running"})
            dist.together(functools.partial(_stage_function(stage), ctx))
    except Cancelled:
        status = "cancelled"
        ctx.log("cancelled; `synthsign resume` continues it", "warning")
    except SynthSignError as exc:
        status, error = "failed", str(exc)
        ctx.log(f"failed: {exc}", "error")
    except OSError as exc:  # the machine's fault (a full disk, a folder gone): the message says all
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        log.debug("run %s failed", run_id, exc_info=True)
        ctx.log(f"failed: {error}; fix the cause, then `synthsign resume {run_id}`", "error")
    except Exception as exc:  # recorded with its traceback, the run stays resumable
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        ctx.log("failed:\n" + traceback.format_exc(), "error")
    finally:
        heartbeat_stop.set()
    if dist.is_main:
        _record_end(catalog, run_id, status, error, time.time() - started)
    dist.barrier()  # every process returns once the final status is in the catalog
    ctx.emit("status", message=status, data={"status": status, "error": error})
    return run_id


def _record_end(catalog: Catalog, run_id: int, status: str, error: str | None, seconds: float) -> None:
    """The run's final status; tried twice, then the failure is raised (the run, its owner gone, reads as
    interrupted and stays resumable)."""
    for attempt in (1, 2):
        try:
            prior = catalog.require_run(run_id).duration_s or 0.0
            catalog.update_run(
                run_id, status=status, error=error, finished_at=time.time(), duration_s=prior + seconds
            )
            return
        except Exception as exc:
            if attempt == 2:
                raise RuntimeFailure(
                    f"run {run_id} stopped ({status}) but the catalog could not record it: {exc}; it shows as "
                    f"interrupted: fix the cause (disk space?) and `synthsign resume {run_id}`"
                ) from exc
            time.sleep(1.0)


def _record_environment(ctx: RunContext, device: str) -> None:
    env = environment_record(device)
    write_atomic(ctx.run_dir / "environment.json", json.dumps(env, indent=2) + "\n")
    ctx.records.update_run(ctx.run_id, device=device, versions=env["versions"], git_commit=env["git_commit"])


def _stage_function(stage: str) -> Callable[[RunContext], None]:
    if stage == "generate":
        from synthsign_tui.engine.stages.generate import generate_stage

        return generate_stage
    if stage == "train":
        from synthsign_tui.engine.stages.train import train_stage

        return train_stage
    from synthsign_tui.engine.stages.evaluate import evaluate_stage

    return evaluate_stage


def _check_until(until: str | None) -> None:
    if until is not None and until not in STAGES:
        raise SynthSignError(f"--until {until!r}: choose one of {', '.join(STAGES)}")


def _beat(catalog: Catalog, run_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            catalog.heartbeat(run_id)
        except Exception:  # the next beat tries again
            log.exception("heartbeat failed")


def evaluate_run(
    catalog: Catalog,
    run_id: int,
    reals: dict[str, Path],
    checkpoint: str = "best",
    *,
    replace: bool = False,
    cancel: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Evaluate a finished run on more real folders ({name: dir}); stored as more (non-primary) evaluations.

    Setting `cancel` stops it between images with `Cancelled`: folders already evaluated stay recorded, the one
    being evaluated is not recorded at all.

    The run's own evaluations (`vocab.RESERVED_EVALUATIONS`) are never replaced; another existing evaluation
    of the same name and checkpoint is replaced only with `replace`. Both are checked before any work.
    """
    from synthsign_tui.engine.stages.evaluate import evaluate_more

    run = catalog.require_run(run_id)
    reserved = sorted(set(reals) & set(RESERVED_EVALUATIONS))
    if reserved:
        raise SynthSignError(
            f"--real {reserved[0]}=...: {', '.join(RESERVED_EVALUATIONS)} are run {run_id}'s own evaluations and "
            "cannot be replaced; give the folder another name, e.g. --real lisa=photos/lisa"
        )
    existing = {e.name for e in catalog.evaluations(run_id) if e.checkpoint == checkpoint}
    clash = sorted(set(reals) & existing)
    if clash and not replace:
        raise SynthSignError(
            f"run {run_id} already has an evaluation named {clash[0]!r} ({checkpoint} checkpoint): add --replace "
            "to overwrite it, or choose another name"
        )
    config = validate(run.config, f"run {run_id}'s saved config")

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled()

    return evaluate_more(catalog, run_id, run.folder, config, reals, checkpoint, on_image=check_cancel)


def predict_paths(run_dir: Path, paths: list[Path], whole_photo: str | None = None) -> list[dict[str, Any]]:
    """Predictions of a run's best checkpoint for image files and folders (see `stages.evaluate.predict_paths`)."""
    from synthsign_tui.engine.stages import evaluate

    return evaluate.predict_paths(run_dir, paths, whole_photo)
