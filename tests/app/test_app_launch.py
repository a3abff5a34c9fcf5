"""The form's `processes` field: a run launched as a detached two-process `accelerate launch` (CPU, gloo),
followed through the catalog, and `x` on its run screen stopping every one of its processes."""

import pytest
from pilot import fill_tiny_form, make_app, settle, status_of, wait_until
from test_app_engine import cancel_shown_run, processes_of, training
from textual.widgets import Input

from synthsign_tui.app.screens.form import FormScreen, widget_id
from synthsign_tui.catalog import Catalog

pytestmark = pytest.mark.slow


async def test_x_cancels_every_process_of_a_multi_process_launch(tmp_path):
    db = tmp_path / "runs.db"
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        fill_tiny_form(form, "two-procs")
        form.query_one(f"#{widget_id('train.epochs')}", Input).value = "300"  # long enough for x to land
        form.query_one("#processes", Input).value = "x"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, FormScreen), "a bad process count must not launch"
        form.query_one("#processes", Input).value = "2"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: training(app), 180)
        run_id = app.screen.run_id
        assert len(processes_of(db)) == 3, "a launcher and two run processes"
        await cancel_shown_run(app, pilot)
        await wait_until(pilot, lambda: status_of(app) == "cancelled", 90)
        await wait_until(pilot, lambda: not processes_of(db), 60)
        assert app.handles[run_id].launch.process.wait(10) is not None  # the launcher itself exited
    run = Catalog(db).get_run(run_id)
    assert (run.name, run.status, run.stage) == ("two-procs", "cancelled", "train")
    assert "--num_processes 2" in run.command
