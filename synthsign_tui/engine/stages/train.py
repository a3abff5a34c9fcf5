"""Stage 2, train: fine-tune a torchvision ResNet18 on the generated images, one visible epoch at a time.

The loop is the torchvision classification reference (`train_one_epoch`, `evaluate`) run through accelerate,
so the same code runs on the CPU, one GPU or several. Each image is decoded and resized once into a uint8
tensor cache keyed by its content hash (`run_dir/cache/`); augmentation works on those tensors, so an epoch
costs only the network. Checkpoints carry their class names, input transform and config, and load with
`torch.load(path, weights_only=True)`. Calling `train_stage` again on a run continues after its last
finished epoch: every epoch draws its shuffle and augmentation from (seed, epoch), so a resumed run trains
exactly as an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from torchvision.transforms import v2

from synthsign_tui.config import resolve_path
from synthsign_tui.engine.context import Cancelled, RunContext
from synthsign_tui.engine.model.classifier import (
    CHECKPOINT_FORMAT,
    build_model,
    run_classes,
    save_checkpoint,
)
from synthsign_tui.engine.model.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TensorImages,
    cached_images,
    class_folder_images,
    normalize,
)
from synthsign_tui.engine.model.metrics import task_balanced_accuracy
from synthsign_tui.errors import SynthSignError
from synthsign_tui.faults import fault_point
from synthsign_tui.files import remove_stale_temps

log = logging.getLogger(__name__)

STEP_FLUSH_SECONDS = 2.0


# ---------------------------------------------------------------- images


def derive_seed(*parts: int) -> int:
    """A seed for one purpose (epoch, process, source) derived from the config seed, independent of the others."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


class EpochShuffle(Sampler[int]):
    """A new order each epoch drawn from (seed, epoch): the same on every process and after a resume."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(derive_seed(self.seed, 1, self.epoch))
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def train_augment(cfg: Any) -> v2.Compose:
    """The TrainConfig augmentations, on uint8 tensors. Hue is not jittered: a sign's colour carries its meaning."""
    size, steps = cfg.image_size, []
    if cfg.random_resized_crop < 1.0:
        steps.append(v2.RandomResizedCrop(size, scale=(cfg.random_resized_crop, 1.0), antialias=True))
    if cfg.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if cfg.color_jitter > 0:
        s = cfg.color_jitter
        steps.append(v2.ColorJitter(brightness=s, contrast=s, saturation=s))
    if cfg.blur > 0:
        kernel = max(3, size // 20 * 2 + 1)
        steps.append(v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=cfg.blur))
    if cfg.grayscale > 0:
        steps.append(v2.RandomGrayscale(p=cfg.grayscale))
    return v2.Compose(steps)


# ---------------------------------------------------------------- the loop


def train_one_epoch(
    model, loader, criterion, optimizer, scheduler, accelerator, mean, std, on_batch=None, ema=None
):
    """One pass over `loader`; returns (mean loss, accuracy, images). `on_batch(i, loss, lr)` after each step;
    `ema`, an AveragedModel, averages the weights after each optimizer step."""
    model.train()
    total_loss = torch.zeros((), device=accelerator.device)
    correct = torch.zeros((), device=accelerator.device, dtype=torch.long)
    seen = torch.zeros((), device=accelerator.device, dtype=torch.long)
    for i, (images, labels) in enumerate(loader):
        lr = scheduler.get_last_lr()[0]
        output = model(normalize(images, mean, std))
        loss = criterion(output, labels)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        total_loss += loss.detach() * len(labels)
        correct += (output.argmax(1) == labels).sum()
        seen += len(labels)
        if on_batch is not None:
            on_batch(i, loss.detach(), lr)
    total_loss, correct, seen = (accelerator.reduce(t, "sum") for t in (total_loss, correct, seen))
    n = max(int(seen), 1)
    return float(total_loss) / n, int(correct) / n, int(seen)


