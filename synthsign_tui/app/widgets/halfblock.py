"""An image drawn with coloured half-blocks (`▀`), which every colour terminal shows.

textual-image asks the terminal what it supports when imported (hundreds of milliseconds in tmux, before the
first frame); this widget asks nothing, so the dashboard uses it whenever half-blocks are what would be drawn
anyway. It shows what `images.preview` returns (an already safely loaded Pillow image), or a file path;
Pillow is imported on the first image, not at start-up.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

Pixels = tuple[tuple[int, int, int], ...]


def fit(image: Any, width: int, height: int) -> Pixels | None:
    """RGB pixels of `image` (a Pillow image or a path) fitted, aspect kept and centred, into width x height."""
    from PIL import Image, ImageOps

    try:
        if isinstance(image, Image.Image):
            source = image
        else:
            from synthsign_tui.imagefiles import UnreadableImage, open_image

            try:
                source = open_image(image)
            except UnreadableImage:
                return None
        fitted = ImageOps.pad(source.convert("RGB"), (width, height), color=(0, 0, 0))
    except (OSError, ValueError):
        return None
    return tuple(fitted.getdata())


class HalfblockImage(Widget):
    """Shows `image` (a Pillow image, a file path, or None for nothing) scaled into the widget."""

    DEFAULT_CSS = "HalfblockImage { width: 20; height: 8; }"

    def __init__(self, image: Any = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._image = image
        self._fitted: tuple[int, int, Pixels | None] | None = None  # (width, height, pixels) of this image

    @property
    def image(self) -> Any:
        return self._image

    @image.setter
    def image(self, value: Any) -> None:
        if value is not self._image:
            self._image, self._fitted = value, None
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._image is None or width <= 0 or height <= 0:
            return Strip.blank(width)
        if self._fitted is None or self._fitted[:2] != (width, height):
            self._fitted = (width, height, fit(self._image, width, height * 2))
        pixels = self._fitted[2]
        if pixels is None:
            return Strip.blank(width)
        top = pixels[2 * y * width : (2 * y + 1) * width]
        bottom = pixels[(2 * y + 1) * width : (2 * y + 2) * width]
        return Strip(
            [
                Segment("▀", Style(color=f"rgb({a[0]},{a[1]},{a[2]})", bgcolor=f"rgb({b[0]},{b[1]},{b[2]})"))
                for a, b in zip(top, bottom, strict=True)
            ],
            width,
        )
