"""Helpers for driving the app under a Pilot: the app at test settings, a tiny run typed into the form, and
waiting for workers or for a condition, always within a bound."""

import time
from pathlib import Path

from textual.widgets import Input, TextArea

from synthsign_tui.app.app import SynthSignApp
from synthsign_tui.app.screens.form import FormScreen, widget_id
from synthsign_tui.app.screens.run import RunScreen
from synthsign_tui.config import RunConfig, preset_dict, validate

ROOT = Path(__file__).resolve().parents[1]
TINY_FORM = {  # a run that generates, trains and evaluates in seconds, as form fields
    "data.images_per_class": "4",
    "data.val_fraction": "0.25",
    "generator.height": "32",
    "generator.width": "32",
    "train.epochs": "1",
    "train.image_size": "32",
    "train.batch_size": "8",
    "evaluate.real_dir": str(ROOT / "assets" / "real"),
}


def make_app(db: Path, **kwargs) -> SynthSignApp:
    """The dashboard on `db` with half-block images and no live system panel, unless `kwargs` say otherwise."""
    kwargs.setdefault("image_mode", "halfblock")
    kwargs.setdefault("live_system", False)
    return SynthSignApp(db, **kwargs)


def tiny_run(name: str, **overrides: str) -> RunConfig:
    """TINY_FORM as a config, without background images, multi-crop or localiser (as `fill_tiny_form` types them);
    `overrides` as section__key="value", e.g. train__epochs="300" for a run that a cancel reaches."""
    data = preset_dict("road-signs-offline")
    data["name"] = name
    for key, value in {**TINY_FORM, **{k.replace("__", "."): v for k, v in overrides.items()}}.items():
        section, leaf = key.split(".")
        data[section][leaf] = value
    data["data"]["background_images"] = 0
    data["evaluate"]["multicrop"] = "off"
    data["localiser"]["scenes"] = 0
    return validate(data)


def fill_tiny_form(form: FormScreen, name: str) -> None:
    """Type a tiny run into the New-run form, as a user would field by field."""
    form.query_one(f"#{widget_id('name')}", Input).value = name
    for key, value in TINY_FORM.items():
        form.query_one(f"#{widget_id(key)}", Input).value = value
    form.query_one(
        "#advanced", TextArea
    ).text = '[data]\nbackground_images = 0\n[evaluate]\nmulticrop = "off"\n[localiser]\nscenes = 0\n'


def status_of(app) -> str | None:
    screen = app.screen
    return screen.run.status if isinstance(screen, RunScreen) and screen.run is not None else None


async def settle(app, pilot, idle: float = 0.0):
    """Let workers and the messages they post run out (each load may start the next), within a bound; then
    `idle` seconds more for what widgets measure on idle (DataTable column widths) before a screenshot."""
    deadline = time.monotonic() + 10
    while getattr(app, "catalog", True) is None and time.monotonic() < deadline:
        await pilot.pause(0.01)  # the app opens its catalog after the first frame
    quiet = 0
    for _ in range(50):
        await pilot.pause()
        busy = any(w.is_running for w in app.workers)
        await app.workers.wait_for_complete()
        quiet = 0 if busy else quiet + 1
        if quiet == 2:
            break
    if idle:
        await pilot.pause(idle)


async def wait_until(pilot, condition, seconds: float = 10.0):
    """Let the app run until `condition()` holds, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.1)
