"""The run engine: the one entry point that the command line and the dashboard both drive.

`start_run` records a new run in the catalog and runs its stages (generate, train, evaluate) in order;
`resume_run` continues a cancelled, failed or interrupted one where it stopped. Progress goes to an
`on_event` callback as `Event`s; setting the `cancel` event stops the run cleanly between items, leaving it
resumable. The engine knows nothing of the UI.
"""

from __future__ import annotations

import contextlib
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
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from synthsign_tui.catalog import HEARTBEAT_SECONDS, RESUMABLE, Catalog, Run
from synthsign_tui.config import RunConfig, resolve_path, validate
from synthsign_tui.errors import SynthSignError

log = logging.getLogger(__name__)
T = TypeVar("T")

STAGES = ("generate", "train", "evaluate")
PACKAGES = (
    "synthsign-tui", "torch", "torchvision", "diffusers", "transformers", "accelerate", "textual", "sqlmodel",
    "pillow", "numpy", "scikit-learn",
)  # fmt: skip


class Cancelled(Exception):
    """Raised inside a stage when the run's cancel event is set; the run becomes `cancelled`."""


@dataclass
class Event:
    """One progress report. kind: progress, log, status, epoch, step, sample or evaluation."""

    run_id: int
    kind: str
    stage: str | None = None
    done: int = 0
    total: int = 0
    rate: float | None = None
    eta: float | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Distributed:
    """Which process this is. Single-process by default; `dist.py` fills it in under `accelerate launch`.

    Every process must make the same collective calls (barrier, broadcast, gather, and the helpers built on
    them) in the same order, or they wait for each other forever: `on_main` and `together` keep that promise
    when a step fails or is cancelled on some processes only, by raising on every process.
    """

    process_index: int = 0
    num_processes: int = 1

    @property
    def is_main(self) -> bool:
        return self.process_index == 0

    def barrier(self) -> None:
        """Wait for every process (no-op in a single process)."""

    def broadcast(self, value: Any) -> Any:
        """The main process's `value`, on every process."""
        return value

    def gather(self, items: list[Any]) -> list[Any]:
        """Every process's `items`, concatenated in process order, on every process."""
        return items

    def share(self, items: list[Any]) -> list[Any]:
        """This process's contiguous part of `items`; the parts, in process order, make up `items`."""
        return items

    def on_main(self, work: Callable[[], T]) -> T:
        """`work()` done by the main process, its result on every process; if it raised, every process raises."""
        if self.num_processes == 1:
            return work()
        result, failure = None, None
        if self.is_main:
            try:
                result = work()
            except Exception as exc:
                failure = exc
        result, report = self.broadcast((result, _failure_report(failure, 0)))
        if failure is not None:
            raise failure
        if report is not None:
            raise _reported_failure(report)
        return result

    def together(self, work: Callable[[], T], while_waiting: Callable[[], None] | None = None) -> T:
        """`work()` on every process, then wait for all; if it failed or was cancelled anywhere, every process raises.

        `while_waiting` is called about twice a second, from another thread, while this process waits for the others.
        """
        if self.num_processes == 1:
            return work()
        result, failure = None, None
        try:
            result = work()
        except Exception as exc:
            failure = exc
        stop = threading.Event()
        if while_waiting is not None:
            threading.Thread(target=_repeat, args=(while_waiting, stop), daemon=True).start()
        try:
            reports = self.gather([_failure_report(failure, self.process_index)])
        finally:
            stop.set()
        if failure is not None:
            raise failure
        for report in reports:
            if report is not None:
                raise _reported_failure(report)
        return result


def _failure_report(failure: BaseException | None, process_index: int) -> tuple[int, str, str] | None:
    """What other processes need to know of a failure: (process, kind, message)."""
    if failure is None:
        return None
    if isinstance(failure, Cancelled):
        return process_index, "cancelled", ""
    if isinstance(failure, SynthSignError):
        return process_index, "error", str(failure)
    return process_index, "crash", "".join(traceback.format_exception(failure)).strip()


def _reported_failure(report: tuple[int, str, str]) -> Exception:
    process_index, kind, message = report
    if kind == "cancelled":
        return Cancelled()
    return SynthSignError(f"process {process_index} failed: {message}")


def _repeat(action: Callable[[], None], stop: threading.Event) -> None:
    while not stop.wait(0.5):
        try:
            action()
        except Exception:  # a report must not kill the waiting
            log.exception("progress report while waiting failed")


