"""Deterministic runs written through the Catalog API (for the app's tests, snapshots and benchmarks), and the
tiny configs and dataset reading the engine's tests share.

They look like what the engine records (epochs with epoch 0 before training, steps, synthetic-val and real
evaluations at the `before` and `best` checkpoints with per-image predictions, samples, logs) with fixed
timestamps, so screenshots do not change from one run to the next.
"""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path
from typing import Any

from synthsign_tui.catalog import Catalog
from synthsign_tui.config import RunConfig, load_config, validate

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


# fixed here rather than read from a preset, so that changing a preset does not change these runs
BASE: dict[str, Any] = {
    "preset": "road-signs-offline",
    "data": {
        "images_per_class": 50,
        "classes": [
            {"name": "stop", "prompts": ["a stop sign on the road"], "draw": ["stop"]},
            {"name": "warning", "prompts": ["a warning sign on the road"], "draw": ["warning-triangle"]},
        ],
    },
    "generator": {"kind": "procedural", "height": 96, "width": 96},
    "train": {"weights": "none", "image_size": 64, "batch_size": 32, "epochs": 8, "lr": 0.001},
    "evaluate": {"real_dir": "assets/real"},
}


def fake_config(name: str, seed: int = 0, **overrides: Any):
    """BASE with a name and seed; `section__key=value` overrides (train__lr=0.01)."""
    data = copy.deepcopy(BASE)
    data["name"], data["seed"] = name, seed
    for key, value in overrides.items():
        section, _, leaf = key.rpartition("__")
        (data.setdefault(section, {}) if section else data)[leaf] = value
    return validate(data, "fake run")


def write_fake_run(
    catalog: Catalog,
    name: str,
    *,
    seed: int = 0,
    status: str = "done",
    epochs: int = 6,
    epochs_done: int | None = None,
    steps_per_epoch: int = 12,
    quality: float = 0.8,
    start: float = T0,
    real_photos: list[tuple[str, str]] | None = None,
    samples_dir: Path | None = None,
    tags: tuple[str, ...] = (),
    config: Any = None,
) -> int:
    """A run with `epochs_done` (default: all) epochs recorded and, when done, its evaluations."""
    rng = random.Random(seed)
    config = config or fake_config(name, seed, train__epochs=epochs, train__lr=0.001 * (1 + seed % 3))
    run = catalog.create_run(config)
    classes = config.class_names
    done_epochs = epochs if epochs_done is None else epochs_done
    catalog.update_run(run.id, status="running", stage="generate", started_at=start, device="cpu")
    if samples_dir is not None:
        _write_samples(catalog, run.id, config, samples_dir)
    n_images = config.data.images_per_class * len(classes)
    catalog.update_run(run.id, gen_images=n_images, gen_seconds=n_images / 40, gen_images_per_s=40.0)
    catalog.add_epoch(run.id, 0, val_loss=0.70, val_acc=0.5)
    for e in range(1, done_epochs + 1):
        level = quality * (1 - math.exp(-e / 2))
        catalog.add_steps(
            run.id,
            [
                {"epoch": e, "step": s, "loss": max(0.02, 0.7 * (1 - level) + rng.uniform(-0.05, 0.05))}
                for s in range(steps_per_epoch)
            ],
        )
        catalog.add_epoch(
            run.id, e,
            train_loss=0.7 * (1 - level) + 0.02, train_acc=0.5 + 0.5 * level,
            val_loss=0.7 * (1 - level * 0.9) + 0.03, val_acc=0.5 + 0.48 * level,
            lr=config.train.lr, seconds=3.0, images_per_s=80.0,
        )  # fmt: skip
    if status == "done":
        _evaluate(catalog, run.id, classes, quality, rng, real_photos)
    end = start + 60 + 20 * done_epochs
    catalog.update_run(
        run.id, status=status, stage="evaluate" if status == "done" else "train", finished_at=end,
        duration_s=end - start, heartbeat_at=end, updated_at=end, created_at=start - 1,
        error="Cancelled by the user" if status == "cancelled" else None,
    )  # fmt: skip
    if tags:
        catalog.set_tags(run.id, tags)
        catalog.update_run(run.id, updated_at=end)
    return run.id


