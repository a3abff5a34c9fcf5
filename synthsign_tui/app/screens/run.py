"""One run, live or finished: progress per stage, plots, generated images, results, predictions and log.

Everything drawn here comes from the catalog, rate and ETA included (the run records them with its progress),
so a finished run looks as it did live, and a run looks the same whichever process or front end started it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, RichLog, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from synthsign_tui import display as fmt
from synthsign_tui.app.bindings import bindings_for
from synthsign_tui.app.screens.modals import ConfirmModal, ShowsWorkerErrors, edit_tags, export
from synthsign_tui.app.widgets import (
    Line,
    MetricPlot,
    StageProgress,
    SystemPanel,
    Thumbnails,
    confusion_table,
    image_class,
    prediction_filter,
    preview,
    probability_bars,
    progress_detail,
)
from synthsign_tui.catalog.reader import (
    RunReader,
    RunUpdate,
    Series,
    StepAxis,
    find_evaluation,
    primary_evaluation,
)
from synthsign_tui.vocab import LIVE, RESUMABLE, STAGES, SYNTHETIC_VAL

LIVE_POLL_S = 0.5  # a live run is read this often (other processes' writes show within about a second)
IDLE_POLL_S = 5.0  # and a stopped one this often: another front end may resume it
LIVE_DRAW_S = 1.0  # and its plots redrawn at most this often: drawing costs the training run CPU


@dataclass
class PreviewDecoded(Message):
    """The highlighted prediction's photo, decoded by a worker (None: missing or unreadable)."""

    image: Any


class RunRead(Message):
    def __init__(self, update: RunUpdate | None) -> None:
        super().__init__()
        self.update = update


