"""The dashboard's saved view of the runs table (filter, sort, columns), kept in the catalog's settings table.

Every value is checked before it is saved, and again when it is read back at start-up: a stored value that
no longer works (written by an older version, edited by hand, or a filter the catalog refuses) is reset to
its default, written back, and reported once as a notice, so it can never fail at every start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from synthsign_tui.app.columns import COLUMN_BY_KEY, COLUMNS, DEFAULT_COLUMNS
from synthsign_tui.errors import SynthSignError, shorten

FILTER, SORT, COLUMNS_KEY = "dashboard.filter", "dashboard.sort", "dashboard.columns"
DEFAULT_SORT = "created:desc"
SORTS = {c.sort for c in COLUMNS}


@dataclass
class View:
    filter_text: str = ""
    sort_key: str = "created"
    descending: bool = True
    columns: list[str] = field(default_factory=lambda: list(DEFAULT_COLUMNS))


def sort_setting(key: str, descending: bool) -> str:
    return f"{key}:{'desc' if descending else 'asc'}"


def parse_sort(value: str) -> tuple[str, bool]:
    """'real_acc:desc' -> ("real_acc", True); SynthSignError for anything else."""
    key, sep, direction = value.partition(":")
    if not sep or key not in SORTS or direction not in ("asc", "desc"):
        raise SynthSignError(
            f"sort {shorten(value)} is not COLUMN:asc or COLUMN:desc with a column of the table"
        )
    return key, direction == "desc"


def parse_columns(value: str) -> list[str]:
    """A JSON list of column keys -> the columns shown, `id` first; SynthSignError for anything else."""
    try:
        keys = json.loads(value)
    except (ValueError, RecursionError):
        raise SynthSignError(f"columns {shorten(value)} are not a JSON list") from None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise SynthSignError(f"columns {shorten(value)} are not a list of column names")
    unknown = [k for k in keys if k not in COLUMN_BY_KEY]
    if unknown:
        raise SynthSignError(f"columns {shorten(unknown)} are not columns of the table")
    return ["id", *(k for k in keys if k != "id")]


def check_filter(catalog, text: str) -> None:
    """Raise SynthSignError unless `text` parses and the catalog runs it (tried on one row)."""
    from synthsign_tui.catalog import Run, query

    statement = query.statement(text, columns=(Run.id,)).limit(1)
    with catalog.session() as session:
        session.execute(statement).all()


def save(catalog, key: str, value: str) -> None:
    """Save one view setting once it checks out (the table's query has already run a filter); a read-only
    catalog keeps the view for this session only."""
    from synthsign_tui.catalog import query

    check = {FILTER: query.parse, SORT: parse_sort, COLUMNS_KEY: parse_columns}[key]
    check(value)
    if not catalog.read_only:
        catalog.set_setting(key, value)


def read_view(catalog) -> tuple[View, list[str]]:
    """The saved view, and a notice for each stored value that failed and was reset (run it in a worker)."""
    view, notices = View(), []

    def reset(key: str, what: str, error: SynthSignError, default: str) -> None:
        notices.append(f"The saved {what} could not be used, so it was reset: {error}")
        if not catalog.read_only:
            catalog.set_setting(key, default)

    text = catalog.get_setting(FILTER)
    if text:
        try:
            check_filter(catalog, text)
            view.filter_text = text
        except SynthSignError as exc:
            reset(FILTER, "filter", exc, "")
    sort = catalog.get_setting(SORT)
    if sort:
        try:
            view.sort_key, view.descending = parse_sort(sort)
        except SynthSignError as exc:
            reset(SORT, "sort", exc, DEFAULT_SORT)
    columns = catalog.get_setting(COLUMNS_KEY)
    if columns:
        try:
            view.columns = parse_columns(columns)
        except SynthSignError as exc:
            reset(COLUMNS_KEY, "columns", exc, json.dumps(DEFAULT_COLUMNS))
    return view, notices
