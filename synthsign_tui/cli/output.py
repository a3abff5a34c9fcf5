"""What the command line prints with: consoles that end quietly on a closed pipe, tables that never read
user text as markup, and the number formats of its tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text


class _Console(Console):
    def on_broken_pipe(self) -> None:  # rich exits 1 here; main() stops quietly with 141 like print() does
        self.quiet = True
        raise BrokenPipeError


console = _Console()
err_console = _Console(stderr=True)


class Table(RichTable):
    """A rich Table whose plain-string headers and cells are text, never markup: run names, class names and
    paths come from users ("[/x]" would otherwise stop the command with a MarkupError)."""

    def __init__(self, *headers: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for header in headers:
            self.add_column(Text(header))

    def add_row(self, *cells: Any, **kwargs: Any) -> None:
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kwargs)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
