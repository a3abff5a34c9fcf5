"""Stage 3, evaluate: measure the classifier before and after training on synthetic val and on real photos.

A real-photo folder is either an ImageFolder whose subfolders are some of the run's classes (accuracy and
per-class metrics) or a flat folder of photos (predictions only; accuracy is None). Any image PIL reads
counts; an unreadable or truncated file is skipped and listed, never fatal.

The internal `_background` class (procedural "no sign" images) is never a real-photo answer: for real photos
the prediction is the argmax over the real classes and the probabilities are renormalised over them. On the
synthetic val split, which holds background images, all classes count.

Multi-crop: a whole road scene shows the sign small. Then the photo is also classified in sliding square
windows of 1/2, 1/3, 1/4 and 1/6 of its short side (half-window stride), and the answer comes from the
most confident sign crop: with a background class, the crop whose real-class probability is highest among
crops not predicted as background; without one, the most confident crop. `auto` does this for photos whose
short side exceeds 3x the training image size.

Flip averaging (`tta = "flip"`): a photo classified whole (single mode) is also classified mirrored (training
flips images too) and the two softmax outputs are averaged; the evaluation's mode then reads "single+flip".
Multi-crop windows are not flipped: averaging lowers the true sign's window more than spurious ones (measured
on the dev scenes), and the many windows already smooth the decision.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.transforms import v2

from synthsign_tui.config import RunConfig, resolve_path
from synthsign_tui.engine.context import Distributed, RunContext
from synthsign_tui.engine.model.classifier import build_model, load_checkpoint, run_classes
from synthsign_tui.engine.model.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    class_folder_images,
    fit_square,
    is_image,
    normalize,
    read_image,
)
from synthsign_tui.engine.model.metrics import task_accuracy, task_balanced_accuracy
from synthsign_tui.engine.records import Records
from synthsign_tui.errors import SynthSignError
from synthsign_tui.faults import fault_point
from synthsign_tui.imagefiles import UnreadableImage
from synthsign_tui.vocab import BACKGROUND_CLASS as BACKGROUND
from synthsign_tui.vocab import SYNTHETIC_VAL

log = logging.getLogger(__name__)

CHECKPOINTS = ("before", "best", "last")
WINDOW_FRACTIONS = (1 / 2, 1 / 3, 1 / 4, 1 / 6)
MULTICROP_FACTOR = 3
ECE_BINS = 15


def load_model(checkpoint_dir: Path, checkpoint: str, config: RunConfig) -> tuple[nn.Module, dict[str, Any]]:
    """A trained checkpoint (`best`, `last`), or `before`: the untrained model exactly as training built it."""
    if checkpoint not in CHECKPOINTS:
        raise SynthSignError(f"unknown checkpoint {checkpoint!r}: choose one of {', '.join(CHECKPOINTS)}")
    if checkpoint != "before":
        return load_checkpoint(checkpoint_dir / f"{checkpoint}.pt")
    classes = run_classes(config)
    meta = {
        "classes": classes, "image_size": config.train.image_size, "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD), "config": config.to_dict(), "epoch": 0,
    }  # fmt: skip
    return build_model(len(classes), config.train.weights, config.seed).eval(), meta


def folder_images(root: Path, classes: list[str], what: str) -> list[tuple[Path, str | None]]:
    """(photo, label) for an ImageFolder of some `classes`; photos directly in `root` are unlabelled (None)."""
    if not root.is_dir():
        raise SynthSignError(
            f"{what} {root} is not a folder: put photos there (one subfolder per class, or all in the folder)"
        )
    labelled = [(p, classes[i]) for p, i in class_folder_images(root, classes, what)]
    return labelled + [(p, None) for p in sorted(root.iterdir()) if is_image(p)]


# ---------------------------------------------------------------- classification


def _windows(height: int, width: int) -> Iterator[tuple[int, int, int, int]]:
    """Square sliding windows (left, top, right, bottom) at each WINDOW_FRACTIONS of the short side."""
    for fraction in WINDOW_FRACTIONS:
        side = max(1, round(min(height, width) * fraction))
        stride = max(1, side // 2)
        for top in range(0, height - side + 1, stride):
            for left in range(0, width - side + 1, stride):
                yield left, top, left + side, top + side


def _crops(
    image: torch.Tensor, size: int, multicrop: bool
) -> Iterator[tuple[list[int] | None, torch.Tensor]]:
    """(box or None for the whole photo, uint8 [3, size, size])."""
    yield None, fit_square(image, size)
    if multicrop:
        for left, top, right, bottom in _windows(*image.shape[-2:]):
            crop = v2.functional.resized_crop(image, top, left, bottom - top, right - left, [size, size])
            yield [left, top, right, bottom], crop


def _use_multicrop(setting: str, image: torch.Tensor, size: int) -> bool:
    return setting == "on" or (setting == "auto" and min(image.shape[-2:]) > MULTICROP_FACTOR * size)


def _decide(crops: list[tuple[list[int] | None, torch.Tensor]], classes: list[str], real_only: bool):
    """(probabilities over the answer classes, box) from each crop's softmax over the model's classes."""
    boxes = [b for b, _ in crops]
    probs = torch.stack([p for _, p in crops])
    real = [i for i, c in enumerate(classes) if not (real_only and c == BACKGROUND)]
    best = 0
    if len(crops) > 1:
        score = probs[:, real].max(1).values
        if real_only and BACKGROUND in classes:
            is_sign = probs.argmax(1) != classes.index(BACKGROUND)
            score = torch.where(is_sign, score, torch.full_like(score, -1.0))
            best = int(score.argmax()) if bool(is_sign.any()) else 0
        else:
            best = int(score.argmax())
    answer = probs[best, real]
    return answer / answer.sum(), boxes[best]


@torch.inference_mode()
def classify(
    model: nn.Module,
    meta: dict[str, Any],
    items: list[tuple[Path, str | None]],
    *,
    multicrop: str = "auto",
    real_only: bool = True,
    batch_size: int = 64,
    on_image: Callable[[], None] | None = None,
    tta: str = "none",
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(predictions, skipped) for (path, label) items; crops of all photos share batches."""
    classes, size = list(meta["classes"]), meta["image_size"]
    answer_classes = [c for c in classes if not (real_only and c == BACKGROUND)]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device, memory_format=torch.channels_last).eval()
    per_image: dict[int, list] = {}
    modes: dict[int, str] = {}
    skipped: list[dict[str, str]] = []

    def all_crops():
        for n, (path, _) in enumerate(items):
            try:
                image = read_image(path)
            except UnreadableImage as exc:
                skipped.append({"path": str(path), "reason": str(exc)})
                continue
            finally:
                if on_image is not None:
                    on_image()
            multi = _use_multicrop(multicrop, image, size)
            modes[n], per_image[n] = ("multicrop" if multi else "single"), []
            for box, crop in _crops(image, size, multi):
                yield n, box, crop

    batch: list[tuple[int, list[int] | None, torch.Tensor]] = []

    def run_batch():
        x = normalize(torch.stack([c for _, _, c in batch]).to(device), meta["mean"], meta["std"])
        probs = model(x).float().softmax(1)
        whole = [i for i, (n, _, _) in enumerate(batch) if modes[n] == "single"] if tta == "flip" else []
        if whole:
            probs[whole] = (probs[whole] + model(x[whole].flip(-1)).float().softmax(1)) / 2
        probs = probs.cpu()
        for (n, box, _), p in zip(batch, probs, strict=True):
            per_image[n].append((box, p))
        batch.clear()

    for entry in all_crops():
        batch.append(entry)
        if len(batch) >= batch_size:
            run_batch()
    if batch:
        run_batch()

    predictions = []
    for n, crops in sorted(per_image.items()):
        path, label = items[n]
        probs, box = _decide(crops, classes, real_only)
        top = int(probs.argmax())
        pred = {
            "path": str(path), "label": label, "predicted": answer_classes[top], "confidence": float(probs[top]),
            "probabilities": {c: round(float(p), 6) for c, p in zip(answer_classes, probs, strict=True)},
            "mode": modes[n],
        }  # fmt: skip
        if box is not None:
            pred["crop"] = box
        predictions.append(pred)
    return predictions, skipped


