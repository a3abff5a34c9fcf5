"""Messages that worker threads and screens post upward, and the relay that throttles a run's events."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from textual.app import App

    from synthsign_tui.catalog import Catalog
    from synthsign_tui.engine import Event

MAX_UPDATES_PER_S = 5  # progress bars move smoothly at 5; each update costs the training run CPU


class CatalogReady(Message):
    """The catalog file is open (and stale runs are marked interrupted)."""

    def __init__(self, catalog: Catalog, interrupted: list[int]) -> None:
        super().__init__()
        self.catalog = catalog
        self.interrupted = interrupted


class RunStarted(Message):
    """A run began executing in this process; `run_id` is known from here on."""

    def __init__(self, run_id: int, resumed: bool) -> None:
        super().__init__()
        self.run_id = run_id
        self.resumed = resumed


class RunFinished(Message):
    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id


class RunEvents(Message):
    """A batch of engine events of one run (at most MAX_UPDATES_PER_S batches a second)."""

    def __init__(self, run_id: int, events: list[Event]) -> None:
        super().__init__()
        self.run_id = run_id
        self.events = events


class CatalogChanged(Message):
    """A screen changed the catalog (tags, archive, delete); the runs table reloads."""


class Loaded(Message):
    """The result of a screen's background read, handed back to the UI thread."""

    def __init__(self, what: str, data: Any) -> None:
        super().__init__()
        self.what = what
        self.data = data


class EventRelay:
    """The engine's `on_event`: called in the run's thread, posts batches to the app at most 5 times a second.

    Only the newest progress event of each stage is kept between batches; status events go out at once.
    `flush` is also called by an app timer, so the last events of a quiet spell are not held back.
    """

    def __init__(self, app: App, run_id: int) -> None:
        self.app = app
        self.run_id = run_id
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.kind == "progress":
                self._pending = [
                    e for e in self._pending if not (e.kind == "progress" and e.stage == event.stage)
                ]
            self._pending.append(event)
            due = time.monotonic() - self._last >= 1 / MAX_UPDATES_PER_S
        if due or event.kind == "status":
            self.flush()

    def flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
            if events:
                self._last = time.monotonic()
        if events:
            self.app.post_message(RunEvents(self.run_id, events))
