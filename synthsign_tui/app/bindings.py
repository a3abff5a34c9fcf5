"""The one key table: every screen takes its bindings from here, and the help overlay prints it.

A key listed for several screens does the matching thing on each. Keys not shown in the footer still appear
in the help overlay, so the footer stays short.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class Key:
    key: str
    action: str
    description: str
    screens: tuple[str, ...]
    footer: bool = True
    priority: bool = False
    display: str | None = None
    bind: bool = True  # False: a row of the help overlay only, standing for keys listed with help=False
    help: bool = True


KEYS: tuple[Key, ...] = (
    Key("n", "new_run", "New run", ("runs",)),
    Key("1-9", "", "New run from a preset of the welcome list", ("runs",), footer=False, bind=False),
    *(
        Key(str(i), f"preset_form({i})", f"Preset {i}", ("runs",), footer=False, help=False)
        for i in range(1, 10)
    ),
    Key("enter", "open_run", "Open", ("runs",), display="⏎"),
    Key("space", "mark", "Mark", ("runs",)),
    Key("c", "compare", "Compare", ("runs",)),
    Key("slash", "filter", "Filter", ("runs",), display="/"),
    Key("r", "resume", "Resume", ("runs", "run")),
    Key("d", "delete", "Delete", ("runs",)),
    Key("N", "clone", "Clone into form", ("runs", "run"), footer=False),
    Key("t", "edit_tags", "Tags & notes", ("runs", "run"), footer=False),
    Key("a", "archive", "Archive/restore", ("runs",), footer=False),
    Key("s", "sort_next", "Sort by next column", ("runs",), footer=False),
    Key("S", "sort_reverse", "Reverse sort", ("runs",), footer=False),
    Key("v", "columns", "Choose columns", ("runs",), footer=False),
    Key("e", "export", "Export CSV/JSON", ("runs", "run"), footer=False),
    Key("1-4", "", "Tab: Training, Results, Predictions, Log", ("run",), footer=False, bind=False),
    Key("1-3", "", "Tab: Config, Metrics, Curves", ("compare",), footer=False, bind=False),
    *(
        Key(str(i), f"tab({i})", f"Tab {i}", ("run", "compare"), footer=False, help=False)
        for i in range(1, 5)
    ),
    Key("x", "cancel_run", "Cancel run", ("run",)),
    Key("l", "log_scale", "Log scale (loss)", ("run", "compare")),
    Key("k", "all_keys", "All config keys", ("compare",)),
    Key("ctrl+s", "launch", "Launch", ("form",), priority=True),
    Key("escape", "back", "Back", ("run", "form", "compare"), display="esc"),
    Key("question_mark", "help", "Help", ("app",), display="?"),
    Key("q", "quit", "Quit", ("app",)),
)

SCREEN_TITLES = {
    "app": "Everywhere",
    "runs": "Runs",
    "form": "New run form",
    "run": "Run screen",
    "compare": "Compare",
}


def bindings_for(screen: str) -> list[BindingType]:
    return [
        Binding(k.key, k.action, k.description, show=k.footer, priority=k.priority, key_display=k.display)
        for k in KEYS
        if screen in k.screens and k.bind
    ]


def help_rows() -> list[tuple[str, str, str]]:
    """(where, key, what) for the help overlay, in table order."""
    return [
        (SCREEN_TITLES[screen], k.display or k.key, k.description)
        for screen in SCREEN_TITLES
        for k in KEYS
        if screen in k.screens and k.help
    ]