# ---------------------------------------------------------------- metrics


def expected_calibration_error(confidences: list[float], correct: list[bool], bins: int = ECE_BINS) -> float:
    """Sum over equal-width confidence bins of |accuracy - mean confidence|, weighted by the bin's share."""
    conf = torch.tensor(confidences, dtype=torch.float64)
    hit = torch.tensor(correct, dtype=torch.float64)
    which = torch.clamp((conf * bins).long(), max=bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += float(mask.double().mean() * (hit[mask].mean() - conf[mask].mean()).abs())
    return ece


def metrics(predictions: list[dict[str, Any]], classes: list[str]) -> dict[str, Any]:
    """Accuracy and balanced accuracy over the task's classes (`model.metrics`: the background class is not one,
    and predicting it is wrong), ECE over the same images; per-class scores and the confusion matrix
    (scikit-learn, labels=classes) over every labelled image."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labelled = [p for p in predictions if p["label"] is not None]
    task = [c for c in classes if c != BACKGROUND]
    scored = [p for p in labelled if p["label"] in task]
    if not labelled:
        empty = {"accuracy": None, "balanced_accuracy": None, "ece": None}
        return {**empty, "per_class": {}, "confusion_matrix": []}
    y_true = [p["label"] for p in labelled]
    y_pred = [p["predicted"] for p in labelled]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    per_class = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    }
    ece = expected_calibration_error(
        [p["confidence"] for p in scored], [p["label"] == p["predicted"] for p in scored]
    )
    return {
        "accuracy": task_accuracy(y_true, y_pred, task),
        "balanced_accuracy": task_balanced_accuracy(y_true, y_pred, task),
        "ece": ece if scored else None,
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def evaluate_folder(
    model: nn.Module,
    meta: dict[str, Any],
    name: str,
    checkpoint: str,
    items: list[tuple[Path, str | None]],
    path: Path,
    *,
    multicrop: str = "auto",
    real_only: bool = True,
    batch_size: int = 64,
    on_image: Callable[[], None] | None = None,
    dist: Distributed | None = None,
    tta: str = "none",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(result dict as the catalog stores it, predictions) for one data set and one checkpoint.

    With several processes (`dist`), each classifies its share of `items` and every process gets all of them.
    """
    dist = dist or Distributed()
    started = time.time()
    mine = dist.share(items)
    predictions, skipped = dist.together(lambda: classify(
        model, meta, mine, multicrop=multicrop, real_only=real_only, batch_size=batch_size, on_image=on_image,
        tta=tta,
    ))  # fmt: skip
    if dist.num_processes > 1:
        predictions, skipped = dist.gather(predictions), dist.gather(skipped)
    classes = [c for c in meta["classes"] if not (real_only and c == BACKGROUND)]
    multi = any(p["mode"] == "multicrop" for p in predictions)
    flipped = tta == "flip" and any(p["mode"] == "single" for p in predictions)
    mode = ("multicrop" if multi else "single") + ("+flip" if flipped else "")
    result = {
        "name": name, "checkpoint": checkpoint, "path": str(path), "mode": mode,
        **metrics(predictions, classes), "classes": classes, "n_images": len(predictions),
        "n_skipped": len(skipped), "skipped": skipped, "seconds": time.time() - started,
    }  # fmt: skip
    return result, predictions


def _describe(result: dict[str, Any]) -> str:
    acc = "no labels" if result["accuracy"] is None else f"acc {result['accuracy']:.3f}"
    if result["balanced_accuracy"] is not None:
        acc += f", balanced {result['balanced_accuracy']:.3f}"
    skipped = f", {result['n_skipped']} skipped" if result["n_skipped"] else ""
    return f"{result['name']} ({result['checkpoint']}, {result['mode']}): {acc} on {result['n_images']} images{skipped}"


# ---------------------------------------------------------------- entry points


def evaluate_stage(ctx: RunContext) -> None:
    """Evaluate `before` and `best` on synthetic val, the run's real folder and each extra real folder.

    With several processes, each classifies its share of every folder; the main process records the results.
    """
    config, dist = ctx.config, ctx.dist
    classes = run_classes(config)
    real_classes = config.class_names
    sets: list[tuple[str, Path, list]] = []
    val_dir = ctx.dataset_dir / "val"
    if val_dir.is_dir():
        val_items = [
            (p, classes[i]) for p, i in class_folder_images(val_dir, classes, "the generated dataset")
        ]
        sets.append((SYNTHETIC_VAL, val_dir, val_items))
    reals = {"real": config.evaluate.real_dir, **config.evaluate.extra_real}
    for name, folder in reals.items():
        root = resolve_path(folder)
        key = "evaluate.real_dir" if name == "real" else f"evaluate.extra_real.{name}"
        sets.append((name, root, folder_images(root, real_classes, f"{key} = {folder!r}:")))
    total = 2 * sum(len(items) for _, _, items in sets)
    mine = 2 * sum(len(dist.share(items)) for _, _, items in sets)
    done = 0

    def on_image():
        nonlocal done
        done += 1
        ctx.check_cancel()
        shown = done * total // mine  # this process's share stands for all: the shares are equal to one image
        ctx.progress("evaluate", shown, total, f"{shown}/{total} images")

    for checkpoint in ("before", "best"):
        model, meta = load_model(ctx.checkpoint_dir, checkpoint, config)
        for name, root, items in sets:
            synthetic = name == SYNTHETIC_VAL
            result, predictions = evaluate_folder(
                model, meta, name, checkpoint, items, root, multicrop="off" if synthetic else config.evaluate.multicrop,
                real_only=not synthetic, batch_size=config.evaluate.batch_size, on_image=on_image, dist=dist,
                tta=config.evaluate.tta,
            )  # fmt: skip
            if dist.is_main:
                ctx.records.add_evaluation(ctx.run_id, result, predictions, primary=name == "real")
                fault_point("evaluate.record")
            ctx.emit("evaluation", data=result)
            ctx.log(_describe(result))
            for item in result["skipped"]:
                ctx.log(f"skipped {item['path']}: {item['reason']}", "warning")


def evaluate_more(
    records: Records,
    run_id: int,
    run_dir: Path,
    config: RunConfig,
    reals: dict[str, Path],
    checkpoint: str = "best",
    on_image: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate a finished run on more real folders ({name: dir}); stored as more (non-primary) evaluations.

    `on_image` is called after each image (it may raise `Cancelled`: the folder being evaluated is not recorded).
    """
    model, meta = load_model(Path(run_dir) / "checkpoints", checkpoint, config)
    results = []
    for name, folder in reals.items():
        root = resolve_path(str(folder))
        items = folder_images(root, config.class_names, f"--real {name}={folder}:")
        result, predictions = evaluate_folder(
            model, meta, name, checkpoint, items, root, multicrop=config.evaluate.multicrop,
            batch_size=config.evaluate.batch_size, tta=config.evaluate.tta, on_image=on_image,
        )  # fmt: skip
        records.add_evaluation(run_id, result, predictions)
        records.add_log(run_id, "evaluate: " + _describe(result))
        results.append(result)
    return results


def predict_paths(run_dir: Path, paths: list[Path]) -> list[dict[str, Any]]:
    """Predictions of a run's best checkpoint for image files and folders (searched recursively), in order.

    A file the safe loader refuses comes back as {path, predicted: None, error: reason, skipped: reason}.
    """
    model, meta = load_checkpoint(Path(run_dir) / "checkpoints" / "best.pt")
    items: list[tuple[Path, str | None]] = []
    for path in map(Path, paths):
        if path.is_dir():
            items += [(p, None) for p in sorted(path.rglob("*")) if is_image(p)]
        elif path.exists():
            items.append((path, None))
        else:
            raise SynthSignError(f"{path} does not exist: give image files or folders of images")
    settings = meta["config"]["evaluate"]
    predictions, skipped = classify(
        model, meta, items, multicrop=settings["multicrop"], tta=settings.get("tta", "none")
    )
    errors = {
        s["path"]: {"path": s["path"], "predicted": None, "error": s["reason"], "skipped": s["reason"]}
        for s in skipped
    }
    done = {p["path"]: p for p in predictions}
    return [done.get(str(p)) or errors[str(p)] for p, _ in items]
