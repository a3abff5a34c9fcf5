"""SVG snapshots of each screen at 120x40 with fixed data, times and clock (update: pytest --snapshot-update)."""

import time
from pathlib import Path

import pytest
from fakes import T0, fake_config, real_photos, write_fake_run
from pilot import make_app
from pilot import settle as settle_app
from textual.widgets import Input

from synthsign_tui.app.app import SynthSignApp
from synthsign_tui.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]
SIZE = (120, 40)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def snapshot_app(db: Path) -> SynthSignApp:
    app = make_app(db, clock=lambda: T0 + 3600)
    app.sub_title = "runs.db"
    return app


@pytest.fixture
def db(tmp_path) -> Path:
    catalog = Catalog(tmp_path / "runs.db")
    photos = real_photos(ROOT / "assets" / "real", per_class=6)
    write_fake_run(catalog, "offline-baseline", seed=0, quality=0.7, tags=("baseline",), real_photos=photos)
    write_fake_run(
        catalog, "offline-jitter", seed=1, quality=0.9, real_photos=photos, samples_dir=tmp_path / "samples",
        start=T0 + 600, config=fake_config("offline-jitter", 1, train__lr=0.0005, train__color_jitter=0.3),
    )  # fmt: skip
    write_fake_run(catalog, "short", seed=2, status="cancelled", epochs_done=2, start=T0 + 1200)
    return tmp_path / "runs.db"


async def settle(pilot):
    await settle_app(pilot.app, pilot, idle=0.1)


def test_runs_screen(db, snap_compare):
    assert snap_compare(snapshot_app(db), terminal_size=SIZE, run_before=settle)


def test_empty_catalog_screen(tmp_path, snap_compare, monkeypatch):
    presets = {
        "road-signs-offline": "Stop vs warning signs drawn procedurally: offline, CPU, no weights",
        "road-signs-zimage": "The original notebook on Z-Image-Turbo (GPU)",
    }
    monkeypatch.setattr("synthsign_tui.config.list_presets", lambda: presets)  # the snapshot outlives presets
    facts = {
        "notes": {"road-signs-zimage": ["no NVIDIA GPU found (nvidia-smi)"]},
        "real": "assets/real (30 photos)",
    }
    monkeypatch.setattr("synthsign_tui.app.screens.runs.welcome_facts", lambda _: facts)  # not this machine's
    monkeypatch.chdir(tmp_path)  # the runs folder shows as `runs`
    assert snap_compare(snapshot_app(tmp_path / "runs.db"), terminal_size=SIZE, run_before=settle)


def test_filter_error(db, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("slash", *"real_acc>high")
        await settle(pilot)

    assert snap_compare(snapshot_app(db), terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("tab", ["training", "results", "predictions"])
def test_run_screen(db, snap_compare, tab):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down", "enter")  # offline-jitter
        await settle(pilot)
        pilot.app.screen.query_one("#run-tabs").active = f"tab-{tab}"
        await settle(pilot)

    assert snap_compare(snapshot_app(db), terminal_size=SIZE, run_before=run_before)


def test_form_with_error(db, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("N")  # the form, filled in from the selected run
        await settle(pilot)
        await pilot.press("tab", "ctrl+a", "x", "tab")  # seed "x", then leave the field
        await settle(pilot)
        for field in pilot.app.screen.query(Input):  # the blink phase depends on timing: hide the cursor
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(snapshot_app(db), terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("tab", ["config", "metrics", "curves"])
def test_compare_screen(db, snap_compare, tab):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down", "space", "space", "c")
        await settle(pilot)
        pilot.app.screen.query_one("#compare-tabs").active = f"tab-{tab}"
        await settle(pilot)

    assert snap_compare(snapshot_app(db), terminal_size=SIZE, run_before=run_before)


def test_help_overlay(db, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(snapshot_app(db), terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
@pytest.mark.parametrize("tab", ["runs", "1", "3"])
def test_small_and_large_terminals(db, snap_compare, size, tab):
    """At 80x24 the run screen keeps each stage's percentage, rate and ETA, and the predictions their columns."""

    async def run_before(pilot):
        await settle(pilot)
        if tab != "runs":
            await pilot.press("down", "enter", tab)  # offline-jitter, then a tab by its key
            await settle(pilot)

    assert snap_compare(snapshot_app(db), terminal_size=size, run_before=run_before)