@torch.inference_mode()
def evaluate(model, loader, accelerator, mean, std, task_classes: int) -> tuple[float | None, float | None]:
    """(cross-entropy without label smoothing, balanced accuracy) over `loader`; (None, None) for an empty split.

    The accuracy is `metrics.task_balanced_accuracy`: over the first `task_classes` classes (the user's), so the
    internal background class after them is not a class of the task and predicting it is wrong.
    """
    model.eval()
    losses, predicted, truth = [], [], []
    for images, labels in loader:
        output = model(normalize(images, mean, std)).float()
        output, labels = accelerator.gather_for_metrics((output, labels))
        losses.append(nn.functional.cross_entropy(output, labels, reduction="none"))
        predicted.append(output.argmax(1))
        truth.append(labels)
    if not losses:
        return None, None
    y_true, y_pred = torch.cat(truth).tolist(), torch.cat(predicted).tolist()
    return float(torch.cat(losses).mean()), task_balanced_accuracy(y_true, y_pred, list(range(task_classes)))


def _make_optimizer(cfg: Any, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    optimizer = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return optimizer(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _make_scheduler(cfg: Any, optimizer, total_steps: int):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total_steps)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def _training_files(
    ctx: RunContext, classes: list[str]
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(train, val) as (path, class index), with the extra real sources sampled into train."""
    train_dir, val_dir = ctx.dataset_dir / "train", ctx.dataset_dir / "val"
    missing = [c for c in classes if not (train_dir / c).is_dir()]
    if missing:
        raise SynthSignError(
            f"no generated images for class(es) {missing} in {train_dir}: run the generate stage first "
            "(`synthsign resume RUN` runs the stages that are left)"
        )
    train = class_folder_images(train_dir, classes, "the generated dataset")
    val = class_folder_images(val_dir, classes, "the generated dataset") if val_dir.is_dir() else []
    for i, (folder, fraction) in enumerate(sorted(ctx.config.train.extra_sources.items())):
        root = resolve_path(folder)
        if not root.is_dir():
            raise SynthSignError(f"train.extra_sources: {folder!r} resolves to {root}, which is not a folder")
        pool = class_folder_images(root, classes, "train.extra_sources folder")
        want = round(fraction * len(train))
        if want > len(pool):
            ctx.log(
                f"extra source {root} has {len(pool)} images, fraction {fraction} asks for {want}: using all"
            )
        g = torch.Generator().manual_seed(derive_seed(ctx.config.seed, 2, i))
        train += [pool[j] for j in torch.randperm(len(pool), generator=g)[:want].tolist()]
    return train, val


def train_stage(ctx: RunContext) -> None:
    """Train (or continue training) the run's classifier, recording every epoch and step in the catalog."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    config, cfg = ctx.config, ctx.config.train
    classes = run_classes(config)
    last_path, best_path = ctx.checkpoint_dir / "last.pt", ctx.checkpoint_dir / "best.pt"
    resume = torch.load(last_path, map_location="cpu", weights_only=True) if last_path.exists() else None
    if ctx.dist.is_main:
        _repair_records(ctx, resume)
    if resume is not None and resume["epoch"] >= cfg.epochs:
        ctx.log(f"training already finished ({resume['epoch']} epochs); keeping {last_path}")
        return
    precision = cfg.mixed_precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() else "no"
    if precision == "fp16" and not torch.cuda.is_available():
        raise SynthSignError('train.mixed_precision = "fp16" needs a CUDA GPU: use "auto", "no" or "bf16"')
    # One process may train several runs (the dashboard), each with its own precision.
    AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision=precision)
    threads_before = torch.get_num_threads()
    if accelerator.device.type == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(cfg.num_threads or max(1, cores // accelerator.num_processes))
    try:
        _train(ctx, accelerator, classes, resume, last_path, best_path)
    finally:
        torch.set_num_threads(threads_before)


def _train(ctx, accelerator, classes, resume, last_path, best_path) -> None:
    config, cfg = ctx.config, ctx.config.train
    mean, std, size = IMAGENET_MEAN, IMAGENET_STD, cfg.image_size
    train_files, val_files = _training_files(ctx, classes)
    started = time.time()
    cache = ctx.run_dir / "cache" / f"images-{size}.pt"

    def fill_cache() -> None:
        cached_images([p for p, _ in train_files + val_files], size, cache, ctx)

    if accelerator.num_processes > 1:  # the main process decodes first; a failure or cancel reaches all
        ctx.dist.on_main(fill_cache)
    train_x, bad_train = cached_images([p for p, _ in train_files], size, cache, ctx)
    val_x, bad_val = cached_images([p for p, _ in val_files], size, cache, ctx)
    bad = bad_train | bad_val
    for path, reason in bad.items():
        ctx.log(f"skipped {path}: {reason}", "warning")
    train_y = torch.tensor([c for p, c in train_files if p not in bad], dtype=torch.long)
    val_y = torch.tensor([c for p, c in val_files if p not in bad], dtype=torch.long)
    if len(train_y) == 0:
        raise SynthSignError(f"no readable training images under {ctx.dataset_dir / 'train'}")
    ctx.log(
        f"{len(train_y)} training and {len(val_y)} val images at {size} px ready in {time.time() - started:.1f} s; "
        f"training on {accelerator.device} ({accelerator.mixed_precision}, {torch.get_num_threads()} threads)"
    )

    sampler = EpochShuffle(len(train_y), config.seed)
    workers = 0 if accelerator.device.type == "cpu" else min(4, os.cpu_count() or 1)
    train_loader = DataLoader(
        TensorImages(train_x, train_y, train_augment(cfg)), batch_size=cfg.batch_size, sampler=sampler,
        num_workers=workers, pin_memory=workers > 0,
    )  # fmt: skip
    val_loader = DataLoader(TensorImages(val_x, val_y), batch_size=cfg.batch_size * 2)
    steps_per_epoch = len(train_loader)
    model = build_model(len(classes), cfg.weights, config.seed).to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(cfg, model.parameters())
    scheduler = _make_scheduler(cfg, optimizer, steps_per_epoch * cfg.epochs)
    if resume is not None:
        model.load_state_dict(resume["train_model" if cfg.ema > 0 else "model"])
    model, optimizer, train_loader, val_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, val_loader, scheduler
    )
    steps_per_epoch = len(train_loader)  # each process's share of the batches
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    ema = None
    if cfg.ema > 0:  # the averaged weights are the ones evaluated and saved as "model"
        from torch.optim.swa_utils import AveragedModel

        ema = AveragedModel(
            accelerator.unwrap_model(model), multi_avg_fn=ema_average(cfg.ema), use_buffers=True
        )
    first_epoch, best_acc = 1, None
    if resume is not None:
        if ema is not None:
            ema.module.load_state_dict(resume["model"])
            ema.n_averaged.fill_(resume["ema_steps"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        first_epoch, best_acc = resume["epoch"] + 1, resume["best_val_acc"]
        ctx.log(f"resuming after epoch {resume['epoch']} of {cfg.epochs}")
    else:
        val_loss, val_acc = evaluate(model, val_loader, accelerator, mean, std, len(config.class_names))
        if val_acc is not None:
            _record_epoch(ctx, {"epoch": 0, "val_loss": val_loss, "val_acc": val_acc})
            ctx.log(f"epoch 0 (untrained): val loss {val_loss:.3f}, val acc {val_acc:.3f}")

    meta = {
        "format": CHECKPOINT_FORMAT, "arch": cfg.model, "classes": classes, "image_size": size,
        "mean": list(mean), "std": list(std), "resize": "shorter side to image_size, then centre crop",
        "config": config.to_dict(),
    }  # fmt: skip
    steps = StepRecorder(ctx)
    total = steps_per_epoch * cfg.epochs
    for epoch in range(first_epoch, cfg.epochs + 1):
        torch.manual_seed(derive_seed(config.seed, 3, epoch, accelerator.process_index))
        train_loader.set_epoch(epoch)
        started = time.time()

        def on_batch(i, loss, lr, epoch=epoch):
            _check_cancel(ctx, accelerator)
            step = (epoch - 1) * steps_per_epoch + i + 1
            steps.add(epoch, step, loss, lr)
            ctx.progress("train", step, total, f"epoch {epoch}/{cfg.epochs} loss {steps.last_loss:.3f}")

        train_loss, train_acc, seen = train_one_epoch(
            model, train_loader, criterion, optimizer, scheduler, accelerator, mean, std, on_batch, ema
        )
        seconds = time.time() - started
        steps.flush()
        val_loss, val_acc = evaluate(
            model if ema is None else ema, val_loader, accelerator, mean, std, len(config.class_names)
        )
        row = {
            "epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
            "val_acc": val_acc, "lr": scheduler.get_last_lr()[0], "seconds": seconds, "images_per_s": seen / seconds,
        }  # fmt: skip
        is_best = best_acc is None or (val_acc is not None and val_acc > best_acc)
        best_acc = val_acc if is_best else best_acc
        if accelerator.is_main_process:
            trained = _cpu_state(accelerator.unwrap_model(model))
            state = trained if ema is None else _cpu_state(ema.module)
            extra = {"epoch": epoch, "val_acc": val_acc, "best_val_acc": best_acc, "metrics": row}
            if is_best:
                save_checkpoint(best_path, {**meta, **extra, "model": state})
            resumable = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
            if ema is not None:
                resumable.update(train_model=trained, ema_steps=int(ema.n_averaged))
            save_checkpoint(last_path, {**meta, **extra, "model": state, **resumable})
            fault_point("train.checkpoint")
        accelerator.wait_for_everyone()
        _record_epoch(ctx, row)
        fault_point("train.epoch")
        val_text = "no val split" if val_acc is None else f"val loss {val_loss:.3f}, val acc {val_acc:.3f}"
        ctx.log(
            f"epoch {epoch}/{cfg.epochs}: train loss {train_loss:.3f}, train acc {train_acc:.3f}, {val_text}, "
            f"{seen / seconds:.1f} images/s" + (" (best)" if is_best else "")
        )


def ema_average(decay: float):
    """AveragedModel's multi_avg_fn: an exponential average whose decay warms up as min(decay, (1 + n) / (10 + n)),
    so a short run's average is not mostly its random initial weights (0.999 ** 36 steps would keep 96 %)."""

    @torch.no_grad()
    def average(averaged: list[torch.Tensor], current: list[torch.Tensor], steps: torch.Tensor) -> None:
        n = int(steps)
        weight = 1 - min(decay, (1 + n) / (10 + n))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, weight)
        else:  # integer buffers (BatchNorm's batch counters) follow the model
            torch._foreach_copy_(averaged, current)

    return average


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def _check_cancel(ctx: RunContext, accelerator) -> None:
    """Stop between steps when cancelled; with several processes all stop at the same step (DDP needs them all)."""
    if accelerator.num_processes == 1:
        ctx.check_cancel()
        return
    if ctx.cancel.is_set():
        accelerator.set_trigger()
    if accelerator.check_trigger():
        raise Cancelled()


def _repair_records(ctx: RunContext, resume: dict[str, Any] | None) -> None:
    """Make the catalog agree with the checkpoint after any stop, before training goes on.

    The checkpoint is the truth: step rows of epochs after it (an epoch cut short) are dropped, so the rerun
    epoch is not drawn twice, and its own epoch's row, lost when a stop fell between writing `last.pt` and
    recording the epoch, is recorded again from the metrics the checkpoint carries. Stale temporary files of
    a writer that was killed are removed."""
    for folder in (ctx.checkpoint_dir, ctx.run_dir / "cache"):
        for path in remove_stale_temps(folder):
            ctx.log(f"removed {path.name}, left by a stopped writer")
    ctx.records.delete_steps_after(ctx.run_id, resume["epoch"] if resume is not None else 0)
    if resume is not None and "metrics" in resume:  # recorded again as it was, not an event: no news
        row = dict(resume["metrics"])
        ctx.records.add_epoch(ctx.run_id, row.pop("epoch"), **row)


def _record_epoch(ctx: RunContext, row: dict[str, Any]) -> None:
    if ctx.dist.is_main:
        ctx.records.add_epoch(ctx.run_id, row["epoch"], **{k: v for k, v in row.items() if k != "epoch"})
    ctx.emit("epoch", data=row)


class StepRecorder:
    """Buffers step losses as device tensors and writes them to the catalog at most every ~2 s (one sync each)."""

    def __init__(self, ctx: RunContext):
        self.ctx, self.rows, self.losses = ctx, [], []
        self.last_flush, self.last_loss = 0.0, float("nan")

    def add(self, epoch: int, step: int, loss: torch.Tensor, lr: float) -> None:
        self.rows.append({"epoch": epoch, "step": step, "lr": lr})
        self.losses.append(loss)
        if time.time() - self.last_flush >= STEP_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.time()
        if not self.rows:
            return
        for row, loss in zip(self.rows, torch.stack(self.losses).float().tolist(), strict=True):
            row["loss"] = loss
        self.last_loss = self.rows[-1]["loss"]
        if self.ctx.dist.is_main:
            self.ctx.records.add_steps(self.ctx.run_id, self.rows)
            fault_point("train.steps")
        self.ctx.emit("step", data={"steps": self.rows})
        self.rows, self.losses = [], []
