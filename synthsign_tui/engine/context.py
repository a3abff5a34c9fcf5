"""What a running stage sees: its `RunContext` (config, folders, progress, cancellation, records), `Event`s for
listeners, `Cancelled`, and `Distributed` (which process this is, and the collectives every process makes).

Stages record through the context's `records` (the catalog, given by the runner) and never import the catalog.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from synthsign_tui.config import RunConfig
from synthsign_tui.errors import SynthSignError

if TYPE_CHECKING:
    from synthsign_tui.engine.records import Records

log = logging.getLogger(__name__)
T = TypeVar("T")
RATE_SMOOTHING_S = 5.0  # how long a change of speed takes to show fully in a stage's rate and ETA


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
        return cast(T, result)

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
        return cast(T, result)


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
    """What a stage gets: the config, the run folder, its records, progress reporting and cancellation."""

    def __init__(
        self,
        run_id: int,
        run_dir: Path,
        config: RunConfig,
        records: Records,
        on_event: Callable[[Event], None] | None,
        cancel: threading.Event,
        dist: Distributed,
    ):
        self.run_id = run_id
        self.config = config
        self.records = records
        self.run_dir = Path(run_dir)
        self.cancel = cancel
        self.dist = dist
        self._on_event = on_event
        self._stage_start: dict[str, tuple[float, int]] = {}
        # window start, done then, the last report's time and done, smoothed rate
        self._stage_rate: dict[str, tuple[float, int, float, int, float | None]] = {}
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
        if (
            self.dist.is_main
        ):  # a log line that cannot be kept (folder gone, disk full) must not stop the run's end
            try:
                self.records.add_log(self.run_id, message, level)
            except Exception:
                log.exception("run %s: could not record a log line in the catalog", self.run_id)
            try:
                with self._log_file.open("a") as f:
                    f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {level.upper():7} {message}\n")
            except OSError as exc:
                log.warning("run %s: could not write %s: %s", self.run_id, self._log_file, exc)
        self.emit("log", message=message, data={"level": level})

    def progress(self, stage: str, done: int, total: int, message: str = "") -> None:
        """Report `done` of `total` items of a stage, with its rate and ETA.

        The rate is measured over windows of at least half a second that end at the report before this one
        (so a batch of items finishing at the same moment never counts as a window of its own), and smoothed
        over RATE_SMOOTHING_S: a burst of photos, or a slower phase (multi-crop photos after synthetic val),
        moves the ETA gradually instead of swinging it between 0 and tens of seconds.
        """
        now = time.time()
        start, first_done = self._stage_start.setdefault(stage, (now, done))
        window_start, window_done, last_time, last_done, smooth = self._stage_rate.get(
            stage, (start, first_done, start, first_done, None)
        )
        if now > last_time and last_time - window_start >= 0.5:
            recent = (last_done - window_done) / (last_time - window_start)
            weight = 1 - math.exp(-(last_time - window_start) / RATE_SMOOTHING_S)
            smooth = recent if smooth is None else smooth + weight * (recent - smooth)
            window_start, window_done = last_time, last_done
        self._stage_rate[stage] = (window_start, window_done, now, done, smooth)
        elapsed = now - start
        rate = smooth or ((done - first_done) / elapsed if elapsed > 0 and done > first_done else None)
        eta = (total - done) / rate if rate else None
        if self.dist.is_main and (now - self._last_write > 0.5 or done >= total):
            self._last_write = now
            self.records.heartbeat(
                self.run_id, stage=stage, progress_done=done, progress_total=total, progress_rate=rate
            )  # what a viewer in another process shows as rate and ETA
        self.emit("progress", stage=stage, done=done, total=total, rate=rate, eta=eta, message=message)