def _evaluate(catalog: Catalog, run_id: int, classes: list[str], quality: float, rng, real_photos) -> None:
    for checkpoint, q in (("before", 0.0), ("best", quality)):
        acc = 0.5 + 0.48 * q
        catalog.add_evaluation(
            run_id,
            {"name": "synthetic-val", "checkpoint": checkpoint, "accuracy": acc, "balanced_accuracy": acc,
             "classes": classes, "n_images": 20},
        )  # fmt: skip
        photos = real_photos or [(f"/photos/{c}/{c}_{i:02d}.png", c) for c in classes for i in range(6)]
        predictions = []
        for path, label in photos:
            right = rng.random() < 0.5 + 0.4 * q
            predicted = label if right else next(c for c in classes if c != label)
            confidence = round(0.55 + 0.4 * rng.random(), 3)
            probabilities = {c: (confidence if c == predicted else round((1 - confidence) / (len(classes) - 1), 3))
                             for c in classes}  # fmt: skip
            predictions.append({"path": path, "label": label, "predicted": predicted, "confidence": confidence,
                                "probabilities": probabilities})  # fmt: skip
        matrix = [
            [sum(1 for p in predictions if p["label"] == t and p["predicted"] == c) for c in classes]
            for t in classes
        ]
        recalls = {t: matrix[i][i] / max(1, sum(matrix[i])) for i, t in enumerate(classes)}
        correct = sum(matrix[i][i] for i in range(len(classes)))
        catalog.add_evaluation(
            run_id,
            {
                "name": "real", "checkpoint": checkpoint, "path": "assets/real",
                "accuracy": correct / len(predictions), "balanced_accuracy": sum(recalls.values()) / len(classes),
                "classes": classes, "confusion_matrix": matrix, "n_images": len(predictions),
                "per_class": {c: {"recall": r, "support": sum(matrix[i])} for i, (c, r) in enumerate(recalls.items())},
            },
            predictions,
            primary=True,
        )  # fmt: skip


def _write_samples(catalog: Catalog, run_id: int, config, folder: Path) -> None:
    from synthsign_tui.engine.generators.procedural import render

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, spec in enumerate(config.data.classes * 3):
        image, _ = render(spec.draw, seed=1000 + i, height=64, width=64, scene=True)
        path = folder / f"{run_id}-{spec.name}-{i}.png"
        image.save(path)
        rows.append(
            {"path": str(path), "label": spec.name, "split": "train", "prompt": spec.prompts[0], "seed": i}
        )
    catalog.add_samples(run_id, rows)


def real_photos(root: Path, per_class: int = 8) -> list[tuple[str, str]]:
    """Up to `per_class` photos of each class folder under `root`, sorted, as (path, label)."""
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))
        out.extend((str(f), folder.name) for f in files[:per_class])
    return out


def tiny_overrides(images_per_class: int = 4, val_fraction: float = 0.25) -> list[str]:
    """KEY=VALUE overrides for a dataset of 32 px images without background images or localiser scenes."""
    return [f"data.images_per_class={images_per_class}", f"data.val_fraction={val_fraction}",
            "data.background_images=0", "generator.height=32", "generator.width=32", "localiser.scenes=0"]  # fmt: skip


def tiny_config(*overrides: str, images_per_class: int = 4, val_fraction: float = 0.25) -> RunConfig:
    """The offline preset with `tiny_overrides`, then `overrides`."""
    return load_config(
        preset="road-signs-offline", overrides=[*tiny_overrides(images_per_class, val_fraction), *overrides]
    )


def dataset_files(dataset: Path) -> dict[str, bytes]:
    """Every generated PNG under `dataset`, by its relative path."""
    return {p.relative_to(dataset).as_posix(): p.read_bytes() for p in sorted(dataset.rglob("*.png"))}
