"""The dashboard driving the real engine at tiny size: launch from the form, cancel, resume, interrupted runs."""

import threading
import time
from pathlib import Path

import pytest
from pilot import settle, wait_until
from textual.widgets import DataTable, Input, TextArea

from synthsign_tui import engine
from synthsign_tui.app.app import SynthSignApp
from synthsign_tui.app.screens.form import FormScreen, widget_id
from synthsign_tui.app.screens.modals import ConfirmModal
from synthsign_tui.app.screens.run import RunScreen
from synthsign_tui.catalog import Catalog
from synthsign_tui.config import preset_dict, validate

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "data.images_per_class": "4",
    "data.val_fraction": "0.25",
    "generator.height": "32",
    "generator.width": "32",
    "train.epochs": "1",
    "train.image_size": "32",
    "train.batch_size": "8",
    "localiser.scenes": "0",
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
        if key != "localiser.scenes":  # not a form field: in the advanced TOML below
            form.query_one(f"#{widget_id(key)}", Input).value = value
    form.query_one(
        "#advanced", TextArea
    ).text = '[data]\nbackground_images = 0\n[evaluate]\nmulticrop = "off"\n[localiser]\nscenes = 0\n'


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


class HeldGenerator:
    """Holds the procedural generator before its second image until `release` is set, so a cancel typed by the
    test lands mid-generation on a machine of any speed; the generator itself runs unchanged."""

    def __init__(self, monkeypatch):
        from synthsign_tui.engine.generators.procedural import ProceduralGenerator

        self.waiting, self.release, self.calls = threading.Event(), threading.Event(), 0
        generate = ProceduralGenerator.generate

        def held(generator, jobs):
            self.calls += 1
            if self.calls > 1 and not self.release.is_set():
                self.waiting.set()
                assert self.release.wait(60), "the test never released the generator"
            return generate(generator, jobs)

        monkeypatch.setattr(ProceduralGenerator, "generate", held)


def made_images(run) -> int:
    return len(list((Path(run.run_dir) / "dataset").rglob("*.png")))


async def test_cancel_leaves_resumable_run_then_resume_finishes(tmp_path, monkeypatch):
    held = HeldGenerator(monkeypatch)
    db = tmp_path / "runs.db"
    app = make_app(db, launch=tiny_config("to-cancel"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, held.waiting.is_set, 60)
        run_id = app.screen.run_id
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), 10)
        await pilot.press("y")
        held.release.set()
        await wait_until(pilot, lambda: not app.cancels and status_of(app) == "cancelled", 120)
        run = Catalog(db).get_run(run_id)
        assert (run.status, run.stage, made_images(run)) == ("cancelled", "generate", 2)
        await pilot.press("r")
        await wait_until(pilot, lambda: status_of(app) == "done" and not app.cancels, 240)
    run = Catalog(db).get_run(run_id)
    assert run.status == "done" and run.epochs_done == 1 and made_images(run) == 8


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


async def test_quit_with_a_run_in_progress_asks_and_cancels(tmp_path, monkeypatch):
    held = HeldGenerator(monkeypatch)
    db = tmp_path / "runs.db"
    app = make_app(db, launch=tiny_config("quit-me"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, held.waiting.is_set, 60)
        run_id = app.screen.run_id
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), 10)
        assert "still in progress" in str(app.screen.query_one(".question").content)
        await pilot.press("y")
        held.release.set()
        await wait_until(pilot, lambda: not app.cancels, 120)
    run = Catalog(db).get_run(run_id)
    assert (run.status, made_images(run)) == ("cancelled", 2)