class RunContext:
    """What a stage gets: the config, the run folder, the catalog, progress reporting and cancellation."""

    def __init__(
        self,
        run: Run,
        config: RunConfig,
        catalog: Catalog,
        on_event: Callable[[Event], None] | None,
        cancel: threading.Event,
        dist: Distributed,
    ):
        self.run_id: int = run.id
        self.config = config
        self.catalog = catalog
        self.run_dir = Path(run.run_dir)
        self.cancel = cancel
        self.dist = dist
        self._on_event = on_event
        self._stage_start: dict[str, tuple[float, int]] = {}
        self._last_write = 0.0
        self._log_file = self.run_dir / "run.log"

    @property
    def dataset_dir(self) -> Path:
        return self.run_dir / "dataset"

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def emit(self, kind: str, **fields: Any) -> None:
        if self._on_event is not None:
            try:
                self._on_event(Event(self.run_id, kind, **fields))
            except Exception:  # a broken listener must not kill the run
                log.exception("on_event listener failed")

    def log(self, message: str, level: str = "info") -> None:
        """A line in the run's log: the catalog (for the dashboard), run.log and the event stream."""
        log.log(logging.getLevelName(level.upper()), "run %s: %s", self.run_id, message)
        if self.dist.is_main:
            self.catalog.add_log(self.run_id, message, level)
            with self._log_file.open("a") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {level.upper():7} {message}\n")
        self.emit("log", message=message, data={"level": level})

    def progress(self, stage: str, done: int, total: int, message: str = "") -> None:
        """Report `done` of `total` items of a stage; rate and ETA are measured from the stage's first report."""
        now = time.time()
        start, first_done = self._stage_start.setdefault(stage, (now, done))
        elapsed = now - start
        rate = (done - first_done) / elapsed if elapsed > 0 and done > first_done else None
        eta = (total - done) / rate if rate else None
        if self.dist.is_main and (now - self._last_write > 0.5 or done >= total):
            self._last_write = now
            self.catalog.heartbeat(self.run_id, stage=stage, progress_done=done, progress_total=total)
        self.emit("progress", stage=stage, done=done, total=total, rate=rate, eta=eta, message=message)


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


def default_device() -> str:
    """cuda when torch sees a GPU, else cpu; imports torch, so call it from a worker."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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
    run_dir = Path(run.run_dir)
    run_dir.mkdir(parents=True, exist_ok=False)
    write_atomic(run_dir / "config.toml", config.to_toml())
    write_atomic(run_dir / "command.txt", (command or "") + "\n")
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
    ctx = RunContext(run, config, catalog, on_event, cancel, dist)
    last = STAGES.index(until) if until else len(STAGES) - 1
    started = time.time()
    heartbeat_stop = threading.Event()
    if dist.is_main:
        now = time.time()
        catalog.update_run(
            run_id, status="running", started_at=run.started_at or now, heartbeat_at=now, pid=os.getpid(),
            finished_at=None, error=None,
        )  # fmt: skip
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
                catalog.update_run(run_id, stage=stage, progress_done=0, progress_total=0)
            ctx.emit("status", stage=stage, message=f"stage {stage}", data={"status": "running"})
            dist.together(lambda stage=stage: _stage_function(stage)(ctx))
    except Cancelled:
        status = "cancelled"
        ctx.log("cancelled; `synthsign resume` continues it", "warning")
    except SynthSignError as exc:
        status, error = "failed", str(exc)
        ctx.log(f"failed: {exc}", "error")
    except Exception as exc:  # recorded with its traceback, the run stays resumable
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        ctx.log("failed:\n" + traceback.format_exc(), "error")
    finally:
        heartbeat_stop.set()
    if dist.is_main:
        prior = catalog.require_run(run_id).duration_s or 0.0
        catalog.update_run(
            run_id, status=status, error=error, finished_at=time.time(),
            duration_s=prior + (time.time() - started),
        )  # fmt: skip
    dist.barrier()  # every process returns once the final status is in the catalog
    ctx.emit("status", message=status, data={"status": status, "error": error})
    return run_id


def _record_environment(ctx: RunContext, device: str) -> None:
    env = environment_record(device)
    write_atomic(ctx.run_dir / "environment.json", json.dumps(env, indent=2) + "\n")
    ctx.catalog.update_run(
        ctx.run_id, device=device, versions_json=json.dumps(env["versions"]), git_commit=env["git_commit"]
    )


def _stage_function(stage: str) -> Callable[[RunContext], None]:
    if stage == "generate":
        from synthsign_tui.generate import generate_stage

        return generate_stage
    if stage == "train":
        from synthsign_tui.train import train_stage

        return train_stage
    from synthsign_tui.evaluate import evaluate_stage

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


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write to a temporary name beside `path`, then rename: never a half-written file under its final name."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(content.encode() if isinstance(content, str) else content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
