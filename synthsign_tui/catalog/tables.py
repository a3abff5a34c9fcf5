"""The catalog's tables: one SQLModel class per table of `runs.db`, and the run statuses.

`runs` holds one row per run with its headline values in columns (so list queries read no other table);
per-epoch and per-step metrics, evaluations, predictions, log lines and generated samples have their own
tables keyed by run id. `catalog.Catalog` is the only writer.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from synthsign_tui.catalog.owner import display_status
from synthsign_tui.errors import SynthSignError
from synthsign_tui.vocab import RESUMABLE, STATUSES  # noqa: F401 (the statuses a run row takes)


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _json(column: str, empty: list[Any] | dict[str, Any]) -> Any:
    """A JSON value stored as text in `column` (its name and SQLite storage as in earlier catalogs)."""
    return Field(default_factory=type(empty), sa_column=Column(column, JSON, nullable=False, default=empty))


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    # list queries filter on `archived` and sort on one of these: each pair is an index, so no sort step
    __table_args__ = tuple(
        Index(f"ix_runs_archived_{c}", "archived", c)
        for c in (
            "created_at",
            "updated_at",
            "name",
            "status",
            "val_acc",
            "real_bal_acc",
            "gap",
            "duration_s",
        )
    )

    id: int = Field(default=None, primary_key=True)  # None until inserted; every row read has one
    name: str = Field(index=True)
    preset: str | None = None
    status: str = Field(default="queued", index=True)
    stage: str | None = None
    config_json: str = "{}"
    created_at: float = Field(default_factory=time.time, index=True)
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = Field(default_factory=time.time, index=True)
    heartbeat_at: float | None = None
    host: str | None = None
    # the lease of the process that runs it now (or last ran it): see catalog/owner.py
    pid: int | None = None
    owner_host: str | None = None
    owner_start: str | None = None
    lease_at: float | None = None
    device: str | None = None
    versions: dict[str, Any] = _json("versions_json", {})
    git_commit: str | None = None
    command: str | None = None
    error: str | None = None
    run_dir: str | None = None
    tags: str = ""
    notes: str = ""
    archived: bool = False
    # headline config values
    generator_kind: str | None = None
    model: str | None = None
    images_per_class: int | None = None
    epochs_planned: int | None = None
    image_size: int | None = None
    seed: int | None = None
    # progress of the current stage
    progress_done: int = 0
    progress_total: int = 0
    progress_rate: float | None = None  # items/s of the current stage, as the run measures it
    # generation statistics
    gen_images: int = 0
    gen_seconds: float | None = None
    gen_images_per_s: float | None = None
    # headline metrics
    epochs_done: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    best_val_acc: float | None = None
    before_val_acc: float | None = None
    real_acc: float | None = None
    real_bal_acc: float | None = None
    before_real_bal_acc: float | None = None
    gap: float | None = None
    duration_s: float | None = None

    @property
    def folder(self) -> Path:
        """The run's folder (every run gets one when it is created)."""
        if not self.run_dir:
            raise SynthSignError(f"run {self.id} has no folder in the catalog")
        return Path(self.run_dir)

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = json.loads(self.config_json)
        return config

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split(",") if t]

    def display_status(self, now: float | None = None) -> str:
        """`running` whose owner died (see catalog/owner.py) reads as `interrupted`."""
        return display_status(
            self.status,
            self.heartbeat_at,
            now,
            pid=self.pid,
            owner_host=self.owner_host,
            owner_start=self.owner_start,
        )

    def progress_eta(self, now: float | None = None) -> float | None:
        """Seconds left in the current stage at its recorded rate, counted from the last progress record."""
        if not self.progress_rate or not self.progress_total or self.progress_done >= self.progress_total:
            return None
        left = (self.progress_total - self.progress_done) / self.progress_rate
        return max(0.0, left - max(0.0, (now or time.time()) - (self.heartbeat_at or 0.0)))


class EpochMetric(SQLModel, table=True):
    __tablename__ = "epochs"
    __table_args__ = (UniqueConstraint("run_id", "epoch"),)

    id: int = Field(default=None, primary_key=True)  # None until inserted; every row read has one
    run_id: int = Field(foreign_key="runs.id", index=True)
    epoch: int
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    lr: float | None = None
    seconds: float | None = None
    images_per_s: float | None = None
    created_at: float = Field(default_factory=time.time)


