"""Messages that worker threads and screens post upward."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from synthsign_tui.catalog import Catalog


class CatalogReady(Message):
    """The catalog file is open (and stale runs are marked interrupted)."""

    def __init__(self, catalog: Catalog, interrupted: list[int]) -> None:
        super().__init__()
        self.catalog = catalog
        self.interrupted = interrupted


class CatalogChanged(Message):
    """A screen changed the catalog (tags, archive, delete); the runs table reloads."""


class Loaded(Message):
    """The result of a screen's background read, handed back to the UI thread."""

    def __init__(self, what: str, data: Any) -> None:
        super().__init__()
        self.what = what
        self.data = data
