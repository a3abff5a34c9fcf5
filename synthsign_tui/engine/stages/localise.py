"""The train stage's second step: train the sign localiser on the generated whole photos with boxes.

Reads `dataset/scenes/` and its manifest rows' boxes, decodes every photo once, and trains `model.localiser`
for `localiser.steps` steps (AdamW, warm-up then cosine schedule, horizontal flips, random windows), in
float32 (at this width bf16 autocast measured slower on the CPU), then measures AP at IoU 0.5 on the val scenes and saves
`checkpoints/localiser.pt` with its config, AP and training seconds. A run whose localiser checkpoint exists
keeps it (resume).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from synthsign_tui.engine.context import RunContext
from synthsign_tui.engine.model.classifier import save_checkpoint
from synthsign_tui.engine.model.images import read_image
from synthsign_tui.engine.model.localiser import (
    LOCALISER_FORMAT,
    Localiser,
    average_precision,
    detect,
    loss,
    normalize,
    targets,
)
from synthsign_tui.engine.stages.generate import MANIFEST, read_manifest
from synthsign_tui.errors import SynthSignError
from synthsign_tui.vocab import SCENES


def scene_split(ctx: RunContext, split: str) -> tuple[torch.Tensor, list[list[list[float]]]]:
    """(uint8 images [N, 3, H, W], boxes per image as [x, y, w, h]) of the generated scenes of `split`."""
    rows = [
        r for r in read_manifest(ctx.dataset_dir / MANIFEST) if r["label"] == SCENES and r["split"] == split
    ]
    rows.sort(key=lambda r: r["file_name"])
    images, boxes = [], []
    for row in rows:
        ctx.check_cancel()
        images.append(read_image(ctx.dataset_dir / row["file_name"]))
        boxes.append([b["bbox"] for b in row["boxes"] or []])
    if not images:
        return torch.empty(0, 3, 1, 1, dtype=torch.uint8), []
    return torch.stack(images), boxes


def flip(
    images: torch.Tensor, boxes: list[list[list[float]]], which: torch.Tensor
) -> tuple[torch.Tensor, list[list[list[float]]]]:
    """Mirror the images where `which` is True, with their boxes."""
    images = images.clone()
    images[which] = images[which].flip(-1)
    width = images.shape[-1]
    out = [
        [[width - x - w, y, w, h] for x, y, w, h in b] if f else b
        for b, f in zip(boxes, which.tolist(), strict=True)
    ]
    return images, out


def crop(
    images: torch.Tensor, boxes: list[list[list[float]]], side: int, g: torch.Generator
) -> tuple[torch.Tensor, list[list[list[float]]]]:
    """A random side x side window of each image (all of it when smaller), with the boxes whose centre is in it,
    clipped to it: training on windows costs less per step than on whole frames, and the network is fully
    convolutional, so it runs on whole frames all the same."""
    h, w = images.shape[-2:]
    ch, cw = min(side, h), min(side, w)
    out: list[torch.Tensor] = []
    kept: list[list[list[float]]] = []
    for image, image_boxes in zip(images, boxes, strict=True):
        top = int(torch.randint(h - ch + 1, (1,), generator=g))
        left = int(torch.randint(w - cw + 1, (1,), generator=g))
        out.append(image[:, top : top + ch, left : left + cw])
        inside = []
        for x, y, bw, bh in image_boxes:
            if left <= x + bw / 2 < left + cw and top <= y + bh / 2 < top + ch:
                x0, y0 = max(x - left, 0.0), max(y - top, 0.0)
                x1, y1 = min(x + bw - left, float(cw)), min(y + bh - top, float(ch))
                inside.append([x0, y0, x1 - x0, y1 - y0])
        kept.append(inside)
    return torch.stack(out), kept


def evaluate_localiser(
    model: Localiser, images: torch.Tensor, boxes: list[list[list[float]]], batch_size: int = 32
) -> float:
    """AP at IoU 0.5 of the top-5 boxes per image."""
    model.eval()
    found = []
    for start in range(0, len(images), batch_size):
        found += detect(model, images[start : start + batch_size], top_k=5)
    return average_precision(found, boxes)


BF16 = False  # measured: at 16 channels bf16 autocast is slower than float32 on the CPU


def fit_localiser(
    cfg: Any,
    train_x: torch.Tensor,
    train_boxes: list[list[list[float]]],
    seed: int,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[Localiser, float]:
    """The training loop: (trained model in eval mode, last loss). `on_step(step, loss)` after each step
    (the loss is synchronised every 10 steps; in between it is the last one read)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Localiser(cfg.width).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / cfg.steps))
    )
    g = torch.Generator().manual_seed(seed + 7)
    last_loss = float("nan")
    model.train()
    for step in range(cfg.steps):
        index = torch.randint(len(train_x), (cfg.batch_size,), generator=g)
        flips = torch.rand(len(index), generator=g) < 0.5
        images, boxes = flip(train_x[index], [train_boxes[i] for i in index.tolist()], flips)
        if cfg.crop:
            images, boxes = crop(images, boxes, cfg.crop, g)
        target = targets(boxes, images.shape[-2], images.shape[-1])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
            value = loss(model(normalize(images)), target)
        optimizer.zero_grad(set_to_none=True)
        value.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
        optimizer.step()
        schedule.step()
        if step % 10 == 9 or step + 1 == cfg.steps:
            last_loss = float(value.detach())
        if on_step is not None:
            on_step(step, last_loss)
    return model.eval(), last_loss


