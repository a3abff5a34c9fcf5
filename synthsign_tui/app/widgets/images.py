"""Images in the terminal: the thumbnails of generated images (half-blocks, or textual-image's graphics), and
photos with the boxes the model looked at drawn on them.

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


def preview(path: str | Path, boxes: list[dict] | None = None) -> Image.Image | None:
    """The image at `path` through the safe loader, with `boxes` drawn on it (`draw_boxes`), shrunk for the
    terminal; None when it cannot be shown."""
    try:
        image = open_image(path)
    except UnreadableImage:
        return None
    if boxes:
        draw_boxes(image, boxes)
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return image


def image_class(mode: str):
    """The image widget for a mode: auto (textual-image detects), halfblock (works everywhere) or graphics."""
    if mode == "halfblock":
        from synthsign_tui.app.widgets.halfblock import HalfblockImage

        return HalfblockImage
    from textual_image import widget

    if mode == "graphics":
        from textual_image.renderable import Image as AutoRenderable
        from textual_image.renderable.sixel import Image as SixelRenderable

        return widget.SixelImage if AutoRenderable is SixelRenderable else widget.TGPImage
    return widget.Image


CHOSEN_BOX = (255, 220, 0)  # the box that decided the prediction: yellow, visible on red and on grey
OTHER_BOX = (0, 200, 255)  # the other boxes looked at


def draw_boxes(image: Image.Image, boxes: list[dict]) -> None:
    """Draws a prediction's boxes ([x, y, w, h] in the photo's pixels) on the RGB photo, in place: the chosen one
    thick, the others thin; lines scale with the photo so that they survive the terminal's downscaling."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 80))
    for box in sorted(boxes, key=lambda b: bool(b.get("chosen"))):  # the chosen one last, on top
        x, y, w, h = box["bbox"]
        chosen = bool(box.get("chosen"))
        draw.rectangle((x, y, x + w, y + h), outline=CHOSEN_BOX if chosen else OTHER_BOX,
                       width=width if chosen else max(1, width // 2))  # fmt: skip


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