class StepMetric(SQLModel, table=True):
    __tablename__ = "steps"
    __table_args__ = (Index("ix_steps_run_id_id", "run_id", "id"),)

    id: int = Field(default=None, primary_key=True)  # None until inserted; every row read has one
    run_id: int = Field(foreign_key="runs.id")
    epoch: int
    step: int
    loss: float
    lr: float | None = None


class Evaluation(SQLModel, table=True):
    __tablename__ = "evaluations"

    id: int = Field(default=None, primary_key=True)  # None until inserted; every row read has one
    run_id: int = Field(foreign_key="runs.id", index=True)
    name: str
    checkpoint: str
    path: str | None = None
    mode: str = "single"
    accuracy: float | None = None
    balanced_accuracy: float | None = None
    ece: float | None = None
    n_images: int = 0
    n_skipped: int = 0
    skipped: list[dict[str, str]] = _json("skipped_json", [])
    classes: list[str] = _json("classes_json", [])
    per_class: dict[str, Any] = _json("per_class_json", {})
    confusion_matrix: list[list[int]] = _json("confusion_json", [])
    seconds: float | None = None
    created_at: float = Field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "checkpoint": self.checkpoint,
            "path": self.path,
            "mode": self.mode,
            "accuracy": self.accuracy,
            "balanced_accuracy": self.balanced_accuracy,
            "ece": self.ece,
            "n_images": self.n_images,
            "n_skipped": self.n_skipped,
            "skipped": self.skipped,
            "classes": self.classes,
            "per_class": self.per_class,
            "confusion_matrix": self.confusion_matrix,
            "seconds": self.seconds,
            "created_at": iso(self.created_at),
        }


class Prediction(SQLModel, table=True):
    __tablename__ = "predictions"

    id: int = Field(default=None, primary_key=True)  # None until inserted; every row read has one
    evaluation_id: int = Field(foreign_key="evaluations.id", index=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    path: str
    label: str | None = None
    predicted: str
    confidence: float
    correct: bool | None = None
    probabilities: dict[str, float] = _json("probabilities_json", {})
    # the boxes looked at, COCO [x, y, w, h] in the photo's pixels, the chosen one marked; NULL: the whole photo
    boxes_json: str | None = Field(default=None, nullable=True)

    @property
    def boxes(self) -> list[dict[str, Any]] | None:
        if self.boxes_json is None:
            return None
        boxes: list[dict[str, Any]] = json.loads(self.boxes_json)
        return boxes

    @property
    def box(self) -> list[float] | None:
        """The chosen box [x, y, w, h], or None (whole photo classified, or no sign found)."""
        chosen: list[float] | None = next((b["bbox"] for b in self.boxes or [] if b.get("chosen")), None)
        return chosen

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "label": self.label,
            "predicted": self.predicted,
            "confidence": self.confidence,
            "correct": self.correct,
            "probabilities": self.probabilities,
            "box": self.box,
            "boxes": self.boxes,
        }


class LogLine(SQLModel, table=True):
    __tablename__ = "logs"
    __table_args__ = (Index("ix_logs_run_id_id", "run_id", "id"),)

    id: int = Field(default=None, primary_key=True)  # None until inserted; every row read has one
    run_id: int = Field(foreign_key="runs.id")
    created_at: float = Field(default_factory=time.time)
    level: str = "info"
    message: str = ""


class Sample(SQLModel, table=True):
    """A generated image, for thumbnails: the newest rows of a run are what the run screen shows."""

    __tablename__ = "samples"
    __table_args__ = (Index("ix_samples_run_id_id", "run_id", "id"),)

    id: int = Field(default=None, primary_key=True)  # None until inserted; every row read has one
    run_id: int = Field(foreign_key="runs.id")
    path: str
    label: str
    split: str
    prompt: str = ""
    seed: int = 0


class Setting(SQLModel, table=True):
    """Per-catalog preferences of the dashboard (filter, sort, columns)."""

    __tablename__ = "settings"

    key: str = Field(primary_key=True)
    value: str = ""
