"""The runs table's columns: label, the query field it sorts by, and how a row's cell reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from synthsign_tui import display as fmt
from synthsign_tui.catalog import display_status
from synthsign_tui.vocab import STAGES


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort: str  # a query.FIELDS name
    cell: Callable[[Any, float], Any]
    default: bool = True
    min_width: int = 0
    max_width: int = 28


def plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _epochs(r, _now):
    return f"{r.epochs_done}/{r.epochs_planned}" if r.epochs_planned else str(r.epochs_done)


def _duration(r, now):
    if r.started_at and row_status(r, now) == "running":
        return fmt.duration((r.duration_s or 0) + now - max(r.started_at, r.finished_at or 0))
    return fmt.duration(r.duration_s)


def _status(r, now) -> Text:
    """A run stopped early on purpose (`--until generate`) says where: "done (generate)"."""
    status = row_status(r, now)
    text = fmt.status_text(status)
    if status == "done" and r.stage and r.stage != STAGES[-1]:
        text.append(f" ({r.stage})", style="dim")
    return text


COLUMNS: tuple[Column, ...] = (
    Column("id", "#", "id", lambda r, _: str(r.id)),  # marked runs get a ● here (see RunsScreen._cells)
    Column("name", "name", "name", lambda r, _: r.name, max_width=24),
    Column("status", "status", "status", lambda r, now: _status(r, now), min_width=11),
    Column("generator", "generator", "model", lambda r, _: fmt.short_model(r.generator_kind, r.model)),
    Column("images", "images", "images", lambda r, _: f"{r.gen_images:,}", False),
    Column("epochs", "epochs", "epochs", _epochs, min_width=5),
    Column("val_acc", "syn val", "val_acc", lambda r, _: fmt.pct(r.val_acc)),
    Column("real_bal_acc", "real bal", "real_bal_acc", lambda r, _: fmt.pct(r.real_bal_acc)),
    Column("gap", "gap pt", "gap", lambda r, _: "–" if r.gap is None else f"{100 * r.gap:+.1f}", min_width=6),
    Column("duration", "time", "duration", _duration, min_width=6),
    Column("started", "started", "started", lambda r, now: fmt.stamp(r.started_at, now)),
    Column("tags", "tags", "tags", lambda r, _: r.tags.replace(",", " ")),
    Column("real_acc", "real acc", "real_acc", lambda r, _: fmt.pct(r.real_acc), False),
    Column("before_val_acc", "syn before", "before_val_acc", lambda r, _: fmt.pct(r.before_val_acc), False),
    Column(
        "before_real",
        "real before",
        "before_real_bal_acc",
        lambda r, _: fmt.pct(r.before_real_bal_acc),
        False,
    ),
    Column("val_loss", "val loss", "val_loss", lambda r, _: fmt.num(r.val_loss), False),
    Column("preset", "preset", "preset", lambda r, _: r.preset or "–", False),
    Column("seed", "seed", "seed", lambda r, _: fmt.num(r.seed), False),
    Column("image_size", "px", "image_size", lambda r, _: fmt.num(r.image_size), False),
    Column("created", "created", "created", lambda r, _: fmt.stamp(r.created_at), False),
    Column(
        "notes", "notes", "notes", lambda r, _: (r.notes or "").splitlines()[0][:40] if r.notes else "", False
    ),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
CONFIG_PREFIX = "config:"  # a column key "config:train.lr" shows that config value; its sort is the same key


def _config_value(row, key: str) -> str:
    value: Any = json.loads(row.config_json or "{}")
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "–"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def column(key: str) -> Column | None:
    """The column for a key: a built-in one, or `config:SECTION.KEY` for any config value; None if unknown."""
    if key.startswith(CONFIG_PREFIX):
        name = key.removeprefix(CONFIG_PREFIX)
        return Column(key, name, key, _config_cell(name), default=False)
    return COLUMN_BY_KEY.get(key)


def known_column(key: str) -> Column:
    """`column` for a key the table already shows (checked when the settings were read)."""
    found = column(key)
    if found is None:
        raise KeyError(f"unknown runs column {key!r}")
    return found


def _config_cell(name: str) -> Callable[[Any, float], Any]:
    return lambda row, _now: _config_value(row, name)


DEFAULT_COLUMNS = [c.key for c in COLUMNS if c.default]
ROW_FIELDS = (
    "id", "name", "status", "stage", "heartbeat_at", "generator_kind", "model", "gen_images", "epochs_done",
    "epochs_planned", "val_acc", "real_acc", "real_bal_acc", "before_val_acc", "before_real_bal_acc", "gap",
    "val_loss", "duration_s", "started_at", "finished_at", "created_at", "updated_at", "tags", "notes", "preset",
    "seed", "image_size", "archived", "pid", "owner_host", "owner_start", "config_json",
)  # fmt: skip


def row_status(row, now: float) -> str:
    return display_status(
        row.status, row.heartbeat_at, now, pid=row.pid, owner_host=row.owner_host, owner_start=row.owner_start
    )
