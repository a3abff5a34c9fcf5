"""The run catalog: one SQLite file (`runs.db`) that records every run, its metrics and its predictions.

The `runs` table keeps each run's headline values (status, key config values, latest and best metrics) in
indexed columns so that listing, sorting and filtering thousands of runs stays instant; per-epoch and
per-step history, evaluations and predictions live in their own tables, read only when a run is opened.
WAL mode plus a busy timeout lets a run write from a worker thread or another process while a dashboard
reads. The schema version is SQLite's `user_version`; opening an older catalog upgrades it in place.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, delete, select

from synthsign_tui.catalog import opening, schema
from synthsign_tui.catalog.owner import Owner, RunBusy, busy_message, owner_alive, this_process
from synthsign_tui.catalog.tables import (
    EpochMetric,
    Evaluation,
    LogLine,
    Prediction,
    Run,
    Sample,
    Setting,
    StepMetric,
    iso,
)
from synthsign_tui.errors import SynthSignError
from synthsign_tui.vocab import SYNTHETIC_VAL

SCHEMA_VERSION = 3
HEARTBEAT_SECONDS = 5.0
DEFAULT_DB = "runs.db"


# Upgrade steps beyond added columns, tables and indexes (which `schema.upgrade` adds from the models):
# MIGRATIONS[v] takes a catalog from version v to v + 1 and must be repeat-safe.
# v1 -> v2 added runs.tags, runs.notes, runs.archived and the settings table (columns and table only); the
# indexes a model declares are created whenever one is missing (create_all adds none to an existing table).
# v2 -> v3 added the lease of a run's owner: runs.owner_host, runs.owner_start, runs.lease_at (columns only).
MIGRATIONS: dict[int, list[str]] = {1: [], 2: []}


def default_db_path() -> Path:
    return Path(os.environ.get("SYNTHSIGN_DB") or DEFAULT_DB)


class Catalog:
    """A catalog file. One instance per process; each method is one short transaction, safe from any thread."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        runs_dir: str | os.PathLike[str] | None = None,
        *,
        read_only: bool | None = None,
    ):
        """Open (or create) a catalog. `read_only`: True opens it for reading only; None (default) does so
        when the file or its folder cannot be written. Raises CatalogError for anything but a catalog."""
        self.path = Path(path) if path is not None else default_db_path()
        self.runs_dir = Path(runs_dir) if runs_dir else self.path.resolve().parent / "runs"
        found = opening.probe(self.path, read_only)
        self.read_only = found.read_only
        self.engine: Engine = opening.open_engine(self.path, read_only=self.read_only)
        try:
            self._migrate(found)
        except BaseException:
            self.engine.dispose()
            raise

    # ------------------------------------------------------------------ schema

    def _migrate(self, found: opening.Probe) -> None:
        schema.upgrade(self.engine, found, SCHEMA_VERSION, MIGRATIONS, read_only=self.read_only)

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text("PRAGMA user_version")).scalar_one()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------------ runs

    def create_run(self, config: Any, *, command: str | None = None, status: str = "queued") -> Run:
        """A new run row and its (empty) folder `runs_dir/<id>`."""
        cfg = config.to_dict()
        run = Run(
            name=cfg["name"],
            preset=cfg.get("preset"),
            status=status,
            config_json=json.dumps(cfg, sort_keys=True),
            host=socket.gethostname(),
            command=command,
            generator_kind=cfg["generator"]["kind"],
            model=cfg["generator"]["model"] if cfg["generator"]["kind"] == "diffusers" else "procedural",
            images_per_class=cfg["data"]["images_per_class"],
            epochs_planned=cfg["train"]["epochs"],
            image_size=cfg["train"]["image_size"],
            seed=cfg["seed"],
        )
        with self.session() as s:
            s.add(run)
            s.commit()
            s.refresh(run)
            run.run_dir = str(self._free_run_dir(run.id))
            s.add(run)
            s.commit()
            s.refresh(run)
        return run

    def _free_run_dir(self, run_id: int) -> Path:
        """`runs/<id>`, or `runs/<id>-<n>` when a folder of that name is left from another catalog."""
        path, n = self.runs_dir / str(run_id), 1
        while path.exists():
            n += 1
            path = self.runs_dir / f"{run_id}-{n}"
        return path.resolve()

    def get_run(self, run_id: int) -> Run | None:
        with self.session() as s:
            return s.get(Run, run_id)

    def require_run(self, run_id: int) -> Run:
        run = self.get_run(run_id)
        if run is None:
            raise SynthSignError(f"no run {run_id} in {self.path}: `synthsign runs` lists the runs")
        return run

    def update_run(self, run_id: int, **fields: Any) -> Run:
        fields.setdefault("updated_at", time.time())
        with self.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise SynthSignError(f"no run {run_id} in {self.path}")
            for key, value in fields.items():
                if not hasattr(run, key):
                    raise AttributeError(f"Run has no field {key!r}")
                setattr(run, key, value)
            s.add(run)
            s.commit()
            s.refresh(run)
            return run

    def add_generation(self, run_id: int, made: int, seconds: float, images: int) -> None:
        """Add `made` images in `seconds` to the run's generation time and rate; `images` made in all."""
        prior = self.require_run(run_id)
        total_s = (prior.gen_seconds or 0.0) + seconds
        rated = (prior.gen_images_per_s or 0.0) * (prior.gen_seconds or 0.0) + made
        self.update_run(run_id, gen_images=images, gen_seconds=total_s, gen_images_per_s=rated / total_s)

    def heartbeat(self, run_id: int, **fields: Any) -> None:
        now = time.time()
        self.update_run(run_id, heartbeat_at=now, updated_at=now, **fields)

    def take_lease(self, run_id: int, owner: Owner | None = None) -> Run:
        """Make `owner` (this process by default) the one owner of the run and mark it `running`.

        One conditional UPDATE, taken only if the row is still as read (compare and swap), so of two processes
        that try at once exactly one wins. Raises RunBusy, naming the holder, while another live process owns it.
        """
        owner = owner or this_process()
        for _ in range(3):
            run = self.require_run(run_id)
            if run.status == "running" and self._holder_alive(run, owner):
                raise RunBusy(busy_message(run))
            now = time.time()
            with self.engine.begin() as conn:
                taken = conn.execute(
                    text(
                        "UPDATE runs SET status = 'running', pid = :pid, owner_host = :host, owner_start = :start, "
                        "lease_at = :now, heartbeat_at = :now, updated_at = :now, finished_at = NULL, error = NULL, "
                        "progress_done = 0, progress_total = 0 "
                        "WHERE id = :id AND status = :status AND pid IS :old_pid AND lease_at IS :old_lease"
                    ),
                    {"pid": owner.pid, "host": owner.host, "start": owner.start, "now": now, "id": run_id,
                     "status": run.status, "old_pid": run.pid, "old_lease": run.lease_at},
                ).rowcount  # fmt: skip
            if taken == 1:
                return self.require_run(run_id)
        raise RunBusy(busy_message(self.require_run(run_id)))

    @staticmethod
    def _holder_alive(run: Run, claimant: Owner) -> bool:
        if (run.pid, run.owner_host, run.owner_start) == (claimant.pid, claimant.host, claimant.start):
            return True  # this very process runs it already (the dashboard resuming its own run)
        return owner_alive(run.pid, run.owner_host, run.owner_start, run.heartbeat_at)

    def list_runs(
        self,
        *,
        include_archived: bool = False,
        status: str | None = None,
        order_by: str = "created_at",
        descending: bool = True,
        limit: int | None = None,
        updated_since: float | None = None,
    ) -> list[Run]:
        column = getattr(Run, order_by, None)
        if column is None:
            raise SynthSignError(f"cannot sort by {order_by!r}: it is not a run column")
        query = select(Run)
        if not include_archived:
            query = query.where(Run.archived == False)  # noqa: E712 (SQL expression)
        if status:
            query = query.where(Run.status == status)
        if updated_since is not None:
            query = query.where(Run.updated_at > updated_since)
        query = query.order_by(column.desc() if descending else column.asc(), Run.id.desc())
        if limit:
            query = query.limit(limit)
        with self.session() as s:
            return list(s.exec(query).all())

    def mark_interrupted(self, now: float | None = None) -> list[int]:
        """Runs left `running` by a process that died (see catalog/owner.py) become `interrupted`."""
        if self.read_only:
            return []  # nothing can be recorded; Run.display_status shows them as interrupted anyway
        now = now or time.time()
        with self.session() as s:
            runs = s.exec(select(Run).where(Run.status == "running")).all()
            stale = [r for r in runs if r.display_status(now) == "interrupted"]
            for run in stale:
                run.status = "interrupted"
                run.updated_at = now
                run.error = run.error or "the process running it stopped (killed, crashed or disconnected)"
                s.add(run)
            s.commit()
            return [r.id for r in stale]

    def set_tags(self, run_id: int, tags: Iterable[str]) -> Run:
        clean = sorted({t.strip().replace(",", " ") for t in tags if t.strip()})
        return self.update_run(run_id, tags=",".join(clean))

    def delete_run(self, run_id: int, *, remove_folder: bool = True) -> None:
        run = self.require_run(run_id)
        with self.session() as s:
            for model in (Prediction, Evaluation, EpochMetric, StepMetric, LogLine, Sample):
                s.exec(delete(model).where(model.run_id == run_id))
            s.exec(delete(Run).where(Run.id == run_id))
            s.commit()
        if remove_folder and run.run_dir and Path(run.run_dir).is_dir():
            shutil.rmtree(run.run_dir)

    # ------------------------------------------------------------------ metrics

    def add_epoch(self, run_id: int, epoch: int, **metrics: Any) -> EpochMetric:
        """Record (or replace, on resume) one epoch and refresh the run's headline values."""
        with self.session() as s:
            s.exec(delete(EpochMetric).where(EpochMetric.run_id == run_id, EpochMetric.epoch == epoch))
            row = EpochMetric(run_id=run_id, epoch=epoch, **metrics)
            s.add(row)
            run = s.get(Run, run_id)
            if epoch > 0:
                run.epochs_done = max(run.epochs_done, epoch)
                run.train_loss = metrics.get("train_loss", run.train_loss)
            run.val_loss = metrics.get("val_loss", run.val_loss)
            val = metrics.get("val_acc")
            if val is not None:
                if epoch == 0:
                    run.before_val_acc = val
                else:
                    run.val_acc = val
                    run.best_val_acc = val if run.best_val_acc is None else max(run.best_val_acc, val)
            run.updated_at = time.time()
            s.add(run)
            s.commit()
            s.refresh(row)
            return row

    def epochs(self, run_id: int) -> list[EpochMetric]:
        with self.session() as s:
            q = select(EpochMetric).where(EpochMetric.run_id == run_id).order_by(EpochMetric.epoch)
            return list(s.exec(q).all())

    def add_steps(self, run_id: int, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        with self.session() as s:
            s.add_all(StepMetric(run_id=run_id, **r) for r in rows)
            s.commit()

    def delete_steps_after(self, run_id: int, epoch: int) -> None:
        """Drop the step rows of epochs after `epoch` (an interrupted epoch being rerun is not drawn twice)."""
        with self.session() as s:
            s.exec(delete(StepMetric).where(StepMetric.run_id == run_id, StepMetric.epoch > epoch))
            s.commit()

    def steps(self, run_id: int, after_id: int = 0) -> list[StepMetric]:
        with self.session() as s:
            q = select(StepMetric).where(StepMetric.run_id == run_id, StepMetric.id > after_id)
            return list(s.exec(q.order_by(StepMetric.id)).all())

    def add_evaluation(
        self,
        run_id: int,
        result: dict[str, Any],
        predictions: Sequence[dict[str, Any]] = (),
        *,
        primary: bool = False,
    ) -> Evaluation:
        """Store one evaluation (metrics dict as `evaluate` returns it) with its per-image predictions.

        Replaces an earlier evaluation of the same (run, name, checkpoint). `primary` marks the run's main real
        folder, whose numbers become the run's headline real-photo metrics.
        """
        ev = Evaluation(
            run_id=run_id,
            name=result["name"],
            checkpoint=result["checkpoint"],
            path=result.get("path"),
            mode=result.get("mode", "single"),
            accuracy=result.get("accuracy"),
            balanced_accuracy=result.get("balanced_accuracy"),
            ece=result.get("ece"),
            n_images=result.get("n_images", 0),
            n_skipped=result.get("n_skipped", 0),
            skipped_json=json.dumps(result.get("skipped", [])),
            classes_json=json.dumps(result.get("classes", [])),
            per_class_json=json.dumps(result.get("per_class", {})),
            confusion_json=json.dumps(result.get("confusion_matrix", [])),
            seconds=result.get("seconds"),
        )
        with self.session() as s:
            old = s.exec(
                select(Evaluation.id).where(
                    Evaluation.run_id == run_id,
                    Evaluation.name == ev.name,
                    Evaluation.checkpoint == ev.checkpoint,
                )
            ).all()
            if old:
                s.exec(delete(Prediction).where(Prediction.evaluation_id.in_(old)))
                s.exec(delete(Evaluation).where(Evaluation.id.in_(old)))
            s.add(ev)
            s.flush()
            s.add_all(
                Prediction(
                    evaluation_id=ev.id,
                    run_id=run_id,
                    path=p["path"],
                    label=p.get("label"),
                    predicted=p["predicted"],
                    confidence=p["confidence"],
                    correct=None if p.get("label") is None else p["label"] == p["predicted"],
                    probabilities_json=json.dumps(p.get("probabilities", {})),
                )
                for p in predictions
            )
            run = s.get(Run, run_id)
            # headline rule: balanced accuracy over the task's classes everywhere, so the gap compares like with like
            if ev.name == SYNTHETIC_VAL and ev.checkpoint == "before":
                run.before_val_acc = ev.balanced_accuracy
            elif ev.name == SYNTHETIC_VAL:
                run.val_acc = ev.balanced_accuracy
            if primary and ev.checkpoint == "before":
                run.before_real_bal_acc = ev.balanced_accuracy
            elif primary:
                run.real_acc = ev.accuracy
                run.real_bal_acc = ev.balanced_accuracy
            if run.real_bal_acc is not None and run.val_acc is not None:
                run.gap = run.val_acc - run.real_bal_acc
            run.updated_at = time.time()
            s.add(run)
            s.commit()
            s.refresh(ev)
            return ev

    def evaluations(self, run_id: int) -> list[Evaluation]:
        with self.session() as s:
            q = select(Evaluation).where(Evaluation.run_id == run_id).order_by(Evaluation.id)
            return list(s.exec(q).all())

    def predictions(self, evaluation_id: int) -> list[Prediction]:
        with self.session() as s:
            q = select(Prediction).where(Prediction.evaluation_id == evaluation_id).order_by(Prediction.id)
            return list(s.exec(q).all())

    # ------------------------------------------------------------------ logs, samples, settings

    def add_log(self, run_id: int, message: str, level: str = "info") -> None:
        with self.session() as s:
            s.add(LogLine(run_id=run_id, message=message, level=level))
            s.commit()

    def logs(self, run_id: int, after_id: int = 0, limit: int | None = None) -> list[LogLine]:
        with self.session() as s:
            q = select(LogLine).where(LogLine.run_id == run_id, LogLine.id > after_id).order_by(LogLine.id)
            return list(s.exec(q.limit(limit) if limit else q).all())

    def add_samples(self, run_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """Record generated images; an image recorded before (remade after a stop) is replaced, not repeated."""
        if rows:
            with self.session() as s:
                paths = [r["path"] for r in rows]
                s.exec(delete(Sample).where(Sample.run_id == run_id, Sample.path.in_(paths)))
                s.add_all(Sample(run_id=run_id, **r) for r in rows)
                s.commit()

    def samples(self, run_id: int, limit: int = 8) -> list[Sample]:
        """The newest generated images of a run, newest first."""
        with self.session() as s:
            q = select(Sample).where(Sample.run_id == run_id).order_by(Sample.id.desc()).limit(limit)
            return list(s.exec(q).all())

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        with self.session() as s:
            row = s.get(Setting, key)
            return row.value if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(Setting(key=key, value=value))
            s.commit()

    # ------------------------------------------------------------------ JSON shapes (stable: scripts rely on them)

    def run_summary(self, run: Run) -> dict[str, Any]:
        return {
            "id": run.id,
            "name": run.name,
            "status": run.display_status(),
            "preset": run.preset,
            "created_at": iso(run.created_at),
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
            "generator": run.generator_kind,
            "model": run.model,
            "images": run.gen_images,
            "epochs_done": run.epochs_done,
            "val_acc": run.val_acc,
            "before_val_acc": run.before_val_acc,
            "real_acc": run.real_acc,
            "real_balanced_acc": run.real_bal_acc,
            "before_real_balanced_acc": run.before_real_bal_acc,
            "gap": run.gap,
            "duration_s": run.duration_s,
            "tags": run.tag_list,
            "archived": run.archived,
            "run_dir": run.run_dir,
        }

    def run_details(self, run_id: int) -> dict[str, Any]:
        run = self.require_run(run_id)
        evaluations = []
        predictions: list[dict[str, Any]] = []
        for ev in self.evaluations(run_id):
            evaluations.append(ev.to_dict())
            if ev.checkpoint != "before" and ev.name != SYNTHETIC_VAL:
                predictions.extend({"evaluation": ev.name, **p.to_dict()} for p in self.predictions(ev.id))
        return {
            **self.run_summary(run),
            "config": run.config,
            "stage": run.stage,
            "error": run.error,
            "host": run.host,
            "device": run.device,
            "git_commit": run.git_commit,
            "command": run.command,
            "versions": json.loads(run.versions_json),
            "notes": run.notes,
            "generation": {
                "images": run.gen_images,
                "seconds": run.gen_seconds,
                "images_per_s": run.gen_images_per_s,
            },
            "epochs": [
                {
                    k: getattr(e, k)
                    for k in (
                        "epoch",
                        "train_loss",
                        "train_acc",
                        "val_loss",
                        "val_acc",
                        "lr",
                        "seconds",
                        "images_per_s",
                    )
                }
                for e in self.epochs(run_id)
            ],
            "evaluations": evaluations,
            "predictions": predictions,
        }
