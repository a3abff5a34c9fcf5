"""Getting around: `open_run` starts on a run's screen, keys 1-4 switch tabs, the help lists them, images."""

from pathlib import Path

from fakes import T0, fake_config, real_photos, write_fake_run
from pilot import settle
from textual.widgets import TabbedContent

from synthsign_tui.app import resolve_image_mode
from synthsign_tui.app.app import SynthSignApp
from synthsign_tui.app.bindings import help_rows
from synthsign_tui.app.screens.compare import CompareScreen
from synthsign_tui.app.screens.run import RunScreen
from synthsign_tui.app.screens.runs import RunsScreen
from synthsign_tui.app.widgets.halfblock import HalfblockImage
from synthsign_tui.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]
SIZE = (120, 40)


def make_db(tmp_path: Path) -> tuple[Path, list[int]]:
    catalog = Catalog(tmp_path / "runs.db")
    photos = real_photos(ROOT / "assets" / "real", per_class=2)
    ids = [
        write_fake_run(catalog, "alpha", seed=0, real_photos=photos, samples_dir=tmp_path / "samples"),
        write_fake_run(catalog, "beta", seed=1, start=T0 + 600),
    ]
    return tmp_path / "runs.db", ids


async def test_open_run_starts_on_that_run_and_digits_switch_tabs(tmp_path):
    db, ids = make_db(tmp_path)
    app = SynthSignApp(db, image_mode="halfblock", live_system=False, open_run=ids[0])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.run_id == ids[0]
        assert screen.run is not None and screen.run.name == "alpha"
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "tab-training"
        for key, pane in (
            ("2", "tab-results"),
            ("3", "tab-predictions"),
            ("4", "tab-log"),
            ("1", "tab-training"),
        ):
            await pilot.press(key)
            assert tabs.active == pane
        await pilot.press("9")  # no ninth tab: nothing changes
        assert tabs.active == "tab-training"
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, RunsScreen)


