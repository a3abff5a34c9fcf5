"""The dashboard under a Pilot, on a real catalog file with runs written through the Catalog API."""

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakes import fake_config, real_photos, write_fake_run
from pilot import make_app, settle, wait_until
from rich.console import Console
from textual.widgets import DataTable, Input, Static

from synthsign_tui.app.screens.compare import CompareScreen
from synthsign_tui.app.screens.form import FormScreen, widget_id
from synthsign_tui.app.screens.run import RunScreen
from synthsign_tui.app.widgets.images import preview
from synthsign_tui.catalog import Catalog
from synthsign_tui.config import preset_dict, validate

ROOT = Path(__file__).resolve().parents[2]
SIZE = (120, 40)


def text(widget) -> str:
    """What a Static shows, as plain text (also for rich tables)."""
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


@pytest.fixture
def db(tmp_path) -> Path:
    catalog = Catalog(tmp_path / "runs.db")
    photos = real_photos(ROOT / "assets" / "real", per_class=4)
    write_fake_run(catalog, "alpha", seed=0, quality=0.9, tags=("baseline",), real_photos=photos)
    write_fake_run(catalog, "beta", seed=1, quality=0.4, real_photos=photos, samples_dir=tmp_path / "samples")
    write_fake_run(
        catalog,
        "gamma",
        seed=2,
        status="cancelled",
        epochs_done=2,
        config=fake_config("gamma", 2, train__lr=0.05),
    )
    return tmp_path / "runs.db"


def table_names(app) -> list[str]:
    table = app.screen.query_one("#runs", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def test_empty_catalog_guides_a_first_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached ImageNet weights, on any machine
    app = make_app(tmp_path / "runs.db")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        welcome = screen.query_one("#welcome", Static)
        await wait_until(pilot, lambda: "checking" not in text(welcome))
        shown = text(welcome)
        assert shown.index("1  road-signs-quick") < shown.index("2  road-signs-offline")
        assert "✓ ready here" in shown and "ImageNet ResNet18 weights are not cached" in shown
        assert str(tmp_path / "runs") in shown and "assets/real (30 photos)" in shown
        # nothing to open, mark, filter or delete yet: those keys leave the footer and do nothing
        assert not screen.query_one("#filter-bar").display
        footer_actions = {b.action for _, b, enabled, *_ in screen.active_bindings.values() if enabled}
        assert {"new_run", "preset_form(1)"} <= footer_actions and not footer_actions & {"filter", "delete"}
        await pilot.press("slash", "d")
        assert app.screen is screen and not isinstance(app.focused, Input)
        await pilot.press("1")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        quick = preset_dict("road-signs-quick")
        data, _ = form.form_data()
        assert validate(data).data.images_per_class == quick["data"]["images_per_class"]
        assert data["preset"] == "road-signs-quick"
        await pilot.press("escape")
        await settle(app, pilot)
        Catalog(tmp_path / "runs.db").create_run(fake_config("first", 1))
        await wait_until(
            pilot, lambda: screen.table.display, 10
        )  # the run appears: the table replaces the guide
        assert not screen.query_one("#welcome-box").display and screen.query_one("#filter-bar").display


def test_readiness_notes_name_what_is_missing(tmp_path, monkeypatch):
    from synthsign_tui.config import load_config
    from synthsign_tui.engine import readiness
    from synthsign_tui.engine.model.classifier import imagenet_weights_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))  # an empty cache
    assert (
        readiness.torch_hub_dir() / "checkpoints" / readiness.RESNET18_IMAGENET_FILE
        == imagenet_weights_file()
    )
    assert readiness.notes(load_config(preset="road-signs-offline")) == []
    zimage = load_config(preset="road-signs-zimage")
    notes = readiness.notes(zimage)
    assert any("Tongyi-MAI/Z-Image-Turbo is not in the Hugging Face cache" in n for n in notes)
    assert any("ImageNet" in n for n in notes)
    folder = tmp_path / "pipe"
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")
    weights = imagenet_weights_file()
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"")
    local = load_config(
        preset="road-signs-zimage", overrides=[f"generator.model={folder}", "generator.device=cpu"]
    )
    assert readiness.notes(local) == []


