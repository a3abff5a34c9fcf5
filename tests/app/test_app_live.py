"""Live runs as the catalog records them, whoever runs them: the list and the run screen apply one liveness
rule (a run whose process is gone reads `interrupted` at once), elapsed time moves, rate and ETA come from the
run's own progress records."""

import os
import socket
import subprocess
import time

from fakes import fake_config
from pilot import settle, wait_until
from textual.widgets import DataTable

from synthsign_tui.app.app import SynthSignApp
from synthsign_tui.app.screens.run import RunScreen
from synthsign_tui.catalog import Catalog

SIZE = (140, 40)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_app(db, clock) -> SynthSignApp:
    return SynthSignApp(db, image_mode="halfblock", live_system=False, clock=clock, poll_interval=0.1)


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def running_run(catalog: Catalog, name: str, pid: int, now: float, **fields):
    run = catalog.create_run(fake_config(name))
    return catalog.update_run(
        run.id,
        status="running",
        stage="generate",
        started_at=now - 5,
        heartbeat_at=now,
        pid=pid,
        owner_host=socket.gethostname(),
        **fields,
    )


async def test_killed_run_reads_interrupted_at_once_and_elapsed_time_moves(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    now = time.time()
    killed = running_run(catalog, "killed", dead_pid(), now)
    live = running_run(catalog, "live", os.getpid(), now)
    clock = Clock(now)
    app = make_app(catalog.path, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#runs", DataTable)
        assert str(table.get_cell(str(killed.id), "status")) == "interrupted"  # heartbeat fresh, process gone
        assert str(table.get_cell(str(live.id), "status")) == "running"
        assert str(table.get_cell(str(live.id), "duration")) == "5s"
        clock.now += 20  # nothing new written: the list still counts the time
        await wait_until(pilot, lambda: str(table.get_cell(str(live.id), "duration")) == "25s", 5)
        assert app.screen.live_run_ids() == [live.id]
        app.open_run(killed.id)
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None, 5)
        assert "interrupted" in str(app.screen.query_one("#run-title").content)


async def test_rate_and_eta_come_from_the_runs_progress_record(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    now = time.time()
    run = running_run(
        catalog, "elsewhere", os.getpid(), now, progress_done=50, progress_total=100, progress_rate=10.0
    )
    clock = Clock(now + 1)
    app = make_app(catalog.path, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_run(run.id)

        def screen_detail() -> str:
            found = app.screen.query("#detail-generate") if isinstance(app.screen, RunScreen) else []
            return str(found[0].content) if found else ""

        await wait_until(pilot, lambda: "img/s" in screen_detail(), 5)
        assert screen_detail() == "50/100 · 10.0 img/s · ETA 4s"  # 5 s at 10/s, recorded 1 s ago
        clock.now += 2
        await wait_until(pilot, lambda: screen_detail().endswith("ETA 2s"), 5)
