"""The home screen: every run in the catalog, filtered, sorted and followed live.

The table shows one page of the filtered, sorted query at a time and loads the next page as the cursor nears
the end, so ten thousand runs open as fast as ten. Once a second a worker reads only the runs whose
`updated_at` moved since the last poll (whichever process wrote them) and updates their cells in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.markup import escape
from rich.text import Text
from sqlmodel import col
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from synthsign_tui.app import settings
from synthsign_tui.app.bindings import bindings_for
from synthsign_tui.app.columns import (
    COLUMNS,
    DEFAULT_COLUMNS,
    ROW_FIELDS,
    column,
    known_column,
    plain,
    row_status,
)
from synthsign_tui.app.messages import CatalogChanged
from synthsign_tui.app.screens.modals import ColumnsModal, ConfirmModal, ShowsWorkerErrors, edit_tags, export
from synthsign_tui.app.screens.welcome import welcome_facts, welcome_presets, welcome_text
from synthsign_tui.errors import SynthSignError
from synthsign_tui.vocab import LIVE, RESUMABLE

PAGE = 100
NEEDS_A_RUN = {
    "open_run", "mark", "compare", "filter", "resume", "delete", "clone", "edit_tags", "archive", "sort_next",
    "sort_reverse", "columns", "export",
}  # fmt: skip


class RunsLoaded(Message):
    def __init__(self, generation: int, rows: list[Any], append: bool, text: str) -> None:
        super().__init__()
        self.generation, self.rows, self.append, self.text = generation, rows, append, text


class RunsCounted(Message):
    def __init__(self, generation: int, matching: int, total: int, last: float) -> None:
        super().__init__()
        self.generation, self.matching, self.total, self.last_update = generation, matching, total, last


class RunsFailed(Message):
    def __init__(self, generation: int, text: str, error: str) -> None:
        super().__init__()
        self.generation, self.text, self.error = generation, text, error


class RunsChanged(Message):
    def __init__(self, rows: list[Any], last_update: float) -> None:
        super().__init__()
        self.rows, self.last_update = rows, last_update


class RunsScreen(ShowsWorkerErrors, Screen):
    BINDINGS = bindings_for("runs")
    AUTO_FOCUS = "#runs"

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self._good_filter = ""  # the last filter the catalog ran: the one saved
        self.sort_key = "created"
        self.descending = True
        self.columns: list[str] = list(DEFAULT_COLUMNS)
        self.marked: set[int] = set()
        self.rows: dict[int, Any] = {}
        self.matching = 0
        self.total: int | None = None
        self.last_update = 0.0
        self._loading = False
        self._ready = False
        self._settings_requested = False
        self._ticks = 0
        self._live_shown: dict[tuple[int, str], str] = {}  # time-dependent cells as last drawn
        self._generation = 0  # bumped by each reload: answers to older queries are dropped
        self._poll_timer: Timer | None = None
        self.presets: list[tuple[str, str]] | None = (
            None  # read in a worker: the config package is slow to import
        )
        self._presets_asked = False
        self.preset_facts: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filter-bar"):
            yield Input(
                placeholder="/ filter: real_bal_acc>0.9 generator=procedural status:done tag:x train.lr<0.01",
                id="filter",
            )
            yield Static("opening catalog…", id="match-count")
        yield Static("", id="filter-error")
        with Vertical(id="runs-body"):
            yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="welcome-box"):
                yield Static(id="welcome")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#welcome-box").display = False
        self.query_one("#filter-error").display = False
        self.query_one(DataTable).focus()
        if self.app.catalog is not None:
            self.catalog_ready()

    @property
    def catalog(self):
        return self.app.catalog

    @property
    def table(self) -> DataTable:
        return self.query_one("#runs", DataTable)

    def catalog_ready(self, hidden: bool = False) -> None:
        """Called once the app opened the catalog: restore the saved view, load, then follow updates.

        `hidden` (the dashboard opened on a run): nothing loads until this screen is first shown, so the
        run's curves do not wait behind a table no one sees."""
        if hidden:
            return
        if not self._settings_requested:
            self._settings_requested = True
            self.load_settings()

    @work(thread=True, exclusive=True, group="settings", exit_on_error=False)
    def load_settings(self) -> None:
        self.app.call_from_thread(self._apply_settings, *settings.read_view(self.catalog))

    def _apply_settings(self, view: settings.View, notices: list[str]) -> None:
        for notice in notices:  # a stored value that failed was reset: said once, never a dialog
            self.notify(notice, title="Saved view reset", severity="warning", timeout=12)
        self.sort_key, self.descending, self.columns = view.sort_key, view.descending, view.columns
        self.filter_text = self._good_filter = view.filter_text
        with self.prevent(Input.Changed):
            self.query_one("#filter", Input).value = self.filter_text
        self._ready = True
        self.reload()
        if not self.query_one("#filter", Input).has_focus:  # someone typing a filter already keeps it
            self.table.focus()
        self._poll_timer = self.set_interval(self.app.poll_interval, self.poll)

    # ------------------------------------------------------------------ loading

    def reload(self, limit: int | None = None) -> None:
        """Re-run the query for the first `limit` rows (the rows loaded now, at least one page)."""
        if self.catalog is None or not self._ready:
            return
        self._loading = True
        self._generation += 1
        limit = limit or max(PAGE, len(self.rows))
        self._query(self._generation, self.filter_text, self.sort_key, self.descending, limit, 0)

    @work(thread=True, exclusive=True, group="table", exit_on_error=False)
    def _query(
        self, generation: int, text: str, sort: str, descending: bool, limit: int, offset: int
    ) -> None:
        from sqlalchemy import func, select

        from synthsign_tui.catalog import Run, query

        # one page through the sort column's index (no count, no sort of every run), posted at once; the counts
        # follow in a second message, and a page that is not full is its own count
        columns = tuple(getattr(Run, f) for f in ROW_FIELDS)
        try:
            stmt = query.statement(text, order_by=sort, descending=descending, columns=columns)
            with self.catalog.session() as s:
                rows = list(s.execute(stmt.limit(limit).offset(offset)).all())
            known = offset + len(rows) if len(rows) < limit else None
            self.post_message(RunsLoaded(generation, rows, offset > 0, text))
            if offset > 0 and known is None:
                return
            with self.catalog.session() as s:
                matching = known if known is not None else s.execute(query.count_statement(text)).scalar_one()
                total = s.execute(select(func.count()).select_from(Run)).scalar_one()
                last = s.execute(select(func.max(Run.updated_at))).scalar_one() or 0.0
        except SynthSignError as exc:  # a filter the catalog refuses: said beside the filter input
            self.post_message(RunsFailed(generation, text, str(exc)))
            return
        self.post_message(RunsCounted(generation, matching, total, last))

    def on_runs_failed(self, message: RunsFailed) -> None:
        if message.generation != self._generation:
            return
        self._loading = False
        self._show_filter_error(message.error)
        if message.text != self._good_filter:
            self.filter_text = self._good_filter  # back to the last filter that worked
            self.reload()

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        if message.generation != self._generation:
            return
        self._loading = False
        self._live_shown.clear()
        if message.text != self._good_filter:  # saved only once the catalog has run it
            self._good_filter = message.text
            self._save(settings.FILTER, message.text)
        table = self.table
        now = self.app.clock()
        rows = [r for r in message.rows if message.append is False or r.id not in self.rows]
        cells = [self._cells(row, now) for row in rows]
        if not message.append:
            keep = self._cursor_run_id()
            self._build_columns(cells)
        for row, row_cells in zip(rows, cells, strict=True):
            self.rows[row.id] = row
            table.add_row(*row_cells, key=str(row.id))
        if not message.append and keep is not None and keep in self.rows:
            table.move_cursor(row=table.get_row_index(str(keep)), animate=False)
        if self.total is not None:
            self._show_counts()

    def on_runs_counted(self, message: RunsCounted) -> None:
        if message.generation != self._generation:
            return
        self.matching, self.total = message.matching, message.total
        self.last_update = max(self.last_update, message.last_update)
        self._show_counts()

    def _show_counts(self) -> None:
        empty = self.total == 0
        if self.query_one("#welcome-box").display != empty:
            self.query_one("#welcome-box").display = empty
            self.query_one("#filter-bar").display = not empty  # nothing to filter yet
            self.table.display = not empty
            self.refresh_bindings()  # keys that need a run leave the footer
            if empty:
                self._show_welcome()
                self.check_presets()
            (self.query_one("#welcome-box") if empty else self.table).focus()  # arrows scroll the guide
        if not empty and self.presets is None and not self._presets_asked:
            self._presets_asked = True
            self.set_timer(1.0, self.check_presets)  # keys 1-9 need them; read once the table is drawn
        shown = len(self.rows)
        text = f"{self.matching:,} of {self.total:,} runs"
        if shown < self.matching:
            text += f" · {shown:,} loaded"
        if self.marked:
            text += f" · {len(self.marked)} marked"
        self.query_one("#match-count", Static).update(text)

    def _show_welcome(self) -> None:
        runs_dir = Path(self.catalog.runs_dir).resolve()
        if runs_dir.is_relative_to(Path.cwd()):
            runs_dir = runs_dir.relative_to(Path.cwd())
        text = welcome_text(self.presets, self.preset_facts, str(runs_dir))
        self.query_one("#welcome", Static).update(text)

    @work(thread=True, exclusive=True, group="presets", exit_on_error=False)
    def check_presets(self) -> None:
        """The presets (fast), then on an empty catalog what each lacks on this machine (disk, nvidia-smi)."""
        presets = self.presets
        if presets is None:
            presets = welcome_presets()
            self.app.call_from_thread(self._got_facts, presets, None)
        if self.total == 0 and self.preset_facts is None:
            facts = welcome_facts(presets)
            self.app.call_from_thread(self._got_facts, presets, facts)

    def _got_facts(self, presets: list[tuple[str, str]], facts: dict[str, Any] | None) -> None:
        self.presets = presets
        self.preset_facts = facts or self.preset_facts  # keys 1-9 are not in the footer: no bindings refresh
        if self.query_one("#welcome-box").display:
            self._show_welcome()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """On an empty catalog only the keys that can do something stay (and show in the footer)."""
        if self.total == 0 and action in NEEDS_A_RUN:
            return False
        if action == "preset_form":
            return bool(parameters) and 1 <= int(str(parameters[0])) <= len(self.presets or ())
        return True

    def poll(self) -> None:
        """Every tick while a run is live (launched here or in the table), every other tick otherwise; live
        rows' status and elapsed time are redrawn every tick (a run whose process died reads `interrupted`)."""
        if self.app.screen is not self:
            return  # under another screen: nothing to draw (it reloads when it shows again)
        self._ticks += 1
        now = self.app.clock()
        live = bool(self.app.live_launches()) | self._refresh_live_rows(now)
        if self.catalog is not None and not self._loading and (live or self._ticks % 2 == 0):
            self._poll(self.filter_text, self.last_update)

    def _refresh_live_rows(self, now: float) -> bool:
        """Redraw the time-dependent cells (status, elapsed time) of runs recorded as live; True if any is."""
        keys = [k for k in ("status", "duration") if k in self.columns]
        live = False
        for row in self.rows.values():
            if row.status not in LIVE:
                continue
            live = live or row_status(row, now) in LIVE
            for key in keys:
                cell = known_column(key).cell(row, now)
                if self._live_shown.get((row.id, key)) != str(cell):
                    self._live_shown[(row.id, key)] = str(cell)
                    self.table.update_cell(str(row.id), key, cell)
        return live

    def live_run_ids(self) -> list[int]:
        """Runs of the table that run now (the app lists them when it quits)."""
        now = self.app.clock()
        return [r.id for r in self.rows.values() if r.status in LIVE and row_status(r, now) in LIVE]

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll(self, text: str, since: float) -> None:
        from synthsign_tui.catalog import Run, query

        columns = tuple(getattr(Run, f) for f in ROW_FIELDS)
        try:
            stmt = query.statement(text, columns=columns).where(col(Run.updated_at) > since)
            with self.catalog.session() as s:
                rows = list(s.execute(stmt).all())
        except SynthSignError:
            return  # the table's own query reports it beside the filter

        if rows:
            self.post_message(RunsChanged(rows, max(r.updated_at for r in rows)))

    def on_runs_changed(self, message: RunsChanged) -> None:
        self.last_update = max(self.last_update, message.last_update)
        if any(r.id not in self.rows for r in message.rows):
            self.reload()  # a new run (or one that now matches): its place in the sort order is the query's
            return
        now = self.app.clock()
        table = self.table
        for row in message.rows:
            self._live_shown.pop((row.id, "status"), None)
            self._live_shown.pop((row.id, "duration"), None)
            old = self.rows[row.id]
            self.rows[row.id] = row
            for key, old_cell, new_cell in zip(
                self.columns, self._cells(old, now), self._cells(row, now), strict=True
            ):
                if str(old_cell) != str(new_cell) or key == "status":
                    table.update_cell(str(row.id), key, new_cell)

    def on_catalog_changed(self, _message: CatalogChanged) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        if self.catalog is not None and not self._settings_requested:
            self.catalog_ready()  # first shown after opening on a run
        if self._ready and self._poll_timer is not None:
            self._poll_timer.resume()
            self.reload()

    def on_screen_suspend(self) -> None:
        """Behind another screen nothing here is seen: stop polling (the resume reloads)."""
        if self._ready and self._poll_timer is not None:
            self._poll_timer.pause()

    # ------------------------------------------------------------------ table

    def _build_columns(self, cells: list[list[Any]]) -> None:
        """Empty the table and size each column to its label and the cells about to be added."""
        table = self.table
        table.clear(columns=True)
        self.rows = {}
        for i, key in enumerate(self.columns):
            col = known_column(key)
            arrow = (" ▼" if self.descending else " ▲") if col.sort == self.sort_key else ""
            label = col.label + arrow
            widest = max((cell_len(plain(row[i])) for row in cells), default=0)
            table.add_column(
                label, key=key, width=min(max(widest, cell_len(label), col.min_width), col.max_width)
            )

    def _cells(self, row, now: float) -> list[Any]:
        # Text, not str: DataTable would parse a str for markup and emoji on every paint (and a "[" in a name)
        cells = [
            Text(c) if isinstance(c, str) else c
            for c in (known_column(k).cell(row, now) for k in self.columns)
        ]
        if row.id in self.marked:
            cells[0] = Text(f"● {row.id}", style="bold yellow")
        return cells

    def _cursor_run_id(self) -> int | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return int(key.value) if key.value else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.rows) - 20 and len(self.rows) < self.matching and not self._loading:
            self._loading = True
            self._query(
                self._generation, self.filter_text, self.sort_key, self.descending, PAGE, len(self.rows)
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.app.open_run(int(event.row_key.value))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        found = column(event.column_key.value) if event.column_key.value else None
        if found is not None:
            self._sort(found.sort, toggle=True)

    def _sort(self, sort: str, toggle: bool = False) -> None:
        if toggle and sort == self.sort_key:
            self.descending = not self.descending
        elif sort != self.sort_key:
            self.sort_key, self.descending = sort, sort not in ("name", "id", "status", "tags", "generator")
        self.reload(limit=PAGE)
        self._save(settings.SORT, settings.sort_setting(self.sort_key, self.descending))

    @work(thread=True, group="save", exit_on_error=False)
    def _save(self, key: str, value: str) -> None:
        settings.save(self.catalog, key, value)

    # ------------------------------------------------------------------ filter

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        from synthsign_tui.catalog import query

        try:
            query.parse(event.value)
        except query.QueryError as exc:
            self._show_filter_error(str(exc))
            return
        self.query_one("#filter-error", Static).display = False
        self.filter_text = event.value
        self.reload(limit=PAGE)

    def _show_filter_error(self, message: str) -> None:
        error = self.query_one("#filter-error", Static)
        error.update(f"[red]✗[/] {escape(message)}")
        error.display = True

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.table.focus()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def key_escape(self) -> None:
        if self.query_one("#filter", Input).has_focus:
            self.table.focus()

    # ------------------------------------------------------------------ actions on runs

    def _current(self):
        run_id = self._cursor_run_id()
        return self.rows.get(run_id) if run_id is not None else None

    def action_open_run(self) -> None:
        row = self._current()
        if row is not None:
            self.app.open_run(row.id)

    def action_mark(self) -> None:
        row = self._current()
        if row is None:
            return
        self.marked ^= {row.id}
        self.table.update_cell(str(row.id), "id", self._cells(row, self.app.clock())[0], update_width=True)
        self.table.action_cursor_down()
        self._show_counts()

    def action_compare(self) -> None:
        ids = sorted(self.marked)
        if len(ids) < 2:
            self.notify("Mark two or more runs with space, then press c.", severity="warning")
            return
        self.app.open_compare(ids)

    def action_new_run(self) -> None:
        self.app.open_form(None)

    def action_preset_form(self, number: int) -> None:
        """Keys 1-9: the form filled in from that preset of the welcome list."""
        from synthsign_tui.app.screens.form import full_preset

        name = (self.presets or [])[int(number) - 1][0]
        self.app.open_form(full_preset(name))

    def action_clone(self) -> None:
        row = self._current()
        if row is not None:
            self._clone(row.id)

    @work(thread=True, exclusive=True, group="clone", exit_on_error=False)
    def _clone(self, run_id: int) -> None:
        config = self.catalog.require_run(run_id).config
        config["name"] = f"{config.get('name', 'run')}-2"
        self.app.call_from_thread(self.app.open_form, config)

    def action_resume(self) -> None:
        row = self._current()
        if row is None:
            return
        status = row_status(row, self.app.clock())
        if status not in RESUMABLE:
            self.notify(f"Run #{row.id} is {status}: only failed, cancelled or interrupted runs resume.")
            return
        self.app.resume(row.id)

    def action_delete(self) -> None:
        row = self._current()
        if row is None:
            return
        if row_status(row, self.app.clock()) == "running":
            self.notify(f"Run #{row.id} is running: cancel it first (open it, x).", severity="warning")
            return
        self._ask_delete(row.id, row.name)

    @work(thread=True, exclusive=True, group="ask-delete", exit_on_error=False)
    def _ask_delete(self, run_id: int, name: str) -> None:
        run = self.catalog.require_run(run_id)

        def answer(yes: bool | None) -> None:
            if yes:
                self._delete(run_id)

        question = ConfirmModal(
            f"Delete run #{run_id} “{name}” from the catalog, and its folder\n{run.run_dir}\n"
            "(generated images, checkpoints, logs)? This cannot be undone.",
            yes="Delete",
            no="Keep",
        )
        self.app.call_from_thread(self.app.push_screen, question, answer)

    @work(thread=True, group="edit", exit_on_error=False)
    def _delete(self, run_id: int) -> None:
        self.catalog.delete_run(run_id, remove_folder=True)
        self.marked.discard(run_id)
        self.post_message(CatalogChanged())
        self.app.call_from_thread(self.notify, f"Deleted run #{run_id}.")

    def action_edit_tags(self) -> None:
        row = self._current()
        if row is not None:
            edit_tags(self, row.id)

    def action_archive(self) -> None:
        row = self._current()
        if row is not None:
            self._archive(row.id, not row.archived)

    @work(thread=True, group="edit", exit_on_error=False)
    def _archive(self, run_id: int, archived: bool) -> None:
        self.catalog.update_run(run_id, archived=archived)
        self.post_message(CatalogChanged())
        word = "Archived" if archived else "Restored"
        hint = " (`is:archived` in the filter shows archived runs)" if archived else ""
        self.app.call_from_thread(self.notify, f"{word} run #{run_id}{hint}.")

    def action_sort_next(self) -> None:
        sorts = [known_column(k).sort for k in self.columns]
        i = sorts.index(self.sort_key) + 1 if self.sort_key in sorts else 0
        self._sort(sorts[i % len(sorts)])

    def action_sort_reverse(self) -> None:
        self._sort(self.sort_key, toggle=True)

    def action_columns(self) -> None:
        def chosen(columns: list[str] | None) -> None:
            if columns:
                self.columns = ["id", *(c for c in columns if c != "id")]
                self.reload()
                self._save(settings.COLUMNS_KEY, json.dumps(self.columns))

        extra = [(k, f"config {known_column(k).label}") for k in self.columns if k.startswith("config:")]
        choices = [(c.key, c.label) for c in COLUMNS] + extra
        self.app.push_screen(ColumnsModal(choices, self.columns), chosen)

    def action_export(self) -> None:
        row = self._current()
        export(self, row.id if row else None, table=True)