def test_welcome_facts_import_no_torch(tmp_path):
    """The guide's facts come from a worker in the dashboard's process: counting photos must not load torch."""
    import subprocess
    import sys

    from torchvision.datasets.folder import IMG_EXTENSIONS

    from synthsign_tui.files import IMAGE_EXTENSIONS

    assert IMAGE_EXTENSIONS == IMG_EXTENSIONS
    code = (
        "import sys\n"
        "from synthsign_tui.app.screens.runs import welcome_facts, welcome_presets\n"
        "facts = welcome_facts(welcome_presets())\n"
        "assert 'photos' in facts['real'], facts\n"
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


async def test_runs_table_filter_sort_and_remembered(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert table_names(app) == ["gamma", "beta", "alpha"]
        assert "3 of 3 runs" in text(app.screen.query_one("#match-count", Static))
        await pilot.press("slash", *"tag:baseline")
        await settle(app, pilot)
        assert table_names(app) == ["alpha"]
        assert "1 of 3 runs" in text(app.screen.query_one("#match-count", Static))
        # a bad filter is an inline message, and the table keeps its rows
        app.screen.query_one("#filter", Input).value = "real_acc>lots"
        await settle(app, pilot)
        error = app.screen.query_one("#filter-error", Static)
        assert error.display and "takes a number" in text(error)
        assert table_names(app) == ["alpha"]
        app.screen.query_one("#filter", Input).value = "status:done"
        await settle(app, pilot)
        assert not error.display
        assert table_names(app) == ["beta", "alpha"]
        await pilot.press("enter")  # back to the table
        # click the "name" header: sort by name (ascending), click again: descending
        await pilot.click("#runs", offset=(6, 0))
        await settle(app, pilot)
        assert table_names(app) == ["alpha", "beta"]
        await pilot.press("S")
        await settle(app, pilot)
        assert table_names(app) == ["beta", "alpha"]
    # filter and sort are remembered in the catalog
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.screen.query_one("#filter", Input).value == "status:done"
        assert table_names(app) == ["beta", "alpha"]


async def test_finished_run_screen_shows_plots_predictions_confusion(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("down", "enter")  # beta
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.run.name == "beta"
        loss = screen.query_one("#loss-plot")
        assert [len(line.xs) for line in loss.lines] == [
            72,
            6,
            7,
        ]  # steps, train per epoch, val incl. epoch 0
        assert screen.query_one("#predictions", DataTable).row_count == 8
        assert "Confusion matrix" in text(screen.query_one("#confusion", Static))
        assert screen.query_one("#thumb-0").display
        thumbnail = screen.query_one(
            "#thumb-image-0"
        ).image  # decoded by a worker, handed over as a PIL image
        assert thumbnail is not None and thumbnail.size == (64, 64)
        screen.query_one("#run-tabs").active = "tab-predictions"
        await settle(app, pilot)
        screen.query_one("#predictions", DataTable).focus()  # past the tab's filter box
        await pilot.press("down")
        await settle(app, pilot)
        assert "predicted" in text(screen.query_one("#preview-probs", Static))
        shown = screen.prediction_rows[screen.query_one("#predictions", DataTable).cursor_row].path
        assert screen.query_one("#preview-image").image.size == preview(shown).size
        await pilot.press("l")
        assert screen.query_one("#loss-plot").log_y
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, RunScreen)


async def open_new_form(app, pilot) -> FormScreen:
    await settle(app, pilot)
    await pilot.press("n")
    await settle(app, pilot)
    assert isinstance(app.screen, FormScreen)
    return app.screen


async def type_and_leave(form: FormScreen, pilot, key: str, value: str) -> Static:
    """Type `value` into the field of config `key`, leave it, and return the field's error line."""
    field = form.query_one(f"#{widget_id(key)}", Input)
    field.focus()
    field.value = value
    await pilot.press("tab")  # leave the field: its error appears beside it
    await settle(form.app, pilot)
    return form.query_one(f"#err-{widget_id(key)}", Static)


async def test_form_shows_field_error_and_refuses_launch(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_form(app, pilot)
        error = await type_and_leave(form, pilot, "train.epochs", "0")
        assert error.display and "greater than or equal to 1" in text(error)
        assert form.query_one("#launch").disabled
        epochs = form.query_one(f"#{widget_id('train.epochs')}", Input)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form
        assert len(Catalog(db).list_runs(include_archived=True)) == 3
        # a class without designs is reported on the class rows
        form.query_one("#class-1-draw", Input).value = ""
        epochs.value = "2"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "designs" in text(form.query_one("#err-classes", Static))
        assert app.screen is form


async def test_form_recipe_fields_reach_the_config(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_form(app, pilot)
        values = {"train.label_smoothing": "0.05", "train.ema": "0.99", "train.color_jitter": "0.2"}
        for key, value in values.items():
            form.query_one(f"#{widget_id(key)}", Input).value = value
        await settle(app, pilot)
        data, error = form.form_data()
        assert error is None
        train = validate(data).train
        assert (train.label_smoothing, train.ema, train.color_jitter) == (0.05, 0.99, 0.2)
        error = await type_and_leave(form, pilot, "train.ema", "1.5")
        assert "less than 1" in text(error)
        assert form.query_one("#launch").disabled


async def test_compare_shows_differing_keys(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("c")  # nothing marked: a hint, no screen
        assert not isinstance(app.screen, CompareScreen)
        await pilot.press("space", "space")
        await pilot.press("c")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        table = screen.query_one("#config-diff", DataTable)
        keys = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert "train.lr" in keys and "name" in keys and "seed" in keys
        assert "train.batch_size" not in keys
        await pilot.press("k")
        await settle(app, pilot)
        assert table.row_count > len(keys)
        assert "★" in text(screen.query_one("#headline", Static))
        assert not screen.query_one("#compare-loss").log_y
        await pilot.press("l")  # the loss curves on a log scale, redrawn by the reactive's watcher
        assert screen.query_one("#compare-loss").log_y


WRITER = textwrap.dedent(
    """
    import sys, time
    from synthsign_tui.catalog import Catalog
    from fakes import fake_config
    catalog = Catalog(sys.argv[1])
    if sys.argv[2] == "create":
        run = catalog.create_run(fake_config("external", 7))
        catalog.update_run(run.id, status="running", stage="train", started_at=time.time(), heartbeat_at=time.time())
        print(run.id)
    else:
        run_id = int(sys.argv[3])
        catalog.add_epoch(run_id, 1, train_loss=0.5, val_loss=0.4, val_acc=0.77, train_acc=0.7)
        catalog.update_run(run_id, status="done", stage="evaluate", duration_s=12.0)  # as the engine ends
    """
)


HELPERS_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}  # the writer imports the test fakes


async def test_run_written_by_another_process_appears_and_updates(db):
    app = make_app(db, poll_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        out = subprocess.run(
            [sys.executable, "-c", WRITER, str(db), "create"],
            capture_output=True,
            text=True,
            check=True,
            env=HELPERS_ENV,
        )
        run_id = out.stdout.strip()
        table = app.screen.query_one("#runs", DataTable)
        await wait_until(pilot, lambda: run_id in [k.value for k in table.rows])
        assert str(table.get_cell(run_id, "status")) == "running"
        subprocess.run([sys.executable, "-c", WRITER, str(db), "update", run_id], check=True, env=HELPERS_ENV)
        await wait_until(pilot, lambda: str(table.get_cell(run_id, "status")) == "done")
        assert str(table.get_cell(run_id, "val_acc")) == "77.0%"


async def test_stale_running_run_shows_interrupted(db):
    catalog = Catalog(db)
    run = catalog.create_run(fake_config("dropped", 3))
    catalog.update_run(run.id, status="running", heartbeat_at=time.time() - 3600)
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#runs", DataTable)
        assert str(table.get_cell(str(run.id), "status")) == "interrupted"
    assert Catalog(db).get_run(run.id).status == "interrupted"


async def test_tags_archive_delete_and_help(db, tmp_path):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("t")
        await settle(app, pilot)
        app.screen.query_one("#tags", Input).value = "keep, best"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert Catalog(db).list_runs()[0].tag_list == ["best", "keep"]
        await pilot.press("a")  # archive gamma
        await settle(app, pilot)
        assert table_names(app) == ["beta", "alpha"]
        await pilot.press("d")  # delete beta, after confirming
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert table_names(app) == ["alpha"]
        assert [r.name for r in Catalog(db).list_runs(include_archived=True)] == ["gamma", "alpha"]
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert "Compare" in text(app.screen.query_one(".help-dialog VerticalScroll Static"))
        await pilot.press("escape")
        await pilot.press("e")
        await settle(app, pilot)
        app.screen.query_one("#path", Input).value = str(tmp_path / "runs.json")
        await pilot.click("#export")
        await settle(app, pilot)
        assert '"name": "alpha"' in (tmp_path / "runs.json").read_text()


async def test_clone_reads_the_run_in_a_worker_and_opens_the_form_filled_in(db):
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        selected = table_names(app)[0]
        await pilot.press("N")
        await settle(app, pilot)
        assert isinstance(app.screen, FormScreen)
        assert app.screen.query_one(f"#{widget_id('name')}", Input).value == f"{selected}-2"


async def test_form_validates_once_typing_pauses_not_on_every_key(db):
    from synthsign_tui.app.screens.form import VALIDATE_AFTER_S

    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_form(app, pilot)
        error = await type_and_leave(form, pilot, "train.epochs", "0")
        assert error.display and "greater than or equal to 1" in text(error)
        field = form.query_one(f"#{widget_id('train.epochs')}", Input)
        field.focus()
        await pilot.press("backspace", "3")  # a valid value, typed without leaving the field
        await pilot.pause()
        assert "train.epochs" in form.errors and error.display  # not validated yet, mid-typing
        await pilot.pause(VALIDATE_AFTER_S + 0.2)
        assert "train.epochs" not in form.errors and not error.display


async def test_run_screen_draws_the_chosen_box_on_the_photo_and_lists_it(tmp_path):
    from PIL import Image

    from synthsign_tui.app.widgets.images import CHOSEN_BOX, OTHER_BOX

    catalog = Catalog(tmp_path / "runs.db")
    run_id = write_fake_run(catalog, "boxes", seed=0, quality=0.9)
    photo = tmp_path / "street.png"
    Image.new("RGB", (240, 160), (90, 110, 90)).save(photo)
    boxes = [{"bbox": [60.0, 40.0, 50.0, 40.0], "score": 0.8, "predicted": "stop", "chosen": True},
             {"bbox": [180.0, 100.0, 30.0, 30.0], "score": 0.2, "predicted": "warning", "chosen": False}]  # fmt: skip
    catalog.add_evaluation(
        run_id,
        {"name": "street", "checkpoint": "best", "path": str(tmp_path), "mode": "whole-photo+flip", "accuracy": 1.0,
         "balanced_accuracy": 1.0, "classes": ["stop", "warning"], "n_images": 1},
        [{"path": str(photo), "label": "stop", "predicted": "stop", "confidence": 0.9,
          "probabilities": {"stop": 0.9, "warning": 0.1}, "boxes": boxes}],
    )  # fmt: skip
    app = make_app(tmp_path / "runs.db")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        screen.query_one("#run-tabs").active = "tab-predictions"
        await settle(app, pilot)
        table = screen.query_one("#predictions", DataTable)
        row = next(i for i, p in enumerate(screen.prediction_rows) if p.path == str(photo))
        assert str(table.get_row_at(row)[4]) == "60,40 50x40"
        table.focus()
        table.move_cursor(row=row)
        await settle(app, pilot)
        shown = screen.query_one("#preview-image").image
        assert isinstance(shown, Image.Image) and shown.size == (240, 160)
        assert shown.getpixel((60, 60)) == CHOSEN_BOX and shown.getpixel((85, 40)) == CHOSEN_BOX  # its edges
        assert shown.getpixel((85, 60)) == (90, 110, 90)  # the inside is the photo
        assert shown.getpixel((180, 115)) == OTHER_BOX
        assert "box 60,40 50x40" in text(screen.query_one("#preview-probs", Static))
