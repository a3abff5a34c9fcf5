"""An image drawn with coloured half-blocks (`▀`), which every colour terminal shows.

textual-image asks the terminal what it supports when imported (hundreds of milliseconds in tmux, before the
first frame); this widget asks nothing, so the dashboard uses it whenever half-blocks are what would be drawn
anyway. Pillow is imported on the first image, not at start-up.
"""

from __future__ import annotations

import functools
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget


@functools.lru_cache(maxsize=64)
def _pixels(path: str, mtime: float, width: int, height: int) -> tuple[tuple[int, int, int], ...] | None:
    """RGB pixels of the image fitted (aspect kept, centred) into width x height pixels; None if unreadable."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            fitted = ImageOps.pad(img.convert("RGB"), (width, height), color=(0, 0, 0))
    except (OSError, ValueError):
        return None
    return tuple(fitted.getdata())


class HalfblockImage(Widget):
    """Shows `image` (a file path, or None for nothing) scaled into the widget, two pixels per cell."""

    DEFAULT_CSS = "HalfblockImage { width: 20; height: 8; }"

    def __init__(self, image: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._image = image

    @property
    def image(self) -> str | None:
        return self._image

    @image.setter
    def image(self, value: str | None) -> None:
        value = None if value is None else str(value)
        if value != self._image:
            self._image = value
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._image is None or width <= 0 or height <= 0:
            return Strip.blank(width)
        path = Path(self._image)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return Strip.blank(width)
        pixels = _pixels(str(path), mtime, width, height * 2)
        if pixels is None:
            return Strip.blank(width)
        top, bottom = (
            pixels[2 * y * width : (2 * y + 1) * width],
            pixels[(2 * y + 1) * width : (2 * y + 2) * width],
        )
        return Strip(
            [
                Segment("▀", Style(color=f"rgb({a[0]},{a[1]},{a[2]})", bgcolor=f"rgb({b[0]},{b[1]},{b[2]})"))
                for a, b in zip(top, bottom, strict=True)
            ],
            width,
        )