async def test_compare_tabs_follow_digits(tmp_path):
    db, ids = make_db(tmp_path)
    app = SynthSignApp(db, image_mode="halfblock", live_system=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_compare(ids)
        await settle(app, pilot)
        assert isinstance(app.screen, CompareScreen)
        tabs = app.screen.query_one(TabbedContent)
        await pilot.press("3")
        assert tabs.active == "tab-curves"
        await pilot.press("2")
        assert tabs.active == "tab-metrics"


async def test_runs_screen_keeps_polling_only_while_shown(tmp_path):
    db, ids = make_db(tmp_path)
    app = SynthSignApp(db, image_mode="halfblock", live_system=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen) and runs._poll_timer is not None
        app.open_run(ids[0])
        await settle(app, pilot)
        assert runs._poll_timer._active.is_set() is False  # paused behind the run screen
        await pilot.press("escape")
        await settle(app, pilot)
        assert runs._poll_timer._active.is_set() is True


def test_help_lists_the_tab_keys():
    rows = help_rows()
    assert ("Run screen", "1-4", "Tab: Training, Results, Predictions, Log") in rows
    assert ("Compare", "1-3", "Tab: Config, Metrics, Curves") in rows
    assert not any(
        key in ("1", "2", "3", "4") for where, key, _ in rows if where in ("Run screen", "Compare")
    )


def test_image_mode_auto_is_halfblock_inside_tmux():
    assert (
        resolve_image_mode("auto", {"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "tmux-256color"})
        == "halfblock"
    )
    assert resolve_image_mode("auto", {"TERM": "screen-256color"}) == "halfblock"
    assert resolve_image_mode("auto", {"TERM": "xterm-kitty"}) == "auto"
    assert resolve_image_mode("graphics", {"TMUX": "x"}) == "graphics"


async def test_halfblock_image_draws_the_file(tmp_path):
    from PIL import Image
    from textual.app import App

    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "red.png")

    class One(App):
        def compose(self):
            yield HalfblockImage(str(tmp_path / "red.png"), id="img")

    app = One()
    async with app.run_test(size=(30, 10)) as pilot:
        await pilot.pause()
        widget = app.query_one(HalfblockImage)
        line = widget.render_line(3)
        styles = {seg.style.color.triplet for seg in line if seg.text == "▀"}
        assert (255, 0, 0) in {tuple(t) for t in styles if t is not None}
        widget.image = str(tmp_path / "missing.png")
        assert "▀" not in "".join(seg.text for seg in widget.render_line(3))


async def test_a_run_stopped_early_on_purpose_says_where(tmp_path):
    db, ids = make_db(tmp_path)
    Catalog(db).update_run(ids[1], stage="generate")  # what `synthsign run --until generate` leaves
    app = SynthSignApp(db, image_mode="halfblock", live_system=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#runs")
        assert str(table.get_cell(str(ids[1]), "status")) == "done (generate)"
        assert str(table.get_cell(str(ids[0]), "status")) == "done"


async def test_predictions_filter_and_evaluation_column(tmp_path):
    from textual.widgets import DataTable, Input, Static

    db, ids = make_db(tmp_path)
    app = SynthSignApp(db, image_mode="halfblock", live_system=False, open_run=ids[0])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen  # what it read from the catalog: the predictions of the run's best checkpoint
        everything = [(ev, p) for ev in screen.evaluations for p in screen.predictions.get(ev.id, [])]
        wrong = [p for _, p in everything if p.correct is False]
        stop_true = [p for _, p in everything if p.label == "stop"]
        assert wrong and len(stop_true) < len(everything)
        await pilot.press("3")
        table = app.screen.query_one("#predictions", DataTable)
        assert table.row_count == len(everything) > 0
        where = {str(table.get_row_at(i)[table.get_column_index("set")]) for i in range(table.row_count)}
        assert where == {f"{ev.name} ({ev.checkpoint})" for ev, _ in everything}
        box = app.screen.query_one("#pred-filter", Input)
        box.value = "wrong"
        await pilot.pause()
        assert table.row_count == len(wrong)
        assert all(str(table.get_row_at(i)[0]) == "✗" for i in range(table.row_count))
        box.value = "true:stop"
        await pilot.pause()
        assert table.row_count == len(stop_true)
        box.value = "set:nowhere"
        await pilot.pause()
        assert table.row_count == 0
        box.value = "colour:red"
        await pilot.pause()
        error = app.screen.query_one("#pred-filter-error", Static)
        assert error.display and "unknown key 'colour'" in str(error.content)
        assert table.row_count == 0  # the last good filter's rows stay


def test_outlier_ceiling_keeps_the_bulk_readable():
    from synthsign_tui.app.widgets.plot import outlier_ceiling

    losses = [2.0 / (1 + i / 10) for i in range(60)]
    assert outlier_ceiling(losses) is None  # an ordinary falling curve is left alone
    ceiling = outlier_ceiling([*losses, 56.5])
    assert ceiling is not None and max(losses) < ceiling < 56.5
    assert outlier_ceiling([1.0, 2.0, 50.0]) is None  # too few points to call any of them far off


async def test_loss_plot_marks_a_spike_instead_of_flattening(tmp_path):
    from textual.app import App

    from synthsign_tui.app.widgets.plot import Line, MetricPlot

    class One(App):
        def compose(self):
            yield MetricPlot("loss", "step", id="plot")

    app = One()
    async with app.run_test(size=(80, 20)) as pilot:
        plot = app.query_one(MetricPlot)
        xs = list(range(40))
        plot.show(
            [
                Line("step", xs, [1.0 / (1 + x) for x in xs], "gray"),
                Line("val", [0, 20], [56.5, 0.3], "orange"),
            ]
        )
        await pilot.pause()
        assert plot.clipped == 1
        plot.show(plot.lines, log_y=True)  # log scale shows everything as it is
        assert plot.clipped == 0


async def test_compare_curves_have_steps_and_labelled_train_and_val(tmp_path):
    from synthsign_tui.app.widgets import MetricPlot

    db, ids = make_db(tmp_path)
    catalog = Catalog(db)
    app = SynthSignApp(db, image_mode="halfblock", live_system=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.open_compare(ids)
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot)
        screen = app.screen
        steps = screen.query_one("#compare-steps", MetricPlot).lines
        assert [line.label for line in steps] == [f"#{i}" for i in ids]
        assert all(len(line.xs) == len(catalog.steps(i)) > 0 for line, i in zip(steps, ids, strict=True))
        loss = screen.query_one("#compare-loss", MetricPlot).lines
        assert [line.label for line in loss] == [f"#{i} {kind}" for i in ids for kind in ("train", "val")]
        train = loss[0]
        assert train.ys == [e.train_loss for e in catalog.epochs(ids[0]) if e.epoch > 0]
        acc = screen.query_one("#compare-acc", MetricPlot).lines
        assert {line.label.split()[1] for line in acc} == {"train", "val"}


async def test_a_config_key_becomes_a_sortable_remembered_column(tmp_path):
    from textual.widgets import DataTable, Input, SelectionList

    from synthsign_tui.app.screens.modals import ColumnsModal

    catalog = Catalog(tmp_path / "runs.db")
    lrs = {}
    for i, lr in enumerate((0.01, 0.0005, 0.003)):
        run_id = write_fake_run(
            catalog, f"r{i}", seed=i, start=T0 + 60 * i, config=fake_config(f"r{i}", i, train__lr=lr)
        )
        lrs[str(run_id)] = lr
    db = tmp_path / "runs.db"
    app = SynthSignApp(db, image_mode="halfblock", live_system=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("v")
        await settle(app, pilot)
        assert isinstance(app.screen, ColumnsModal)
        box = app.screen.query_one("#config-column", Input)
        box.focus()
        box.value = "train.lrr"
        await pilot.press("enter")
        assert "did you mean 'train.lr'" in str(app.screen.query_one("#config-column-error").content)
        box.value = "train.lr"
        await pilot.press("enter")
        assert "config:train.lr" in app.screen.query_one(SelectionList).selected
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        runs = app.screen
        table = runs.query_one("#runs", DataTable)
        assert {k.value: float(str(table.get_cell(k.value, "config:train.lr"))) for k in table.rows} == lrs
        runs._sort("config:train.lr")
        await settle(app, pilot)
        shown = [float(str(table.get_row_at(i)[-1])) for i in range(table.row_count)]
        assert shown == sorted(lrs.values(), reverse=True)
    # the column is a remembered view setting, like the others
    app = SynthSignApp(db, image_mode="halfblock", live_system=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "config:train.lr" in app.screen.columns and app.screen.sort_key == "config:train.lr"
