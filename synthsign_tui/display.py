"""How values read on screen: percentages, durations, times, coloured statuses. Shared by every screen."""

from __future__ import annotations

import time

from rich.text import Text

STATUS_STYLES = {
    "queued": "blue",
    "running": "bold yellow",
    "done": "green",
    "failed": "bold red",
    "cancelled": "magenta",
    "interrupted": "bold magenta",
}
# one fixed colour per compared run, as 256-colour numbers that plotext and rich (`color(N)`) both draw
RUN_COLORS = (45, 208, 40, 201, 226, 33, 196, 250)


def run_color(index: int) -> int:
    return RUN_COLORS[index % len(RUN_COLORS)]


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def points(value: float | None) -> str:
    """A difference of two fractions, in percentage points."""
    return "–" if value is None else f"{100 * value:+.1f} pt"


def num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {s:02d}s"
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m:02d}m"


def stamp(ts: float | None, now: float | None = None) -> str:
    """A local date and time to the minute; without the year when it is this year's (as of `now`)."""
    if ts is None:
        return "–"
    local = time.localtime(ts)
    if now is not None and local.tm_year == time.localtime(now).tm_year:
        return time.strftime("%m-%d %H:%M", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def rate(value: float | None, unit: str) -> str:
    return "" if not value else f"{value:.1f} {unit}/s"


def short_model(generator: str | None, model: str | None) -> str:
    if generator == "procedural" or not model:
        return generator or "–"
    return model.rsplit("/", 1)[-1]
