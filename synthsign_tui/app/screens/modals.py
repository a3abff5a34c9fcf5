"""Small modal screens: confirm, error, help, tags and notes, columns, export."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, SelectionList, Static, TextArea
from textual.worker import Worker, WorkerState

from synthsign_tui.app.bindings import help_rows
from synthsign_tui.app.messages import CatalogChanged


class ShowsWorkerErrors:
    """Mixed into each screen: a worker that raised shows its error in a modal (worker messages do not bubble)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.push_screen(ErrorModal(f"{event.worker.name} failed", describe(event.worker.error)))


def describe(error: BaseException | None) -> str:
    """A user error's own message; anything else with its traceback."""
    from synthsign_tui.errors import SynthSignError

    if isinstance(error, SynthSignError):
        return str(error)
    import traceback

    return "".join(traceback.format_exception(error)).strip() if error else "unknown error"


class ConfirmModal(ModalScreen[bool]):
    """A yes/no question; `y` answers yes, `n` or escape answers no."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No", danger: bool = True) -> None:
        super().__init__()
        self.question, self.yes, self.no, self.danger = question, yes, no, danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ErrorModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll():
                yield Static(self.message, markup=False)
            yield Button("Close (esc)", id="close", variant="primary")

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss()


class HelpScreen(ModalScreen[None]):
    """Every key of the binding table, by screen, plus the filter syntax."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column(style="bold cyan", justify="right")
        table.add_column()
        last = None
        for where, key, what in help_rows():
            table.add_row(where if where != last else "", key, what)
            last = where
        with Vertical(classes="dialog help-dialog"):
            yield Label("SynthSign keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(table)
                yield Static(FILTER_HELP, classes="filter-help")
            yield Button("Close (esc)", id="close", variant="primary")

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss()


FILTER_HELP = """[b]Filter[/b] (press / on the runs table); every word must hold:
  [cyan]real_bal_acc>0.9[/]  [cyan]real_acc>=90%[/]  [cyan]generator=procedural[/]  [cyan]status:done[/]  [cyan]tag:baseline[/]
  [cyan]train.lr<0.01[/] (any config key)  [cyan]name:stop[/] (contains)  [cyan]-status:failed[/] (not)
  [cyan]is:archived[/] shows archived runs  [cyan]is:marked[/] only marked ones  bare words search names, tags, notes.
Mouse: click a header to sort, a row to open it."""


def save_or_cancel() -> ComposeResult:
    """The Save and Cancel buttons of a dialog that subclasses `SavesOrCancels`."""
    with Horizontal(classes="buttons"):
        yield Button("Save (ctrl+s)", id="save", variant="primary")
        yield Button("Cancel (esc)", id="cancel")


class SavesOrCancels:
    """Save runs the dialog's action_save; any other button dismisses it with None."""

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)


