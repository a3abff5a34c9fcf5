"""The dashboard driving the real engine at tiny size: launch from the form, cancel, resume, interrupted runs."""

import time
from pathlib import Path

import pytest
from pilot import settle, wait_until
from textual.widgets import DataTable, Input, TextArea

from synthsign_tui import engine
from synthsign_tui.app.app import SynthSignApp
from synthsign_tui.app.form_screen import FormScreen, widget_id
from synthsign_tui.app.modals import ConfirmModal
from synthsign_tui.app.run_screen import RunScreen
from synthsign_tui.catalog import Catalog
from synthsign_tui.config import preset_dict, validate

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "data.images_per_class": "4",
    "data.val_fraction": "0.25",
    "generator.height": "32",
    "generator.width": "32",
    "train.epochs": "1",
    "train.image_size": "32",
    "train.batch_size": "8",
    "evaluate.real_dir": str(ROOT / "assets" / "real"),
}


def tiny_config(name: str):
    data = preset_dict("road-signs-offline")
    data["name"] = name
    for key, value in TINY.items():
        section, leaf = key.split(".")
        data[section][leaf] = value
    data["data"]["background_images"] = 0
    data["evaluate"]["multicrop"] = "off"
    return validate(data)


def fill_tiny_form(form: FormScreen, name: str) -> None:
    """Type a tiny run into the New-run form, as a user would field by field."""
    form.query_one(f"#{widget_id('name')}", Input).value = name
    for key, value in TINY.items():
        form.query_one(f"#{widget_id(key)}", Input).value = value
    form.query_one(
        "#advanced", TextArea
    ).text = '[data]\nbackground_images = 0\n[evaluate]\nmulticrop = "off"\n'


def make_app(db: Path, **kwargs) -> SynthSignApp:
    return SynthSignApp(db, image_mode="halfblock", live_system=False, **kwargs)


def status_of(app) -> str | None:
    screen = app.screen
    return screen.run.status if isinstance(screen, RunScreen) and screen.run is not None else None


async def test_launch_from_form_reaches_done_with_results(tmp_path):
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
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen), 10)
        await wait_until(pilot, lambda: status_of(app) == "done" and not app.cancels, 240)
        await settle(app, pilot)
        screen = app.screen
        assert screen.run.error is None
        assert any(line.xs for line in screen.query_one("#acc-plot").lines)
        assert screen.query_one("#predictions", DataTable).row_count > 0
        assert screen.query_one("#confusion").content.title.startswith("Confusion matrix")
        assert screen.query_one("#thumb-0").display
    runs = Catalog(db).list_runs()
    assert [(r.name, r.status, r.epochs_done) for r in runs] == [("from-form", "done", 1)]
    assert runs[0].real_bal_acc is not None


def cancellable_config(name: str):
    """A run whose generation lasts seconds, so a cancel typed by the test lands mid-stage on any machine;
    16-pixel images keep the resumed run's training and evaluation short."""
    data = tiny_config(name).to_dict()
    data["data"]["images_per_class"] = 800
    data["generator"].update(height=16, width=16)
    data["train"].update(image_size=16, batch_size=256)
    return validate(data)


def generating(catalog: Catalog, run_id: int) -> bool:
    run = catalog.get_run(run_id)
    return run.stage == "generate" and run.progress_done > 0


async def test_cancel_leaves_resumable_run_then_resume_finishes(tmp_path):
    db = tmp_path / "runs.db"
    app = make_app(db, launch=cancellable_config("to-cancel"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.cancels, 20)
        run_id = app.screen.run_id
        catalog = Catalog(db)
        await wait_until(pilot, lambda: generating(catalog, run_id), 60)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), 10)
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.cancels and status_of(app) == "cancelled", 120)
        run = catalog.get_run(run_id)
        assert (run.status, run.stage) == ("cancelled", "generate")
        made = len(list((Path(run.run_dir) / "dataset").rglob("*.png")))
        assert 0 < made < 1600
        await pilot.press("r")
        await wait_until(pilot, lambda: status_of(app) == "done" and not app.cancels, 240)
    run = Catalog(db).get_run(run_id)
    assert run.status == "done" and run.epochs_done == 1
    assert len(list((Path(run.run_dir) / "dataset").rglob("*.png"))) == 1600


async def test_interrupted_run_resumes_from_runs_table(tmp_path):
    db = tmp_path / "runs.db"
    catalog = Catalog(db)
    run = engine.create_run(tiny_config("dropped"), catalog)
    catalog.update_run(run.id, status="running", stage="generate", heartbeat_at=time.time() - 3600)
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#runs", DataTable)
        assert str(table.get_cell(str(run.id), "status")) == "interrupted"
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen), 10)
        await wait_until(pilot, lambda: status_of(app) == "done" and not app.cancels, 240)
    assert Catalog(db).get_run(run.id).status == "done"


async def test_quit_with_a_run_in_progress_asks_and_cancels(tmp_path):
    db = tmp_path / "runs.db"
    app = make_app(db, launch=cancellable_config("quit-me"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.cancels, 20)
        run_id = app.screen.run_id
        await wait_until(pilot, lambda: generating(Catalog(db), run_id), 60)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), 10)
        assert "still in progress" in str(app.screen.query_one(".question").content)
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.cancels, 120)
    assert Catalog(db).get_run(run_id).status == "cancelled"
