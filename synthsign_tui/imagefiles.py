"""The one safe way to open an image file, used by evaluation, `predict` and the dashboard's previews.

Photos come from users and the internet, so nothing about them is trusted: only regular files are opened (a
FIFO would block forever, a device could be endless), the size in the header is checked against a pixel
limit and an aspect-ratio limit before a single pixel is decoded (a 48 KB PNG can claim 20000x20000 pixels,
a 1x100000 strip can need gigabytes), and any failure to decode becomes `UnreadableImage` with a short
reason, which callers report as "skipped: <reason>" and go on with the other files.
"""

from __future__ import annotations

import os
import stat
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

MAX_PIXELS = 64_000_000  # an 8000x8000 photo; decoding it to RGB takes 192 MB
MAX_ASPECT = 20.0  # longer side / shorter side; a road-sign photo is never a 20:1 strip
_REASON_CHARS = 200


class UnreadableImage(ValueError):
    """A file that is not an image this program will decode; str() is the reason, for "skipped: <reason>"."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    ):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def _cut(text: str) -> str:
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS, max_aspect: float = MAX_ASPECT) -> None:
    """Raise UnreadableImage for a header size that is empty, too many pixels or too long and thin."""
    if width <= 0 or height <= 0:
        raise UnreadableImage(f"the header says {width}x{height} pixels: an empty image")
    if width * height > max_pixels:
        raise UnreadableImage(
            f"{width}x{height} pixels is over the limit of {max_pixels:,} pixels: scale the photo down"
        )
    if max(width, height) / min(width, height) > max_aspect:
        raise UnreadableImage(
            f"{width}x{height} pixels is longer than {max_aspect:g}:1: crop the photo to the sign"
        )


def open_image(
    path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS, max_aspect: float = MAX_ASPECT
) -> Image.Image:
    """The file decoded as an RGB PIL image, or UnreadableImage saying why not (never another exception)."""
    from PIL import Image

    try:
        # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; fstat then refuses it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UnreadableImage(_cut(f"cannot open: {exc.strerror or exc}")) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnreadableImage(f"{_kind(info.st_mode)}, not an image file")
    with os.fdopen(fd, "rb") as f:
        if info.st_size == 0:
            raise UnreadableImage("an empty file (0 bytes)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(f)
        except Image.DecompressionBombError:  # Pillow's own guard, at twice its MAX_IMAGE_PIXELS
            raise UnreadableImage(
                f"the header claims more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels, over the limit of "
                f"{max_pixels:,} pixels: scale the photo down"
            ) from None
        except Image.UnidentifiedImageError:
            raise UnreadableImage(
                "not an image this program reads (no PNG, JPEG, WebP, BMP, PPM/PGM or TIFF header)"
            ) from None
        except Exception as exc:  # noqa: BLE001 (any failure of a decoder on untrusted bytes is a reason)
            raise UnreadableImage(_cut(f"not an image this program reads ({_describe(exc)})")) from None
        with im:
            check_size(*im.size, max_pixels=max_pixels, max_aspect=max_aspect)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    return im.convert("RGB")
            except Exception as exc:  # noqa: BLE001 (truncated data, bad chunks, unsupported modes)
                raise UnreadableImage(_cut(f"cannot decode it: {_describe(exc)}")) from None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
