"""Images in the terminal: the thumbnails of generated images (half-blocks, or textual-image's graphics), and
photos with the boxes the model looked at drawn on them.

Every image shown goes through the one safe loader (`synthsign_tui.imagefiles`): a FIFO, a huge or broken
file shows as no image instead of blocking or crashing the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from synthsign_tui.imagefiles import UnreadableImage, open_image

if TYPE_CHECKING:
    from PIL import Image

PREVIEW_SIDE = 512  # pixels; a terminal cell grid never shows more


def preview(path: str | Path, boxes: list[dict] | None = None) -> Image.Image | None:
    """The image at `path` through the safe loader, with `boxes` drawn on it (`draw_boxes`), shrunk for the
    terminal; None when it cannot be shown.

    It reads and decodes the file: call it in a worker, never on the UI thread.
    """
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

    @dataclass
    class Decoded(Message):
        """The thumbnails' images, read by a worker (None: missing or unreadable)."""

        images: list[Any]

    def show(self, samples: list[Any]) -> None:
        """Captions at once; the images once a worker has read them."""
        for i in range(self.slots):
            box = self.query_one(f"#thumb-{i}")
            box.display = i < len(samples)
            if i < len(samples):
                sample = samples[i]
                text = Text(sample.label, style="bold")
                text.append(" " + (sample.prompt or Path(sample.path).name), style="dim")
                self.query_one(f"#thumb-caption-{i}", Static).update(text)
        self._read([sample.path for sample in samples[: self.slots]])

    @work(thread=True, exclusive=True, group="thumbnails", exit_on_error=False)
    def _read(self, paths: list[str]) -> None:
        images = [preview(path) for path in paths]
        if not get_current_worker().is_cancelled:
            self.post_message(self.Decoded(images))

    def on_thumbnails_decoded(self, message: Decoded) -> None:
        message.stop()
        for i, image in enumerate(message.images):
            self.query_one(f"#thumb-image-{i}").image = image
