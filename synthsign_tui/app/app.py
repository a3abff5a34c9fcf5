"""The dashboard application: opens the catalog, launches, resumes and cancels runs, and routes navigation.

Every run the dashboard starts lives in its own process (`engine.handle.RunHandle`), detached from this one:
closing the dashboard, Ctrl-C or losing the terminal never stops it. Screens follow runs through the catalog
(in workers), the same way whether this dashboard, another one or the command line started them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App

from synthsign_tui.app.bindings import bindings_for
from synthsign_tui.app.messages import CatalogReady
from synthsign_tui.app.screens.modals import HelpScreen, ShowsWorkerErrors
from synthsign_tui.app.screens.runs import RunsScreen

if TYPE_CHECKING:
    from synthsign_tui.catalog import Catalog
    from synthsign_tui.config import RunConfig
    from synthsign_tui.engine.handle import RunHandle

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
        self.handles: dict[int, RunHandle] = {}  # runs launched or resumed from this dashboard
        self.sub_title = str(self.db_path)

    # ------------------------------------------------------------------ start-up

    def on_mount(self) -> None:
        self.push_screen(RunsScreen())
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

    # ------------------------------------------------------------------ runs, each in its own process

    def launch(self, config: RunConfig, processes: int = 1) -> None:
        """Start a run in its own process(es), detached: it outlives this dashboard and its terminal. The run
        screen follows it through the catalog like any other run."""
        self.notify(f"Launching {config.name!r}…", timeout=3)
        self._launch(config, processes)

    @work(thread=True, exclusive=False, group="launches", exit_on_error=False)
    def _launch(self, config: RunConfig, processes: int) -> None:
        from synthsign_tui.engine.handle import RunHandle

        assert self.catalog is not None  # opened on mount, before any key works
        handle = RunHandle.launch_new(config, self.catalog, processes=processes)
        self.call_from_thread(self._launched, handle, "launched")

    def resume(self, run_id: int) -> None:
        """Continue a stopped run in its own process(es), as `launch` starts a new one (the engine refuses a
        run that is not stopped, whoever started it; the error shows in a modal)."""
        self.notify(f"Resuming run #{run_id}…", timeout=3)
        self._resume(run_id)

    @work(thread=True, exclusive=False, group="launches", exit_on_error=False)
    def _resume(self, run_id: int) -> None:
        from synthsign_tui.engine.handle import RunHandle

        assert self.catalog is not None  # opened on mount, before any key works
        handle = RunHandle.resume(self.catalog, run_id)
        self.call_from_thread(self._launched, handle, "resumed")

    def _launched(self, handle: RunHandle, verb: str) -> None:
        from synthsign_tui.app.screens.run import RunScreen

        self.handles[handle.run_id] = handle  # written on the UI thread only
        launch = handle.launch
        assert launch is not None  # a handle that launched or resumed holds its launch
        self.notify(
            f"run #{handle.run_id} {verb} in its own process (pid {launch.process.pid}): it keeps running if you "
            f"quit or the terminal closes. Log: {launch.log_path}",
            timeout=6,
        )
        screen = self.screen
        if isinstance(screen, RunScreen) and screen.run_id == handle.run_id:
            screen.request_poll(now=True)
        else:
            self.push_screen(RunScreen(handle.run_id))

    def cancel_run(self, run_id: int) -> None:
        """Ask a run to stop cleanly after its current item, wherever it runs on this machine (`RunHandle.cancel`)."""
        self._cancel(run_id, self.handles.get(run_id))

    @work(thread=True, exclusive=False, group="cancels", exit_on_error=False)
    def _cancel(self, run_id: int, handle: RunHandle | None) -> None:
        from synthsign_tui.engine.handle import RunHandle

        assert self.catalog is not None  # opened on mount, before any key works
        handle = handle or RunHandle.attach(self.catalog, run_id)
        if handle.cancel():
            message, severity = (
                f"Cancelling run #{run_id}: it stops after its current item, resumable.",
                "information",
            )
        else:
            run = handle.run()
            status = run.display_status()
            message = (
                f"Run #{run_id} could not be reached (pid {run.pid} on {run.host}): cancel it on its machine."
                if status in ("running", "queued")
                else f"Run #{run_id} is {status}: nothing to cancel."
            )
            severity = "warning"
        self.call_from_thread(self.notify, message, severity=severity)

    def live_launches(self) -> list[int]:
        """Runs launched from this dashboard whose process still runs."""
        return sorted(
            i for i, h in self.handles.items() if h.launch is not None and h.launch.process.poll() is None
        )

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
        """Quit at once: runs live on in their own processes; the terminal is told which (and how to follow)."""
        self.exit(0, message=self.continuing_message())

    def continuing_message(self) -> str | None:
        ids = set(self.live_launches())
        for screen in self.screen_stack:
            ids.update(getattr(screen, "live_run_ids", list)())
        if not ids:
            return None
        listed = ", ".join(f"#{i}" for i in sorted(ids))
        return (
            f"Run(s) {listed} continue in their own process(es). `synthsign` follows them again; "
            f"`synthsign cancel RUN_ID` stops one."
        )
