"""The form's `processes` field: a run launched as a detached two-process `accelerate launch` and followed
through the catalog by the dashboard."""

import pytest
from pilot import fill_tiny_form, make_app, settle, status_of, wait_until
from textual.widgets import Input

from synthsign_tui.app.screens.form import FormScreen
from synthsign_tui.app.screens.run import RunScreen
from synthsign_tui.catalog import Catalog

pytestmark = pytest.mark.slow


async def test_form_launches_a_detached_multi_process_run(tmp_path):
    db = tmp_path / "runs.db"
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        fill_tiny_form(form, "two-procs")
        form.query_one("#processes", Input).value = "x"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, FormScreen), "a bad process count must not launch"
        form.query_one("#processes", Input).value = "2"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen), 60)
        await wait_until(pilot, lambda: status_of(app) == "done", 300)
        launch = app.launches[app.screen.run.id]
        assert launch.process.wait(60) == 0
    runs = Catalog(db).list_runs()
    assert [(r.name, r.status, r.epochs_done) for r in runs] == [("two-procs", "done", 1)]
    assert "--num_processes 2" in runs[0].command
