"""The dashboard driving the real engine at tiny size: runs launched from the form, each in its own process,
followed through the catalog; cancel, resume, interrupted runs, and runs that outlive the dashboard."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pilot import fill_tiny_form, make_app, settle, status_of, tiny_run, wait_until
from textual.widgets import DataTable

from synthsign_tui import engine
from synthsign_tui.app.screens.form import FormScreen
from synthsign_tui.app.screens.modals import ConfirmModal
from synthsign_tui.app.screens.run import RunScreen
from synthsign_tui.catalog import Catalog
from synthsign_tui.engine.handle import RunHandle

pytestmark = pytest.mark.slow


def training(app) -> bool:
    """The shown run is in its training stage (cancel lands mid-stage, however fast the machine)."""
    screen = app.screen
    return (
        isinstance(screen, RunScreen)
        and screen.run is not None
        and (screen.run.status, screen.run.stage) == ("running", "train")
    )


def processes_of(db: Path) -> list[int]:
    """Pids of this machine's processes started on catalog `db` (a launcher and the run's processes)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_bytes().rsplit(b")", 1)[-1].split()[0]
            except OSError:
                continue
            if str(db).encode() in cmdline and state != b"Z":
                pids.append(int(entry.name))
    return pids


async def cancel_shown_run(app, pilot) -> None:
    await pilot.press("x")
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), 10)
    await pilot.press("y")


async def test_launch_from_form_runs_in_its_own_process_to_done(tmp_path):
    db = tmp_path / "runs.db"
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        fill_tiny_form(form, "from-form")
        await pilot.press("ctrl+s")
        assert any("Launching" in n.message for n in app._notifications), "no sign of launching after ctrl+s"
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen), 10)
        await wait_until(pilot, lambda: status_of(app) == "done", 240)
        await settle(app, pilot)
        screen = app.screen
        assert screen.run.error is None
        assert screen.run.pid not in (None, os.getpid()), "the run must execute in its own process"
        assert any(line.xs for line in screen.query_one("#acc-plot").lines)
        assert screen.query_one("#predictions", DataTable).row_count > 0
        assert screen.query_one("#confusion").content.title.startswith("Confusion matrix")
        assert screen.query_one("#thumb-0").display
    runs = Catalog(db).list_runs()
    assert [(r.name, r.status, r.epochs_done) for r in runs] == [("from-form", "done", 1)]
    assert runs[0].real_bal_acc is not None


async def test_form_launched_run_outlives_the_dashboard(tmp_path, capsys):
    db = tmp_path / "runs.db"
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await settle(app, pilot)
        fill_tiny_form(app.screen, "outlives")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None, 10)
        run_id = app.screen.run_id
        await pilot.press("q")
        await wait_until(pilot, lambda: app._exit, 5)
    assert f"#{run_id} continue" in capsys.readouterr().err, "quitting must say which runs continue"
    handle = RunHandle.attach(Catalog(db), run_id)
    assert handle.join(240), "the run stopped with the dashboard, or never finished"
    run = Catalog(db).get_run(run_id)
    assert (run.status, run.epochs_done, run.error) == ("done", 1, None)


async def test_cancel_in_its_process_leaves_resumable_run_and_resume_runs_again(tmp_path):
    db = tmp_path / "runs.db"
    app = make_app(db, launch=tiny_run("to-cancel", train__epochs="300"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: training(app), 120)
        run_id = app.screen.run_id
        await cancel_shown_run(app, pilot)
        await wait_until(pilot, lambda: status_of(app) == "cancelled", 60)
        await wait_until(pilot, lambda: not processes_of(db), 30)
        run = Catalog(db).get_run(run_id)
        assert (run.status, run.stage, made_images(run)) == ("cancelled", "train", 8)
        await pilot.press("r")
        await wait_until(pilot, lambda: training(app), 120)
        await cancel_shown_run(app, pilot)
        await wait_until(pilot, lambda: status_of(app) == "cancelled" and not processes_of(db), 60)
    assert "resumed" in " ".join(line.message for line in Catalog(db).logs(run_id))


async def test_x_cancels_a_headless_run_started_in_a_terminal(tmp_path):
    db = tmp_path / "runs.db"
    config = tmp_path / "run.toml"
    config.write_text(tiny_run("headless", train__epochs="300").to_toml())
    shell = subprocess.Popen(
        [sys.executable, "-m", "synthsign_tui", "--db", str(db), "run", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while (run := Catalog(db).get_run(1)) is None or run.stage != "train":
            assert time.monotonic() < deadline and shell.poll() is None, "the headless run never trained"
            time.sleep(0.5)
        app = make_app(db)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await pilot.press("enter")
            await wait_until(pilot, lambda: training(app), 10)
            await wait_until(
                pilot,
                lambda: {"step/s", "ETA"} <= set(str(app.screen.query_one("#detail-train").content).split()),
                40,
            )
            await cancel_shown_run(app, pilot)
            await wait_until(pilot, lambda: status_of(app) == "cancelled", 60)
        assert shell.wait(30) == 143  # cancelled by SIGTERM: 128 + 15
    finally:
        if shell.poll() is None:
            shell.kill()


async def test_interrupted_run_resumes_from_runs_table(tmp_path):
    db = tmp_path / "runs.db"
    catalog = Catalog(db)
    run = engine.create_run(tiny_run("dropped"), catalog)
    catalog.update_run(run.id, status="running", stage="generate", heartbeat_at=time.time() - 3600)
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#runs", DataTable)
        assert str(table.get_cell(str(run.id), "status")) == "interrupted"
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen), 10)
        await wait_until(pilot, lambda: status_of(app) == "done", 240)
    assert Catalog(db).get_run(run.id).status == "done"


def made_images(run) -> int:
    return len(list((Path(run.run_dir) / "dataset").rglob("*.png")))