class RunScreen(ShowsWorkerErrors, Screen):
    BINDINGS = bindings_for("run")
    log_y: reactive[bool] = reactive(False, init=False)  # the loss plot on a log scale (key l)

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.run: Any = None  # the Run row, from the first read on
        self.reader: RunReader | None = None
        self.axis = StepAxis()
        self.step_loss = Series()
        self.epochs: list = []
        self.evaluations: list = []
        self.predictions: dict[int, list] = {}
        self.prediction_rows: list = []
        self._polling = False
        self._dirty = False
        self._last_read = 0.0
        self._plots_dirty = False
        self._plots_drawn_at = 0.0
        self._title_shown: Text | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"run #{self.run_id}", id="run-title")
        yield Static("", id="run-error")
        with Horizontal(id="run-top"):
            yield StageProgress(id="stages")
            yield SystemPanel(live=getattr(self.app, "live_system", True), id="system")
        with TabbedContent(id="run-tabs"):
            with TabPane("Training", id="tab-training"), Horizontal():
                with Vertical(id="plots"):
                    yield MetricPlot("loss", "step", id="loss-plot")
                    yield MetricPlot("accuracy", "epoch", ylim=(0.0, 1.0), id="acc-plot")
                yield Thumbnails(self.app.image_mode, id="thumbs")
            with TabPane("Results", id="tab-results"), VerticalScroll():
                yield Static("no evaluation yet", id="before-after")
                yield Static("", id="confusion")
            with TabPane("Predictions", id="tab-predictions"), Horizontal():
                with Vertical(id="predictions-box"):
                    yield Input(placeholder=f"filter: {prediction_filter.HELP}", id="pred-filter")
                    yield Static("", id="pred-filter-error")
                    yield DataTable(id="predictions", cursor_type="row", zebra_stripes=True)
                with Vertical(id="preview"):
                    yield image_class(self.app.image_mode)(id="preview-image")
                    yield Static("select a photo", id="preview-probs")
            with TabPane("Log", id="tab-log"):
                yield RichLog(id="log", wrap=True, markup=False, max_lines=5000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#run-error").display = False
        self.query_one("#pred-filter-error").display = False
        table = self.query_one("#predictions", DataTable)
        # the verdict first and the file name last: a narrow terminal cuts the name, never the prediction
        for key, label in (
            ("ok", ""),
            ("true", "true"),
            ("pred", "predicted"),
            ("conf", "conf"),
            ("box", "box"),
            ("set", "evaluation"),
            ("file", "file"),
        ):
            table.add_column(label, key=key)
        self.request_poll()
        self._tick_timer = self.set_interval(LIVE_POLL_S, self._tick)

    def on_screen_suspend(self) -> None:
        """Hidden (help, a modal, another screen): no reads, no system samples, until shown again."""
        self._tick_timer.pause()
        self.query_one(SystemPanel).pause()

    def on_screen_resume(self) -> None:
        self._tick_timer.resume()
        self.query_one(SystemPanel).resume()
        self.request_poll(now=True)

    # ------------------------------------------------------------------ reading

    def _tick(self) -> None:
        live = self.run is None or self.run.display_status(self.app.clock()) in LIVE
        if live or self._dirty or time.monotonic() - self._last_read >= IDLE_POLL_S:
            self.request_poll(now=True)
        if self._plots_dirty and time.monotonic() - self._plots_drawn_at >= LIVE_DRAW_S:
            self._draw_plots()
        if self.run is not None and live and self._polling:
            return  # the read's answer redraws the header and stages (elapsed time, ETA): one repaint, not two
        if self.run is not None and live:
            self._show_header()  # elapsed time and ETA move between reads
            self._show_stages()

    def live_run_ids(self) -> list[int]:
        """This run, while it runs (the app lists such runs when it quits)."""
        return (
            [self.run_id]
            if self.run is not None and self.run.display_status(self.app.clock()) in LIVE
            else []
        )

    def request_poll(self, now: bool = False) -> None:
        """Read what is new. Event-driven requests coalesce to one read per LIVE_POLL_S (the tick does it)."""
        if self.app.catalog is None:
            return
        if self._polling or (not now and time.monotonic() - self._last_read < LIVE_POLL_S):
            self._dirty = True
            return
        self._polling, self._dirty, self._last_read = True, False, time.monotonic()
        if self.reader is None:
            self.reader = RunReader(self.app.catalog, self.run_id)
        self._read()

    @work(thread=True, group="run-read", exit_on_error=False)
    def _read(self) -> None:
        try:
            assert self.reader is not None  # made in _poll before the first read
            update = self.reader.read()
        finally:
            self._polling = False
        self.post_message(RunRead(update))

    def on_run_read(self, message: RunRead) -> None:
        update = message.update
        if update is None:
            self.notify(f"run #{self.run_id} is no longer in the catalog", severity="error")
            self.app.pop_screen()
            return
        self.run = update.run
        if update.evaluations is not None:
            self.evaluations = update.evaluations
            self.predictions = update.predictions
        self._show_header()
        self._show_stages()
        if update.steps or [e.epoch for e in update.epochs] != [e.epoch for e in self.epochs]:
            for epoch, loss in update.steps:
                self.step_loss.append(self.axis.x(epoch), loss)
            self.epochs = update.epochs
            self._plots_dirty = True
        live = update.run.status in LIVE
        if self._plots_dirty and (not live or time.monotonic() - self._plots_drawn_at >= LIVE_DRAW_S):
            self._draw_plots()  # a live run redraws at most once a second (else on a later tick)
        if update.logs:
            log = self.query_one("#log", RichLog)
            for line in update.logs:
                stamp = time.strftime("%H:%M:%S", time.localtime(line.created_at))
                style = {"error": "red", "warning": "yellow"}.get(line.level, "")
                log.write(Text(f"{stamp} {line.level:7} {line.message}", style=style))
        if update.samples is not None:
            self.query_one("#thumbs", Thumbnails).show(update.samples)
        if update.evaluations is not None:
            self._show_results()
            self._show_predictions()
        if self._dirty:
            self.request_poll(now=True)

    # ------------------------------------------------------------------ drawing

    def _show_header(self) -> None:
        run, now = self.run, self.app.clock()
        status = run.display_status(now)
        title = Text()
        title.append(f"#{run.id} {run.name}  ", style="bold")
        title.append_text(fmt.status_text(status))
        if run.stage and status in ("running", "queued"):
            title.append(f"  stage {run.stage}")
        elapsed = now - run.started_at if status == "running" and run.started_at else run.duration_s
        title.append(f"  elapsed {fmt.duration(elapsed)}  device {run.device or '–'}")
        title.append(f"  {fmt.short_model(run.generator_kind, run.model)}", style="dim")
        if run.tags:
            title.append("  " + " ".join(f"#{t}" for t in run.tag_list), style="cyan")
        if title != self._title_shown:
            self._title_shown = title
            self.query_one("#run-title", Static).update(title, layout=False)
        error = self.query_one("#run-error", Static)
        error.display = bool(run.error) and status != "running"
        if run.error:
            hint = "  (r resumes)" if status in RESUMABLE else ""
            error.update(Text(f"{run.error.splitlines()[-1]}{hint}", style="red"))

    def _show_stages(self) -> None:
        run = self.run
        stages = self.query_one("#stages", StageProgress)
        current = STAGES.index(run.stage) if run.stage in STAGES else -1
        finished = run.status == "done"
        running = run.display_status(self.app.clock()) == "running"
        for i, stage in enumerate(STAGES):
            if i < current or (finished and i <= current):
                stages.set_stage(stage, 1, 1, self._stage_summary(stage))
            elif i == current:
                total = run.progress_total
                stages.set_stage(
                    stage,
                    run.progress_done,
                    total,
                    progress_detail(
                        run.progress_done,
                        total,
                        run.progress_rate if running else None,
                        run.progress_eta(self.app.clock()) if running else None,
                        stage,
                    ),  # fmt: skip
                )
            else:
                stages.set_stage(stage, 0, 1, "waiting")

    def _stage_summary(self, stage: str) -> str:
        run = self.run
        if stage == "generate":
            return f"{run.gen_images:,} images" + (
                f" · {run.gen_images_per_s:.1f} img/s" if run.gen_images_per_s else ""
            )
        if stage == "train":
            return f"{run.epochs_done} epochs"
        return f"{len([e for e in self.evaluations if e.checkpoint != 'before'])} evaluations"

    def _draw_plots(self) -> None:
        self._plots_dirty, self._plots_drawn_at = False, time.monotonic()
        epochs = [e for e in self.epochs]
        train = [e for e in epochs if e.epoch > 0 and e.train_loss is not None]
        val = [e for e in epochs if e.val_loss is not None]
        loss_lines = [
            Line("step", self.step_loss.xs, self.step_loss.ys, "gray"),
            Line("train", [self.axis.epoch_x(e.epoch) for e in train], [e.train_loss for e in train], "cyan"),
            Line("val", [self.axis.epoch_x(e.epoch) for e in val], [e.val_loss for e in val], "orange"),
        ]
        self.query_one("#loss-plot", MetricPlot).show(loss_lines, log_y=self.log_y)
        tacc = [e for e in epochs if e.epoch > 0 and e.train_acc is not None]
        vacc = [e for e in epochs if e.val_acc is not None]
        acc_lines = [
            Line("train", [e.epoch for e in tacc], [e.train_acc for e in tacc], "cyan"),
            Line("val", [e.epoch for e in vacc], [e.val_acc for e in vacc], "orange"),
        ]
        self.query_one("#acc-plot", MetricPlot).show(acc_lines)

    def _show_results(self) -> None:
        run, evs = self.run, self.evaluations
        table = Table(title="Before and after training", title_justify="left")
        for name, justify in (
            ("measure", "left"),
            ("before", "right"),
            ("after", "right"),
            ("change", "right"),
        ):
            table.add_column(name, justify=cast(JustifyMethod, justify))

        def row(label: str, before: float | None, after: float | None) -> None:
            change = None if before is None or after is None else after - before
            style = "" if change is None else ("green" if change > 0 else "red")
            table.add_row(label, fmt.pct(before), fmt.pct(after), Text(fmt.points(change), style=style))

        syn_before, syn_after = find_evaluation(evs, SYNTHETIC_VAL, "before"), None
        syn_after = next((e for e in evs if e.name == SYNTHETIC_VAL and e.checkpoint != "before"), None)
        row(
            "synthetic val accuracy",
            syn_before.accuracy if syn_before else run.before_val_acc,
            syn_after.accuracy if syn_after else run.val_acc,
        )
        names = sorted({e.name for e in evs if e.name != SYNTHETIC_VAL}, key=lambda n: (n != "real", n))
        for name in names:
            before = find_evaluation(evs, name, "before")
            after = next((e for e in evs if e.name == name and e.checkpoint != "before"), None)
            label = "real photos" if name == "real" else name
            row(
                f"{label}: accuracy",
                before.accuracy if before else None,
                after.accuracy if after else None,
            )
            row(
                f"{label}: balanced accuracy",
                before.balanced_accuracy if before else None,
                after.balanced_accuracy if after else None,
            )
        if run.gap is not None:
            table.caption = f"synthetic-to-real gap {fmt.points(run.gap)}"
        self.query_one("#before-after", Static).update(table)
        primary = primary_evaluation(evs)
        if primary is not None:
            classes, matrix = primary.classes, primary.confusion_matrix
            title = f"{'real photos' if primary.name == 'real' else primary.name} ({primary.checkpoint} checkpoint, {primary.n_images} images)"
            confusion = confusion_table(classes, matrix)
            confusion.title = f"Confusion matrix, {title}"
            self.query_one("#confusion", Static).update(confusion)

    def _show_predictions(self) -> None:
        table = self.query_one("#predictions", DataTable)
        error = self.query_one("#pred-filter-error", Static)
        try:
            tests = prediction_filter.parse(self.query_one("#pred-filter", Input).value)
        except prediction_filter.PredictionFilterError as exc:
            error.update(Text(f"✗ {exc}", style="red"))
            error.display = True
            return
        error.display = False
        table.clear()
        rows, sets = [], []
        for ev in self.evaluations:
            # a photo evaluated twice (the run's own `real` and an `evaluate --real` folder) says which is which
            where = f"{ev.name} ({ev.checkpoint})"
            found = [p for p in self.predictions.get(ev.id, []) if prediction_filter.matches(tests, p, where)]
            rows.extend(found)
            sets.extend([where] * len(found))
        self.prediction_rows = rows
        for i, (p, where) in enumerate(zip(rows, sets, strict=True)):
            ok = "" if p.correct is None else ("✓" if p.correct else "✗")
            style = "green" if p.correct else "red" if p.correct is not None else ""
            table.add_row(
                Text(ok, style=style), p.label or "?", Text(fmt.predicted_text(p.predicted), style=style),
                f"{p.confidence:.0%}", fmt.box_text(p.box), where, Path(p.path).name, key=str(i),
            )  # fmt: skip
        if rows:
            self._preview(0)

    @on(Input.Changed, "#pred-filter")
    def prediction_filter_changed(self) -> None:
        self._show_predictions()

    @on(Input.Submitted, "#pred-filter")
    def prediction_filter_done(self) -> None:
        self.query_one("#predictions", DataTable).focus()

    @on(DataTable.RowHighlighted, "#predictions")
    def prediction_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._preview(int(event.row_key.value))

    def _preview(self, index: int) -> None:
        if index >= len(self.prediction_rows):
            return
        p = self.prediction_rows[index]
        path = Path(p.path)
        self._read_preview(p.path, p.boxes)
        text = Text(f"{path.name}\n", style="bold")
        verdict = "" if p.correct is None else (" right" if p.correct else " wrong")
        text.append(f"true {p.label or '?'}, predicted {fmt.predicted_text(p.predicted)}{verdict}\n")
        if p.box is not None:
            text.append(f"box {fmt.box_text(p.box)} (yellow)", style="yellow")
            if len(p.boxes) > 1:
                text.append(f", {len(p.boxes) - 1} more looked at (blue)", style="dim")
        text.append("\n\n")
        text.append_text(probability_bars(p.probabilities))
        self.query_one("#preview-probs", Static).update(text)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _read_preview(self, path: str, boxes: list[dict[str, Any]] | None = None) -> None:
        image = preview(path, boxes)
        if not get_current_worker().is_cancelled:
            self.post_message(PreviewDecoded(image))

    def on_preview_decoded(self, message: PreviewDecoded) -> None:
        self.query_one("#preview-image").image = message.image

    # ------------------------------------------------------------------ actions

    def action_tab(self, number: int) -> None:
        """Keys 1-4: the tabs in their order."""
        tabs = self.query_one(TabbedContent)
        panes = [pane.id for pane in tabs.query(TabPane) if pane.id]
        if 1 <= int(number) <= len(panes):
            tabs.active = panes[int(number) - 1]

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_log_scale(self) -> None:
        self.log_y = not self.log_y

    def watch_log_y(self) -> None:
        self._draw_plots()

    def action_cancel_run(self) -> None:
        status = self.run.display_status(self.app.clock()) if self.run else "unknown"
        if status not in LIVE:
            self.notify(f"Run #{self.run_id} is {status}, not running.")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.app.cancel_run(self.run_id)

        self.app.push_screen(
            ConfirmModal(
                f"Cancel run #{self.run_id}?\n\nIt stops cleanly after the current image or batch; `r` resumes it later.",
                yes="Cancel run",
                no="Keep running",
            ),
            answer,
        )

    def action_resume(self) -> None:
        status = self.run.display_status(self.app.clock()) if self.run else None
        if status not in RESUMABLE:
            self.notify(f"Run #{self.run_id} is {status}: only failed, cancelled or interrupted runs resume.")
            return
        self.app.resume(self.run_id)

    def action_clone(self) -> None:
        if self.run is not None:
            config = self.run.config
            config["name"] = f"{config.get('name', 'run')}-2"
            self.app.open_form(config)

    def action_edit_tags(self) -> None:
        edit_tags(self, self.run_id)

    def on_catalog_changed(self) -> None:
        self.request_poll()

    def action_export(self) -> None:
        export(self, self.run_id, table=False)
