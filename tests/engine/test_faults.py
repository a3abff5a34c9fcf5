"""Crash consistency: a run killed (SIGKILL) at each write point of generate, train and evaluate, then resumed,
records exactly what an uninterrupted run with the same seed records.

The killed runs are forked from a forkserver that imported torch once, so each costs no interpreter start;
`SYNTHSIGN_FAULT` (synthsign_tui/faults.py) picks the write point and which of its hits kills.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from synthsign_tui import faults
from synthsign_tui.catalog import Catalog
from synthsign_tui.config import load_config
from synthsign_tui.engine import resume_run, start_run

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "real"

OVERRIDES = [
    "data.images_per_class=6", "data.background_images=0", "generator.height=32", "generator.width=32",
    "train.image_size=32", "train.epochs=2", "train.batch_size=4", "train.num_threads=1",
    "evaluate.multicrop=off", "evaluate.tta=none",
]  # fmt: skip

# (point, which hit kills): each lands where the records could disagree
KILLS = [
    ("generate.image", 3),  # an image file without its catalog row or manifest line
    ("generate.samples", 5),  # catalog rows of images missing from the manifest
    ("generate.manifest", 7),
    ("train.steps", 1),  # during the first epoch: its steps recorded, no checkpoint yet
    ("train.checkpoint-temp", 2),  # last.pt of epoch 1 half-written under its temporary name
    ("train.checkpoint", 2),  # the final last.pt written, its epoch row not recorded
    ("train.epoch", 1),
    ("evaluate.record", 3),  # the evaluations half recorded
]


def tiny_config(real: Path):
    return load_config(preset="road-signs-offline", overrides=[*OVERRIDES, f"evaluate.real_dir={real}"])


def run_killed(db: str, real: Path, fault: str) -> None:
    """In a forked child: start the run with the fault armed; the fault kills this process."""
    os.environ[faults.ENV] = fault
    start_run(tiny_config(real), Catalog(db))


def records(db: Path) -> dict:
    """Everything the catalog holds about run 1 that a rerun must reproduce (not times nor row ids)."""
    run_dir = str(db.parent / "runs" / "1")
    with sqlite3.connect(db) as conn:

        def rows(query: str) -> list:
            return [
                tuple(round(v, 5) if isinstance(v, float) else v for v in row) for row in conn.execute(query)
            ]

        found = {
            "run": rows("SELECT status, stage, gen_images, epochs_done, val_acc, best_val_acc, real_acc, real_bal_acc, "
                        "before_val_acc, before_real_bal_acc, error FROM runs"),
            "epochs": rows("SELECT epoch, train_loss, train_acc, val_loss, val_acc, lr FROM epochs ORDER BY epoch"),
            "steps": rows("SELECT epoch, step, loss, lr FROM steps ORDER BY step, id"),
            "evaluations": rows("SELECT name, checkpoint, accuracy, balanced_accuracy, n_images, confusion_json "
                                "FROM evaluations ORDER BY name, checkpoint"),
            "predictions": [
                (name, checkpoint, path.removeprefix(run_dir), predicted, confidence)
                for name, checkpoint, path, predicted, confidence in rows(
                    "SELECT e.name, e.checkpoint, p.path, p.predicted, p.confidence FROM predictions p "
                    "JOIN evaluations e ON e.id = p.evaluation_id ORDER BY e.name, e.checkpoint, p.path"
                )
            ],
            "samples": sorted(
                (path.removeprefix(run_dir), label, split, seed)
                for path, label, split, seed in conn.execute("SELECT path, label, split, seed FROM samples")
            ),
        }  # fmt: skip
    dataset = db.parent / "runs" / "1" / "dataset"
    found["images"] = sorted(
        (p.relative_to(dataset).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in dataset.rglob("*.png")
    )
    found["stray files"] = sorted(p.name for p in (db.parent / "runs").rglob(".*"))
    return found


@pytest.fixture(scope="module")
def forkserver():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "torchvision", "synthsign_tui.engine.stages.train"])
    return context


def test_a_run_killed_at_any_write_point_resumes_to_the_same_records(tmp_path, forkserver):
    real = tmp_path / "real"  # two photos a class: evaluation is a write point, not a benchmark
    for photo in [p for c in ("stop", "warning") for p in sorted((ASSETS / c).iterdir())[:2]]:
        (real / photo.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, real / photo.parent.name / photo.name)
    reference = tmp_path / "reference" / "runs.db"
    reference.parent.mkdir()
    start_run(tiny_config(real), Catalog(reference))
    expected = records(reference)
    assert expected["run"][0][0] == "done" and len(expected["epochs"]) == 3 and expected["stray files"] == []
    assert len(expected["evaluations"]) == 4 and len(expected["samples"]) == len(expected["images"]) == 12

    for point, hit in KILLS:
        assert point in faults.POINTS
        db = tmp_path / f"{point}-{hit}" / "runs.db"
        db.parent.mkdir()
        child = forkserver.Process(target=run_killed, args=(str(db), real, f"{point}:{hit}"))
        child.start()
        child.join(300)
        assert child.exitcode == -signal.SIGKILL, f"{point}:{hit} was not reached"
        catalog = Catalog(db)
        assert catalog.get_run(1).display_status() == "interrupted", point
        resume_run(1, catalog)
        assert records(db) == expected, f"killed at {point}:{hit}"
