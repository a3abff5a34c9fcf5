"""Images in the terminal: the thumbnails of generated images (textual-image picks half-blocks or graphics).

Every image shown goes through the one safe loader (`synthsign_tui.imagefiles`): a FIFO, a huge or broken
file shows as no image instead of blocking or crashing the dashboard.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Static

from synthsign_tui.imagefiles import UnreadableImage, open_image

if TYPE_CHECKING:
    from PIL import Image

PREVIEW_SIDE = 512  # pixels; a terminal cell grid never shows more


def preview(path: str | Path) -> Image.Image | None:
    """The image at `path` through the safe loader, shrunk for the terminal; None when it cannot be shown."""
    try:
        image = open_image(path)
    except UnreadableImage:
        return None
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return image


def image_class(mode: str):
    """The textual-image widget for a mode: auto (detect), halfblock (works everywhere) or graphics."""
    from textual_image import widget

    if mode == "halfblock":
        return widget.HalfcellImage
    if mode == "graphics":
        from textual_image.renderable import Image as AutoRenderable
        from textual_image.renderable.sixel import Image as SixelRenderable

        return widget.SixelImage if AutoRenderable is SixelRenderable else widget.TGPImage
    return widget.Image


class Thumbnails(Grid):
    """The newest generated images with their class and prompt."""

    def __init__(self, mode: str, slots: int = 6, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mode, self.slots = mode, slots

    def compose(self) -> ComposeResult:
        image = image_class(self.mode)
        for i in range(self.slots):
            with Vertical(classes="thumb", id=f"thumb-{i}"):
                yield image(id=f"thumb-image-{i}", classes="thumb-image")
                yield Static("", id=f"thumb-caption-{i}", classes="thumb-caption")

    def show(self, samples: list) -> None:
        for i in range(self.slots):
            box = self.query_one(f"#thumb-{i}")
            if i >= len(samples):
                box.display = False
                continue
            sample = samples[i]
            box.display = True
            image = self.query_one(f"#thumb-image-{i}")
            caption = self.query_one(f"#thumb-caption-{i}", Static)
            path = Path(sample.path)
            image.image = preview(path)
            text = Text(sample.label, style="bold")
            text.append(" " + (sample.prompt or path.name), style="dim")
            caption.update(text)