def train_localiser(ctx: RunContext, progress_offset: int = 0) -> None:
    """Train the run's localiser unless its checkpoint exists; progress continues the train stage's bar."""
    cfg = ctx.config.localiser
    path = ctx.checkpoint_dir / "localiser.pt"
    if cfg.scenes == 0 or path.exists():
        return
    train_x, train_boxes = scene_split(ctx, "train")
    val_x, val_boxes = scene_split(ctx, "val")
    if len(train_x) == 0:
        raise SynthSignError(
            f"localiser.scenes = {cfg.scenes} but {ctx.dataset_dir / 'scenes'} holds no training photos: "
            "run the generate stage first (`synthsign resume RUN`)"
        )
    total = progress_offset + cfg.steps
    ctx.log(
        f"localiser: {len(train_x)} training and {len(val_x)} val scenes of {train_x.shape[-1]}x{train_x.shape[-2]} px, "
        f"{cfg.steps} steps of {cfg.batch_size}"
    )

    def on_step(step: int, value: float) -> None:
        ctx.check_cancel()
        if step % 10 == 9 or step + 1 == cfg.steps:
            message = f"localiser step {step + 1}/{cfg.steps} loss {value:.3f}"
            ctx.progress("train", progress_offset + step + 1, total, message)

    started = time.time()
    model, last_loss = fit_localiser(cfg, train_x, train_boxes, ctx.config.seed, on_step)
    bf16 = BF16
    seconds = time.time() - started
    ap50 = evaluate_localiser(model, val_x, val_boxes) if len(val_x) else None
    meta: dict[str, Any] = {
        "format": LOCALISER_FORMAT, "width": cfg.width, "input_size": max(train_x.shape[-2:]),
        "config": ctx.config.to_dict(), "ap50": ap50, "train_seconds": round(seconds, 1),
        "images_per_s": round(cfg.steps * cfg.batch_size / seconds, 1), "loss": last_loss, "bf16": bf16,
    }  # fmt: skip
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if ctx.dist.is_main:
        save_checkpoint(path, {**meta, "model": state})
    ap = "no val scenes" if ap50 is None else f"AP50 {ap50:.3f} on {len(val_x)} val scenes"
    ctx.log(f"localiser: {ap}, {seconds:.0f} s, {meta['images_per_s']} images/s, saved {path.name}")
    ctx.emit("localiser", data={k: v for k, v in meta.items() if k != "config"})
