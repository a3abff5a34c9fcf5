"""File-system helpers shared by every layer: which files are images, and writing a file atomically."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

# torchvision's ImageFolder extensions, kept here so that counting photos needs no torch import (a test checks
# that the two lists agree).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def is_image(path: Path) -> bool:
    """A visible file with an extension that ImageFolder reads."""
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


TEMP_MARK = ".tmp-"  # in the names `atomic_path` writes to: `.<name>.tmp-<pid>-<thread>`


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary files that a killed writer left in `folder` (not below it); returns them.

    Call it only while no other process writes there (a run's owner, on resume)."""
    stale = sorted(Path(folder).glob(f".*{TEMP_MARK}*")) if Path(folder).is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` to write to; renamed to `path` when the block ends without error.

    On any error or interrupt the temporary file is removed, so a crash never leaves a half-written file under
    the final name, nor a stray temporary one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}-{threading.get_ident()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write `content` to `path` through `atomic_path`, synced to disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(content.encode() if isinstance(content, str) else content)
        f.flush()
        os.fsync(f.fileno())
