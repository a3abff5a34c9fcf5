"""The run filter language shared by the dashboard and `synthsign runs --filter`.

A filter is words separated by spaces, all of which must hold:

    real_acc>0.9 generator=procedural status:done tag:baseline train.lr<0.01 "stop sign" -archived

- `field OP value` with OP one of `= : != > >= < <=` compares a headline column of the `runs` table
  (`:` means "contains" for text fields, `=` equality); numbers may end in `%` (`real_acc>90%`);
  `none` matches a missing value (`real_acc=none`).
- a dotted config key (`train.lr<0.01`, `generator.steps=8`) compares the run's saved config through
  `json_extract(config_json, '$.train.lr')`.
- `tag:x` matches runs tagged x; `is:archived` shows archived runs (hidden otherwise), `is:marked` is
  left to the caller.
- a bare word matches name, tags, notes, model or generator; a leading `-` negates any term.

`parse` turns the text into SQLAlchemy conditions, or raises `QueryError` saying what was wrong and how to
write it; `statement` builds the whole select with sorting. Nothing here imports the UI.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from synthsign_tui.catalog.tables import Run
from synthsign_tui.errors import SynthSignError, shorten

# filter/sort name -> Run column. Several names may point at one column.
FIELDS: dict[str, str] = {
    "id": "id",
    "name": "name",
    "status": "status",
    "stage": "stage",
    "preset": "preset",
    "generator": "generator_kind",
    "model": "model",
    "images": "gen_images",
    "images_per_class": "images_per_class",
    "epochs": "epochs_done",
    "epochs_planned": "epochs_planned",
    "image_size": "image_size",
    "seed": "seed",
    "val_acc": "val_acc",
    "syn_acc": "val_acc",
    "best_val_acc": "best_val_acc",
    "before_val_acc": "before_val_acc",
    "real_acc": "real_acc",
    "real_bal_acc": "real_bal_acc",
    "bal_acc": "real_bal_acc",
    "before_real_bal_acc": "before_real_bal_acc",
    "gap": "gap",
    "train_loss": "train_loss",
    "val_loss": "val_loss",
    "duration": "duration_s",
    "created": "created_at",
    "started": "started_at",
    "finished": "finished_at",
    "updated": "updated_at",
    "tags": "tags",
    "notes": "notes",
    "device": "device",
    "host": "host",
    "error": "error",
}
TEXT_COLUMNS = {
    "name", "status", "stage", "preset", "generator_kind", "model", "tags", "notes", "device", "host", "error",
}  # fmt: skip
TIME_COLUMNS = {"created_at", "started_at", "finished_at", "updated_at"}
SEARCH_COLUMNS = ("name", "tags", "notes", "model", "generator_kind", "preset")
MAX_FILTER_CHARS = 2000  # SQLite refuses LIKE patterns over 50,000 bytes and expression trees over 1,000 deep
MAX_TERMS = 64
_TERM = re.compile(r"^(?P<key>[A-Za-z_][\w.\[\]]*)\s*(?P<op>>=|<=|!=|=|:|>|<)(?P<value>.*)$")


class QueryError(SynthSignError):
    """A filter that cannot be read; the message says which word and how to fix it."""


@dataclass
class Filter:
    """A parsed filter: SQL conditions plus the flags the SQL cannot express alone."""

    conditions: list[ColumnElement] = field(default_factory=list)
    include_archived: bool = False
    marked_only: bool = False


def parse(text: str) -> Filter:
    """Read a filter; raise QueryError for the first word that is not understood, or a filter too long."""
    text = text or ""
    if len(text) > MAX_FILTER_CHARS:
        raise QueryError(
            f"the filter is {len(text):,} characters long; at most {MAX_FILTER_CHARS:,} are read: shorten it"
        )
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise QueryError(f"filter {shorten(text)}: {exc} (close the quote)") from None
    if len(words) > MAX_TERMS:
        raise QueryError(
            f"the filter has {len(words):,} words; at most {MAX_TERMS} are combined: keep the ones that matter"
        )
    out = Filter()
    for word in words:
        negate = word.startswith("-") and len(word) > 1
        term = word[1:] if negate else word
        if term.lower() in ("is:archived", "archived", "archived:yes"):
            out.include_archived = True
            cond = Run.archived == (not negate)
            out.conditions.append(cond)
            continue
        if term.lower() == "is:marked":
            out.marked_only = True
            continue
        cond = _term(term)
        out.conditions.append(not_(cond) if negate else cond)
    return out


def statement(
    text: str = "",
    *,
    order_by: str = "created",
    descending: bool = True,
    include_archived: bool = False,
    columns: tuple[Any, ...] | None = None,
):
    """SELECT runs (or the given columns) matching `text`, sorted by a FIELDS name; archived hidden unless asked."""
    flt = parse(text)
    query = select(*columns) if columns else select(Run)
    if not (include_archived or flt.include_archived):
        query = query.where(Run.archived == False)  # noqa: E712 (SQL expression)
    if flt.conditions:
        query = query.where(and_(*flt.conditions))
    column = sort_column(order_by)
    # NULLs last either way: a run without a metric is never the "best" one
    query = query.order_by(column.is_(None), column.desc() if descending else column.asc(), Run.id.desc())
    return query


def count_statement(text: str = "", *, include_archived: bool = False):
    flt = parse(text)
    query = select(func.count()).select_from(Run)
    if not (include_archived or flt.include_archived):
        query = query.where(Run.archived == False)  # noqa: E712
    if flt.conditions:
        query = query.where(and_(*flt.conditions))
    return query


def sort_column(name: str):
    column = FIELDS.get(name, name)
    if column not in Run.__table__.columns or column == "config_json":
        raise QueryError(f"cannot sort by {shorten(name)}: choose one of {', '.join(sorted(FIELDS))}")
    return getattr(Run, column)


def _term(term: str) -> ColumnElement:
    m = _TERM.match(term)
    if not m:
        pattern = f"%{_escape_like(term)}%"
        return or_(*(getattr(Run, c).ilike(pattern, escape="\\") for c in SEARCH_COLUMNS))
    key, op, raw = m["key"].lower(), m["op"], m["value"].strip()
    if raw == "":
        raise QueryError(
            f"{shorten(term)}: no value after {op!r}; write e.g. {shorten(key)}{op}0.9 or {shorten(key)}{op}procedural"
        )
    if "." in key:
        return _config_term(term, m["key"], op, raw)
    if key in ("tag", "tags") and op in (":", "="):
        tags = func.coalesce(Run.tags, "")
        return ("," + tags + ",").like(f"%,{_escape_like(raw)},%", escape="\\")
    if key not in FIELDS:
        close = difflib.get_close_matches(key, [*FIELDS, "tag"], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise QueryError(
            f"{shorten(term)}: unknown field {shorten(key)}{hint} Fields: {', '.join(sorted(set(FIELDS)))}, tag, or a "
            "config key like train.lr"
        )
    column_name = FIELDS[key]
    column = getattr(Run, column_name)
    if raw.lower() in ("none", "null"):
        if op in ("=", ":"):
            return column.is_(None)
        if op == "!=":
            return column.is_not(None)
        raise QueryError(f"{shorten(term)}: only = and != compare with none")
    if column_name in TEXT_COLUMNS:
        return _text_compare(term, column, op, raw)
    value = _time(term, raw) if column_name in TIME_COLUMNS else _number(term, key, raw)
    return _compare(column, op, value)


def _config_term(term: str, key: str, op: str, raw: str) -> ColumnElement:
    from synthsign_tui.config import RunConfig, known_keys

    known = known_keys(RunConfig)
    section = next(
        (p for p in ("train.extra_sources.", "evaluate.extra_real.") if key.lower().startswith(p)), ""
    )
    if section:
        # a folder name or evaluation name the user chose: one quoted JSON path label, case kept
        name = key[len(section) :]
        if not name:
            raise QueryError(f"{shorten(term)}: name the entry after {section!r}, e.g. {section}photos>0.5")
        path = f'$.{section}"{name}"'
    elif key.lower() in known:
        path = "$." + key.lower()
    else:
        close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise QueryError(f"{shorten(term)}: {shorten(key)} is not a config key{hint}")
    value_expr = func.json_extract(Run.config_json, path)
    if raw.lower() in ("none", "null") and op in ("=", ":", "!="):
        # config values may be the string "none" (train.weights) as well as missing
        missing = or_(value_expr.is_(None), func.lower(value_expr) == raw.lower())
        return not_(missing) if op == "!=" else missing
    if raw.lower() in ("true", "false"):
        return _compare(value_expr, op, 1 if raw.lower() == "true" else 0)
    try:
        number = _number(term, key, raw)
    except QueryError:
        return _text_compare(term, value_expr, op, raw)
    return _compare(value_expr, op, number)


def _text_compare(term: str, column, op: str, raw: str) -> ColumnElement:
    if op == ":":
        return column.ilike(f"%{_escape_like(raw)}%", escape="\\")
    if op == "=":
        return func.lower(column) == raw.lower()
    if op == "!=":
        return or_(column.is_(None), func.lower(column) != raw.lower())
    return _compare(column, op, raw)


def _compare(column, op: str, value: Any) -> ColumnElement:
    if op in ("=", ":"):
        return column == value
    if op == "!=":
        return or_(column.is_(None), column != value)
    return {">": column > value, ">=": column >= value, "<": column < value, "<=": column <= value}[op]


def _number(term: str, key: str, raw: str) -> float:
    text = raw.rstrip("%")
    try:
        value = float(text)
    except ValueError:
        raise QueryError(
            f"{shorten(term)}: {key} takes a number (e.g. {key}>0.9 or {key}>90%), not {shorten(raw)}"
        ) from None
    return value / 100 if raw.endswith("%") else value


def _time(term: str, raw: str) -> float:
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError:
        raise QueryError(
            f"{shorten(term)}: dates are written 2025-01-31 or 2025-01-31T14:00, not {shorten(raw)}"
        ) from None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
