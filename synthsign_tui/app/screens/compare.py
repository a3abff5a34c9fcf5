"""Two or more runs side by side: config keys that differ, headline and per-class metrics, overlaid curves."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from synthsign_tui import display as fmt
from synthsign_tui.app.bindings import bindings_for
from synthsign_tui.app.screens.modals import ShowsWorkerErrors
from synthsign_tui.app.widgets import Line, MetricPlot

# (label, Run attribute, higher is better)
HEADLINES = (
    ("real balanced accuracy", "real_bal_acc", True),
    ("real accuracy", "real_acc", True),
    ("real bal. acc. before training", "before_real_bal_acc", True),
    ("synthetic val accuracy", "val_acc", True),
    ("best synthetic val accuracy", "best_val_acc", True),
    ("synthetic-to-real gap", "gap", False),
    ("val loss", "val_loss", False),
    ("images generated", "gen_images", None),
    ("epochs", "epochs_done", None),
    ("duration", "duration_s", None),
)


class CompareRead(Message):
    def __init__(self, data) -> None:
        super().__init__()
        self.data = data


class CompareScreen(ShowsWorkerErrors, Screen):
    BINDINGS = bindings_for("compare")
    log_y: reactive[bool] = reactive(False, init=False)  # the loss plot on a log scale (key l)

    def __init__(self, run_ids: list[int]) -> None:
        super().__init__()
        self.run_ids = run_ids
        self.data = None
        self.all_keys = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"comparing runs {', '.join(f'#{i}' for i in self.run_ids)}", id="compare-title")
        with TabbedContent(id="compare-tabs"):
            with TabPane("Config", id="tab-config"), Vertical():
                yield Static("", id="config-note")
                yield DataTable(id="config-diff", zebra_stripes=True, cursor_type="row")
            with TabPane("Metrics", id="tab-metrics"), VerticalScroll():
                yield Static("", id="headline")
                yield Static("", id="per-class")
            with TabPane("Curves", id="tab-curves"), Vertical():
                yield Static("", id="legend")
                yield MetricPlot("training loss per step", "step", id="compare-steps")
                yield MetricPlot("loss per epoch (train ·, val ⣿)", "epoch", id="compare-loss")
                yield MetricPlot(
                    "accuracy per epoch (train ·, val ⣿)", "epoch", ylim=(0.0, 1.0), id="compare-acc"
                )
        yield Footer()

    def on_mount(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="compare-read", exit_on_error=False)
    def _read(self) -> None:
        from synthsign_tui.catalog.reader import read_compare

        self.post_message(CompareRead(read_compare(self.app.catalog, self.run_ids)))

    def on_compare_read(self, message: CompareRead) -> None:
        self.data = message.data
        runs = self.data.runs
        self.run_colors = {r.id: fmt.run_color(i) for i, r in enumerate(runs)}
        legend = Text("runs: ")
        for r in runs:
            legend.append(f"■ #{r.id} {r.name}  ", style=f"color({self.run_colors[r.id]})")
        self.query_one("#legend", Static).update(legend)
        self._show_config()
        self._show_metrics()
        self._show_curves()

    # ------------------------------------------------------------------ config

    def _show_config(self) -> None:
        from synthsign_tui.config import flatten

        runs = self.data.runs
        flat = [flatten(c) for c in self.data.configs]
        keys = sorted({k for f in flat for k in f})
        differing = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
        shown = keys if self.all_keys else differing
        table = self.query_one("#config-diff", DataTable)
        table.clear(columns=True)
        table.add_column("config key", key="key")
        for r in runs:
            table.add_column(
                Text(f"#{r.id} {r.name}", style=f"color({self.run_colors[r.id]})"), key=str(r.id)
            )
        for key in shown:
            values = [f.get(key) for f in flat]
            style = "bold" if key in differing else "dim"
            table.add_row(Text(key, style=style), *[_value(v) for v in values], key=key)
        what = "all keys" if self.all_keys else f"{len(differing)} of {len(keys)} keys differ"
        self.query_one("#config-note", Static).update(
            f"{what} (k shows {'only differing' if self.all_keys else 'all'} keys)"
        )

    def action_all_keys(self) -> None:
        self.all_keys = not self.all_keys
        if self.data is not None:
            self._show_config()

    # ------------------------------------------------------------------ metrics

    def _show_metrics(self) -> None:
        from synthsign_tui.catalog.reader import per_class, primary_evaluation

        runs = self.data.runs
        table = Table(title="Headline metrics (★ best)", title_justify="left")
        table.add_column("measure")
        for r in runs:
            table.add_column(
                Text(f"#{r.id} {r.name}", style=f"color({self.run_colors[r.id]})"), justify="right"
            )
        for label, attr, higher in HEADLINES:
            values = [getattr(r, attr) for r in runs]
            table.add_row(label, *_marked(values, higher, _formatter(attr)))
        self.query_one("#headline", Static).update(table)

        recalls = {}
        for r in runs:
            ev = primary_evaluation(self.data.evaluations[r.id])
            recalls[r.id] = {k: v.get("recall") for k, v in per_class(ev).items() if isinstance(v, dict)}
        classes = sorted({c for rec in recalls.values() for c in rec})
        per = Table(title="Per-class recall on real photos (★ best)", title_justify="left")
        per.add_column("class")
        for r in runs:
            per.add_column(Text(f"#{r.id}", style=f"color({self.run_colors[r.id]})"), justify="right")
        for c in classes:
            per.add_row(c, *_marked([recalls[r.id].get(c) for r in runs], True, fmt.pct))
        self.query_one("#per-class", Static).update(per if classes else "no real-photo evaluations yet")

    # ------------------------------------------------------------------ curves

    def _show_curves(self) -> None:
        """Each run in its colour: step losses; train (dotted) and val (solid) loss and accuracy per epoch."""
        steps, loss, acc = [], [], []
        for r in self.data.runs:
            epochs = self.data.epochs[r.id]
            color = self.run_colors[r.id]
            series = self.data.steps[r.id]
            steps.append(Line(f"#{r.id}", series.xs, series.ys, color))
            for kind, attr_loss, attr_acc in (
                ("train", "train_loss", "train_acc"),
                ("val", "val_loss", "val_acc"),
            ):
                marker = "dot" if kind == "train" else None
                tl = [
                    e for e in epochs if getattr(e, attr_loss) is not None and (kind == "val" or e.epoch > 0)
                ]
                loss.append(Line(f"#{r.id} {kind}", [e.epoch for e in tl], [getattr(e, attr_loss) for e in tl],
                                 color, marker))  # fmt: skip
                ta = [
                    e for e in epochs if getattr(e, attr_acc) is not None and (kind == "val" or e.epoch > 0)
                ]
                acc.append(Line(f"#{r.id} {kind}", [e.epoch for e in ta], [getattr(e, attr_acc) for e in ta],
                                color, marker))  # fmt: skip
        self.query_one("#compare-steps", MetricPlot).show(steps, log_y=self.log_y)
        self.query_one("#compare-loss", MetricPlot).show(loss, log_y=self.log_y)
        self.query_one("#compare-acc", MetricPlot).show(acc)

    def action_log_scale(self) -> None:
        self.log_y = not self.log_y

    def watch_log_y(self) -> None:
        if self.data is not None:
            self._show_curves()

    def action_tab(self, number: int) -> None:
        """Keys 1-4: the tabs in their order."""
        tabs = self.query_one(TabbedContent)
        panes = [pane.id for pane in tabs.query(TabPane) if pane.id]
        if 1 <= int(number) <= len(panes):
            tabs.active = panes[int(number) - 1]

    def action_back(self) -> None:
        self.app.pop_screen()


def _value(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, list | dict):
        return json.dumps(v)
    return str(v)


def _formatter(attr: str):
    if attr.endswith("acc"):
        return fmt.pct
    if attr == "gap":
        return fmt.points
    if attr == "duration_s":
        return fmt.duration
    return fmt.num


def _marked(values: list, higher: bool | None, formatter) -> list[Text]:
    """Format values; the best one (highest, or lowest when `higher` is False) gets a star."""
    present = [v for v in values if v is not None]
    best = None
    if present and higher is not None and len(present) > 1:
        best = max(present) if higher else min(present, key=abs)
    cells = []
    for v in values:
        if v is not None and v == best:
            cells.append(Text(f"★ {formatter(v)}", style="bold green"))
        else:
            cells.append(Text(formatter(v)))
    return cells