class TagsModal(SavesOrCancels, ModalScreen[tuple[list[str], str] | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, run_name: str, tags: list[str], notes: str) -> None:
        super().__init__()
        self.run_name, self.tags, self.notes = run_name, tags, notes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Tags and notes of {self.run_name}", classes="dialog-title")
            yield Label("Tags, separated by commas")
            yield Input(", ".join(self.tags), id="tags")
            yield Label("Notes")
            yield TextArea(self.notes, id="notes")
            yield from save_or_cancel()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_save()

    def action_save(self) -> None:
        tags = [t.strip() for t in self.query_one("#tags", Input).value.split(",") if t.strip()]
        self.dismiss((tags, self.query_one("#notes", TextArea).text))


class ColumnsModal(SavesOrCancels, ModalScreen[list[str] | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, columns: list[tuple[str, str]], shown: list[str]) -> None:
        super().__init__()
        self.columns, self.shown = columns, shown

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Columns of the runs table (space toggles)", classes="dialog-title")
            yield SelectionList[str](*[(label, key, key in self.shown) for key, label in self.columns])
            yield Input(placeholder="add a config key as a column, e.g. train.lr (enter)", id="config-column")
            yield Static("", id="config-column-error")
            yield from save_or_cancel()

    @on(Input.Submitted, "#config-column")
    def add_config_column(self, event: Input.Submitted) -> None:
        """A config key (checked against the config model) becomes a selected column."""
        import difflib

        from synthsign_tui.config import RunConfig, known_keys

        key, error = event.value.strip(), self.query_one("#config-column-error", Static)
        known = known_keys(RunConfig)
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else "; e.g. train.lr or data.images_per_class"
            error.update(f"[red]✗[/] {key!r} is not a config key{hint}")
            return
        error.update("")
        column_key = f"config:{key}"
        if all(k != column_key for k, _ in self.columns):
            self.columns.append((column_key, f"config {key}"))
            self.query_one(SelectionList).add_option((f"config {key}", column_key, True))
        self.query_one(SelectionList).select(column_key)
        event.input.value = ""

    def action_save(self) -> None:
        chosen = set(self.query_one(SelectionList).selected)
        self.dismiss([key for key, _ in self.columns if key in chosen])


EXPORTS = (
    ("table-csv", "The runs table (as filtered) as CSV"),
    ("table-json", "The runs table (as filtered) as JSON"),
    ("run-csv", "This run's epochs and predictions as CSV"),
    ("run-json", "This run's details, epochs and predictions as JSON"),
)


class ExportModal(ModalScreen[tuple[str, Path] | None]):
    """Pick what to export and where; the caller writes it in a worker."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, run_id: int | None, table: bool = True) -> None:
        super().__init__()
        self.run_id = run_id
        self.choices = [
            (key, text)
            for key, text in EXPORTS
            if (key.startswith("table") and table) or (key.startswith("run") and run_id is not None)
        ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export", classes="dialog-title")
            with RadioSet(id="what"):
                for i, (key, text) in enumerate(self.choices):
                    yield RadioButton(text.replace("This run", f"Run #{self.run_id}"), value=i == 0, name=key)
            yield Label("File")
            yield Input(self._default_path(self.choices[0][0]), id="path")
            with Horizontal(classes="buttons"):
                yield Button("Export", id="export", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def _default_path(self, key: str) -> str:
        stem = "synthsign-runs" if key.startswith("table") else f"synthsign-run-{self.run_id}"
        return str(Path.cwd() / f"{stem}.{key.rsplit('-', 1)[1]}")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.query_one("#path", Input).value = self._default_path(event.pressed.name or "table-csv")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "export":
            self.dismiss(None)
            return
        pressed = self.query_one(RadioSet).pressed_button
        key = (pressed.name if pressed is not None else None) or self.choices[0][0]
        self.dismiss((key, Path(self.query_one("#path", Input).value).expanduser()))


# ---------------------------------------------------------------- dialogs with their catalog writes


def edit_tags(screen: Screen, run_id: int) -> None:
    """Open the tags-and-notes dialog for a run: read in a worker, saved in a worker."""
    _open_tags(screen, run_id)


@work(thread=True, exclusive=True, group="edit-open", exit_on_error=False)
def _open_tags(screen: Screen, run_id: int) -> None:
    run = screen.app.catalog.require_run(run_id)

    def save(result: tuple[list[str], str] | None) -> None:
        if result is not None:
            _save_tags(screen, run_id, *result)

    screen.app.call_from_thread(
        screen.app.push_screen, TagsModal(f"#{run.id} {run.name}", run.tag_list, run.notes), save
    )


@work(thread=True, group="edit", exit_on_error=False)
def _save_tags(screen: Screen, run_id: int, tags: list[str], notes: str) -> None:
    catalog = screen.app.catalog
    catalog.set_tags(run_id, tags)
    catalog.update_run(run_id, notes=notes)
    screen.post_message(CatalogChanged())


def export(screen: Screen, run_id: int | None, table: bool) -> None:
    """Ask what to export and where, then write it in a worker."""

    def chosen(answer) -> None:
        if answer is not None:
            _export(screen, *answer, run_id)

    screen.app.push_screen(ExportModal(run_id, table=table), chosen)


@work(thread=True, group="export", exit_on_error=False)
def _export(screen: Screen, what: str, path, run_id: int | None) -> None:
    from synthsign_tui.app import export as exporter

    catalog = screen.app.catalog
    if what.startswith("table"):
        text = getattr(screen, "filter_text", "")
        sort = getattr(screen, "sort_key", "created")
        n = exporter.export_table(catalog, path, text, sort, getattr(screen, "descending", True))
        message = f"Wrote {n} runs to {path}"
    else:
        assert run_id is not None  # ExportModal offers the run choices only with a run
        exporter.export_run(catalog, run_id, path)
        message = f"Wrote run #{run_id} to {path}"
    screen.app.call_from_thread(screen.notify, message)
