"""The dashboard application: opens the catalog, owns the runs executing in this process, routes their events.

Screens read the catalog themselves (in workers); the app only starts, cancels and tracks runs. Each run
executes in a thread worker through the engine; its events come back as `RunEvents` messages, at most ten
batches a second, and go to whichever screen shows that run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.worker import Worker

from synthsign_tui.app.bindings import bindings_for
from synthsign_tui.app.messages import CatalogReady, EventRelay, RunEvents, RunFinished, RunStarted
from synthsign_tui.app.screens.modals import ConfirmModal, HelpScreen, ShowsWorkerErrors
from synthsign_tui.app.screens.runs import RunsScreen

if TYPE_CHECKING:
    from synthsign_tui.catalog import Catalog
    from synthsign_tui.config import RunConfig

IMAGE_MODES = ("auto", "halfblock", "graphics")


class SynthSignApp(ShowsWorkerErrors, App[int]):
    CSS_PATH = Path(__file__).with_name("synthsign.tcss")  # absolute, so subclasses elsewhere find it
    TITLE = "SynthSign"
    BINDINGS = bindings_for("app")
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal")]  # narrow: 80x24 terminals (synthsign.tcss)

    def __init__(
        self,
        db_path: Path,
        runs_dir: Path | None = None,
        *,
        form_config: RunConfig | None = None,
        launch: RunConfig | None = None,
        image_mode: str = "auto",
        open_run: int | None = None,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 1.0,
        live_system: bool = True,
    ) -> None:
        super().__init__()
        if image_mode not in IMAGE_MODES:
            raise ValueError(f"image_mode {image_mode!r}: choose one of {', '.join(IMAGE_MODES)}")
        self.db_path = Path(db_path)
        self.runs_dir = runs_dir
        self.form_config = form_config
        self.launch_config = launch
        self.image_mode = image_mode
        self.open_run_id = open_run
        self.clock = clock
        self.poll_interval = poll_interval
        self.live_system = live_system
        self.catalog: Catalog | None = None
        self.cancels: dict[int, threading.Event] = {}
        self.launches: dict[int, Any] = {}  # run id -> dist.Launch started from the form
        self.relays: dict[int, EventRelay] = {}
        self.run_workers: list[Worker] = []
        self.sub_title = str(self.db_path)

    # ------------------------------------------------------------------ start-up

    def on_mount(self) -> None:
        self.push_screen(RunsScreen())
        self.set_interval(1 / 4, self._flush_relays)
        # the catalog (SQLModel's import and the file) is read after the first frame, not while it is drawn
        self.call_after_refresh(self.open_catalog)

    @work(thread=True, exclusive=True, group="catalog", exit_on_error=False)
    def open_catalog(self) -> None:
        from synthsign_tui.catalog import Catalog

        catalog = Catalog(self.db_path, self.runs_dir)
        interrupted = catalog.mark_interrupted()
        if self.open_run_id is not None:
            import synthsign_tui.app.screens.run  # noqa: F401  (its imports, here rather than on the UI thread)
        self.post_message(CatalogReady(catalog, interrupted))

    def on_catalog_ready(self, message: CatalogReady) -> None:
        self.catalog = message.catalog
        for screen in self.screen_stack:
            if isinstance(screen, RunsScreen):
                screen.catalog_ready(hidden=self.open_run_id is not None)
        if self.open_run_id is not None:
            self.open_run(self.open_run_id)
        if message.interrupted:
            ids = ", ".join(f"#{i}" for i in message.interrupted)
            self.notify(f"Run(s) {ids} stopped with their process: now interrupted; `r` resumes.", timeout=8)
        if self.form_config is not None:
            self.open_form(self.form_config.to_dict())
        if self.launch_config is not None:
            self.launch(self.launch_config)

    # ------------------------------------------------------------------ runs in this process

    def launch(self, config: RunConfig) -> None:
        self.run_workers.append(self._execute(config, None))

    def launch_processes(self, config: RunConfig, processes: int) -> None:
        """Start the run as a detached `accelerate launch` of `processes` processes; follow it in the catalog."""
        self._launch_detached(config, processes)

    @work(thread=True, exclusive=False, group="launches", exit_on_error=False)
    def _launch_detached(self, config: RunConfig, processes: int) -> None:
        import torch

        from synthsign_tui.engine import processes as dist

        devices = "cuda" if torch.cuda.is_available() else "cpu"
        assert self.catalog is not None  # opened on mount, before any key works
        launch = dist.launch_detached(config, self.catalog, processes, devices)
        self.launches[launch.run_id] = launch
        self.call_from_thread(
            self.notify, f"run #{launch.run_id}: {processes} processes on {devices}, log {launch.log_path}"
        )
        self.call_from_thread(self.open_run, launch.run_id)

    def resume(self, run_id: int) -> None:
        if run_id in self.cancels:
            self.notify(f"run #{run_id} is already running here", severity="warning")
            return
        self.run_workers.append(self._execute(None, run_id))

    @work(thread=True, exclusive=False, group="runs", exit_on_error=False)
    def _execute(self, config: RunConfig | None, run_id: int | None) -> None:
        from synthsign_tui import engine

        cancel = threading.Event()
        assert self.catalog is not None  # opened on mount, before any key works
        if config is not None:
            run_id = engine.create_run(config, self.catalog, command="synthsign (dashboard)").id
        assert run_id is not None  # given, or just created
        relay = EventRelay(self, run_id)
        self.cancels[run_id] = cancel
        self.relays[run_id] = relay
        self.post_message(RunStarted(run_id, resumed=config is None))
        try:
            if config is not None:
                engine.execute(run_id, self.catalog, on_event=relay, cancel=cancel)
            else:
                engine.resume_run(run_id, self.catalog, on_event=relay, cancel=cancel)
        finally:
            self.cancels.pop(run_id, None)
            self.relays.pop(run_id, None)
            relay.flush()
            self.post_message(RunFinished(run_id))

    def cancel_run(self, run_id: int) -> bool:
        """Ask a run of this process to stop at its next item; False when it is not running here."""
        launch = self.launches.get(run_id)
        if launch is not None and launch.process.poll() is None:
            from synthsign_tui.engine.processes import stop_launch

            stop_launch(launch.process)  # every process cancels cleanly; resumable
            return True
        cancel = self.cancels.get(run_id)
        if cancel is None:
            return False
        cancel.set()
        return True

    def _flush_relays(self) -> None:
        for relay in list(self.relays.values()):
            relay.flush()

    def on_run_started(self, message: RunStarted) -> None:
        from synthsign_tui.app.screens.run import RunScreen

        screen = self.screen
        if isinstance(screen, RunScreen) and screen.run_id == message.run_id:
            screen.request_poll()
        else:
            self.push_screen(RunScreen(message.run_id))
        self._tell_screens(message)

    def on_run_events(self, message: RunEvents) -> None:
        self._tell_screens(message)

    def on_run_finished(self, message: RunFinished) -> None:
        self._tell_screens(message)

    def _tell_screens(self, message: Any) -> None:
        for screen in self.screen_stack:
            handler = getattr(screen, "on_run_message", None)
            if handler is not None:
                handler(message)

    # ------------------------------------------------------------------ navigation shared by screens

    def open_form(self, config: dict[str, Any] | None = None) -> None:
        from synthsign_tui.app.screens.form import FormScreen

        self.push_screen(FormScreen(config))

    def open_run(self, run_id: int) -> None:
        from synthsign_tui.app.screens.run import RunScreen

        self.push_screen(RunScreen(run_id))

    def open_compare(self, run_ids: list[int]) -> None:
        from synthsign_tui.app.screens.compare import CompareScreen

        self.push_screen(CompareScreen(run_ids))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        if not self.cancels:
            self.exit(0)
            return
        ids = ", ".join(f"#{i}" for i in self.cancels)

        def answer(yes: bool | None) -> None:
            if yes:
                self._cancel_all_and_exit()

        self.push_screen(
            ConfirmModal(
                f"Run {ids} is still in progress.\n\nCancel it cleanly and quit? It stays resumable (`r`).",
                yes="Cancel run and quit",
                no="Keep running",
            ),
            answer,
        )

    @work(exclusive=True, group="quit")
    async def _cancel_all_and_exit(self) -> None:
        self.notify("Cancelling: the run stops after its current item…")
        for cancel in list(self.cancels.values()):
            cancel.set()
        for worker in list(self.run_workers):
            if worker.is_running:
                with contextlib.suppress(Exception):  # a failed run is recorded in the catalog
                    await worker.wait()
        self.exit(0)

    def on_unmount(self) -> None:
        # thread workers outlive the app unless told to stop: a run left here becomes cancelled, resumable
        for cancel in list(self.cancels.values()):
            cancel.set()
