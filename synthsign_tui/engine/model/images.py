"""Images as the classifier sees them: decoding, the one resize-and-crop transform, normalisation, and a
uint8 tensor cache so that each image is decoded and resized once per run, not once per epoch."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from synthsign_tui.errors import SynthSignError
from synthsign_tui.files import atomic_path, is_image
from synthsign_tui.imagefiles import UnreadableImage, open_image

if TYPE_CHECKING:
    from synthsign_tui.engine.context import RunContext

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def read_image(path: Path) -> torch.Tensor:
    """An RGB uint8 tensor [3, H, W] through the one safe loader; raises UnreadableImage saying why not."""
    return v2.functional.pil_to_tensor(open_image(path))


def fit_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to `size`, then centre-crop: the one input transform of training and evaluation."""
    image = v2.functional.resize(image, [size], antialias=True)
    return v2.functional.center_crop(image, [size, size])


def normalize(batch: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 [N, 3, S, S] on any device -> normalised float32, channels_last (faster convolutions on CPU and GPU)."""
    x = batch.float().div_(255)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return x.sub_(m).div_(s).contiguous(memory_format=torch.channels_last)


def eval_transform(meta: dict[str, Any]) -> v2.Compose:
    """PIL image or uint8 tensor -> the normalised float tensor a checkpoint expects (its `meta` from load_checkpoint)."""
    size = meta["image_size"]
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(size, antialias=True),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(meta["mean"], meta["std"]),
        ]
    )


def class_folder_images(root: Path, classes: list[str], what: str) -> list[tuple[Path, int]]:
    """(image, class index) for an ImageFolder whose subfolders are some of `classes`; other subfolders are errors."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in subdirs if p.name not in classes]
    if unknown:
        raise SynthSignError(
            f"{what} {root} has subfolder(s) {unknown} that are not classes of this run: name each subfolder after "
            f"one of {classes} (or use a flat folder of photos for predictions without accuracy)"
        )
    return [(path, classes.index(d.name)) for d in subdirs for path in sorted(d.rglob("*")) if is_image(path)]


def cached_images(
    paths: list[Path], size: int, cache_file: Path, ctx: RunContext | None = None
) -> tuple[torch.Tensor, dict[Path, str]]:
    """uint8 [N, 3, size, size] for the readable `paths`, and {unreadable path: reason}, decoding each once.

    The cache file maps sha1(file bytes) to the resized tensor; it only grows, so a resumed or repeated run
    decodes nothing it has seen. Memory: 150 KB per image at 224 px.
    """
    cached: dict[str, torch.Tensor] = {}
    if cache_file.exists():
        saved = torch.load(cache_file, weights_only=True)
        cached = dict(zip(saved["keys"], saved["images"], strict=True))
    keys = [hashlib.sha1(p.read_bytes()).hexdigest() for p in paths]
    todo = sorted({k: p for k, p in zip(keys, paths, strict=True) if k not in cached}.items())
    bad: dict[str, str] = {}
    last_report = 0.0
    for i, (key, path) in enumerate(todo):
        try:
            cached[key] = fit_square(read_image(path), size)
        except UnreadableImage as exc:
            bad[key] = str(exc)
            log.warning("skipping unreadable image %s: %s", path, exc)
        if ctx is not None:
            ctx.check_cancel()
            if time.time() - last_report > 0.5 or i + 1 == len(todo):
                last_report = time.time()
                ctx.emit("progress", stage="train", message=f"decoding images {i + 1}/{len(todo)}")
    if len(todo) > len(bad):
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_file) as tmp:
            torch.save({"keys": list(cached), "images": torch.stack(list(cached.values()))}, tmp)
    skipped = {p: bad[k] for k, p in zip(keys, paths, strict=True) if k in bad}
    images = [cached[k] for k in keys if k not in bad]
    return (torch.stack(images) if images else torch.empty(0, 3, size, size, dtype=torch.uint8)), skipped


class TensorImages(Dataset):
    """Cached uint8 images and their labels; `transform` augments one uint8 image (None: as cached)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: v2.Transform | None = None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[i]
        return (self.transform(image) if self.transform else image), self.labels[i]
