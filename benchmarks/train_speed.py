"""Training throughput: SynthSign's loop (decode once, uint8 tensor cache, channels_last, accelerate) beside a
torchvision-reference-style loop (ImageFolder + transforms, decoding every image every epoch, NCHW).

Both train a ResNet18 from scratch on the same generated PNGs with the same batch size and optimizer.
Usage: .venv/bin/python benchmarks/train_speed.py [--images 128] [--source-size 512] [--sizes 224 128]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from PIL import Image, ImageDraw
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, models
from torchvision import transforms as T

from synthsign_tui.engine.model.classifier import build_model
from synthsign_tui.engine.model.images import IMAGENET_MEAN, IMAGENET_STD, TensorImages, cached_images
from synthsign_tui.engine.stages.train import EpochShuffle, train_augment, train_one_epoch


def write_images(root: Path, n: int, size: int) -> None:
    """n PNGs in two classes: a red octagon or a yellow triangle on a noisy background."""
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        cls = ("stop", "warning")[i % 2]
        noise = torch.randint(0, 256, (size // 8, size // 8, 3), generator=g, dtype=torch.uint8).numpy()
        image = Image.fromarray(noise).resize((size, size), Image.BILINEAR)
        draw = ImageDraw.Draw(image)
        r = int(size * (0.2 + 0.2 * torch.rand(1, generator=g).item()))
        cx, cy = (int(size * (0.3 + 0.4 * torch.rand(1, generator=g).item())) for _ in range(2))
        if cls == "stop":
            draw.regular_polygon((cx, cy, r), 8, fill=(200, 20, 30))
        else:
            draw.regular_polygon(
                (cx, cy, r), 3, fill=(240, 200, 20), outline=(200, 20, 30), width=max(1, r // 8)
            )
        (root / cls).mkdir(parents=True, exist_ok=True)
        image.save(root / cls / f"{i:04d}.png")


def ours(root: Path, size: int, batch: int, cache_dir: Path):
    """(seconds to decode and cache every image once, a function that trains one epoch)."""
    from accelerate import Accelerator

    started = time.perf_counter()
    files = sorted(root.rglob("*.png"))
    images, _ = cached_images(files, size, cache_dir / f"images-{size}.pt")
    labels = torch.tensor([0 if p.parent.name == "stop" else 1 for p in files])
    decode = time.perf_counter() - started
    cfg = SimpleNamespace(
        image_size=size, random_resized_crop=1.0, hflip=True, color_jitter=0.0, blur=0.0, grayscale=0.0
    )
    loader = DataLoader(
        TensorImages(images, labels, train_augment(cfg)),
        batch_size=batch,
        sampler=EpochShuffle(len(labels), 0),
    )
    accelerator = Accelerator(mixed_precision="no")
    model = build_model(2, "none", 0).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    criterion = nn.CrossEntropyLoss()

    def epoch(n: int) -> None:
        loader.set_epoch(n)
        train_one_epoch(
            model, loader, criterion, optimizer, scheduler, accelerator, IMAGENET_MEAN, IMAGENET_STD
        )

    return decode, epoch


def reference(root: Path, size: int, batch: int):
    """(0, a function that trains one epoch the torchvision-reference way: decode and transform every image)."""
    transform = T.Compose(
        [
            T.Resize(size),
            T.CenterCrop(size),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    loader = DataLoader(
        datasets.ImageFolder(root, transform=transform), batch_size=batch, shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    torch.manual_seed(0)
    model = models.resnet18(num_classes=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()

    def epoch(n: int) -> None:
        model.train()
        for x, y in loader:
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return 0.0, epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--source-size", type=int, default=512, help="generated PNG side in pixels")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 128])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_images(root, args.images, args.source_size)
        print(
            f"{args.images} PNGs of {args.source_size} px, batch {args.batch_size}, {args.epochs} epochs, "
            f"{torch.get_num_threads()} threads, torch {torch.__version__}"
        )
        print(f"{'size':>5} {'loop':<28} {'decode once':>11} {'epoch s':>9} {'images/s':>9} {'speed-up':>8}")
        for size in args.sizes:
            loops = {
                "synthsign (cached, NHWC)": ours(root, size, args.batch_size, Path(tmp) / "cache"),
                "reference (ImageFolder)": reference(root, size, args.batch_size),
            }
            seconds = {name: 0.0 for name in loops}
            for n in range(1, args.epochs + 1):  # alternate the loops so that a busy machine slows both alike
                for name, (_, epoch) in loops.items():
                    started = time.perf_counter()
                    epoch(n)
                    seconds[name] += time.perf_counter() - started
            base = args.images * args.epochs / seconds["reference (ImageFolder)"]
            for name, (decode, _) in loops.items():
                rate = args.images * args.epochs / seconds[name]
                print(
                    f"{size:>5} {name:<28} {decode:>10.1f}s {seconds[name] / args.epochs:>9.1f} {rate:>9.1f} "
                    f"{rate / base:>7.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
