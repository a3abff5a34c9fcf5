"""What the run and compare screens read from the catalog, in workers, and how long series stay small.

`RunReader` remembers what it has already read of one run (last step id, last log id, which evaluations and
samples) and returns only what is new, so following a long run costs the same every second. `Series`
keeps at most `MAX_POINTS` points by averaging neighbours, so plot memory stays flat however long the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select

from synthsign_tui.catalog.store import Catalog
from synthsign_tui.catalog.tables import EpochMetric, Evaluation, LogLine, Prediction, Run, Sample
from synthsign_tui.vocab import SYNTHETIC_VAL

MAX_POINTS = 400
SAMPLES_EVERY_S = 3.0  # thumbnails change at most this often, however fast images are made


class Series:
    """A line of (x, y) points that halves itself (pairwise means) whenever it grows past `max_points`."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self.xs: list[float] = []
        self.ys: list[float] = []
        self._bucket = 1  # raw points per stored point
        self._pending: list[tuple[float, float]] = []

    def append(self, x: float, y: float) -> None:
        self._pending.append((x, y))
        if len(self._pending) < self._bucket:
            return
        self.xs.append(sum(p[0] for p in self._pending) / len(self._pending))
        self.ys.append(sum(p[1] for p in self._pending) / len(self._pending))
        self._pending = []
        if len(self.xs) > self.max_points:
            self.xs = [(a + b) / 2 for a, b in zip(self.xs[::2], self.xs[1::2], strict=False)]
            self.ys = [(a + b) / 2 for a, b in zip(self.ys[::2], self.ys[1::2], strict=False)]
            self._bucket *= 2

    def __len__(self) -> int:
        return len(self.xs)


class StepAxis:
    """Numbers training steps 1, 2, 3… and says at which step each epoch ended (for the per-epoch points)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0

    def x(self, epoch: int) -> float:
        self.counts[epoch] = self.counts.get(epoch, 0) + 1
        self.total += 1
        return float(self.total)

    def epoch_x(self, epoch: int) -> float:
        """The step at the end of `epoch` (epoch 0, before training, is step 0); the epoch itself without steps."""
        if not self.counts:
            return float(epoch)
        return float(sum(c for e, c in self.counts.items() if e <= epoch))


@dataclass
class RunUpdate:
    run: Run
    epochs: list[EpochMetric]
    steps: list[tuple[int, float]] = field(default_factory=list)  # (epoch, loss), new only
    logs: list[LogLine] = field(default_factory=list)  # new only
    samples: list[Sample] | None = None  # None: unchanged
    evaluations: list[Evaluation] | None = None  # None: unchanged
    predictions: dict[int, list[Prediction]] = field(default_factory=dict)


class RunReader:
    """Reads a run incrementally. Not thread-safe: one reader per screen, used by one worker at a time."""

    def __init__(self, catalog: Catalog, run_id: int) -> None:
        self.catalog = catalog
        self.run_id = run_id
        self.last_step = 0
        self.last_log = 0
        self.last_epoch = 0
        self.epoch_rows: dict[int, EpochMetric] = {}
        self.newest_sample = 0
        self.samples_read_at = -SAMPLES_EVERY_S
        self.evaluation_ids: tuple[int, ...] = ()

    def read(self, n_samples: int = 6) -> RunUpdate | None:
        run = self.catalog.get_run(self.run_id)
        if run is None:
            return None
        update = RunUpdate(run=run, epochs=self._epochs())
        steps = self.catalog.steps(self.run_id, after_id=self.last_step)
        if steps:
            self.last_step = steps[-1].id
            update.steps = [(s.epoch, s.loss) for s in steps]
        logs = self.catalog.logs(self.run_id, after_id=self.last_log)
        if logs:
            self.last_log = logs[-1].id
            update.logs = logs
        newest = self.catalog.samples(self.run_id, limit=1)
        now = time.monotonic()
        if newest and newest[0].id != self.newest_sample and now - self.samples_read_at > SAMPLES_EVERY_S:
            self.newest_sample, self.samples_read_at = newest[0].id, now
            labels = [c["name"] for c in run.config.get("data", {}).get("classes", [])] + ["_background"]
            update.samples = varied(self._newest_per_label(labels, n_samples), n_samples)
        evaluations = self.catalog.evaluations(self.run_id)
        ids = tuple(e.id for e in evaluations)
        if ids != self.evaluation_ids:
            self.evaluation_ids = ids
            update.evaluations = evaluations
            for ev in evaluations:
                if ev.checkpoint != "before" and ev.name != SYNTHETIC_VAL:
                    update.predictions[ev.id] = self.catalog.predictions(ev.id)
        return update

    def _epochs(self) -> list[EpochMetric]:
        """All epochs, reading only rows added since the last call (a resumed run re-adds epochs: newest wins)."""
        with self.catalog.session() as s:
            q = select(EpochMetric).where(
                col(EpochMetric.run_id) == self.run_id, col(EpochMetric.id) > self.last_epoch
            )
            for row in s.exec(q.order_by(col(EpochMetric.id))).all():
                self.epoch_rows[row.epoch] = row
                self.last_epoch = row.id
        return [self.epoch_rows[e] for e in sorted(self.epoch_rows)]

    def _newest_per_label(self, labels: list[str], n: int) -> list[Sample]:
        with self.catalog.session() as s:
            rows: list[Sample] = []
            for label in labels:
                q = select(Sample).where(col(Sample.run_id) == self.run_id, col(Sample.label) == label)
                rows.extend(s.exec(q.order_by(col(Sample.id).desc()).limit(n)).all())
        return sorted(rows, key=lambda r: -r.id)


def varied(samples: list[Sample], n: int) -> list[Sample]:
    """Up to `n` of the newest samples, taking each class in turn so one class does not fill every slot."""
    by_label: dict[str, list[Sample]] = {}
    for sample in samples:
        by_label.setdefault(sample.label, []).append(sample)
    labels = sorted(by_label, key=lambda label: (label.startswith("_"), label))
    chosen: list[Sample] = []
    while len(chosen) < n and any(by_label.values()):
        for label in labels:
            if by_label[label] and len(chosen) < n:
                chosen.append(by_label[label].pop(0))
    return chosen


def primary_evaluation(evaluations: list[Evaluation]) -> Evaluation | None:
    """The real-photo evaluation to show first: `real` at the best checkpoint, else any after-training one."""
    after = [e for e in evaluations if e.checkpoint != "before" and e.name != SYNTHETIC_VAL]
    for ev in after:
        if ev.name == "real":
            return ev
    return after[0] if after else None


def find_evaluation(evaluations: list[Evaluation], name: str, checkpoint: str) -> Evaluation | None:
    for ev in evaluations:
        if ev.name == name and ev.checkpoint == checkpoint:
            return ev
    return None


def per_class(ev: Evaluation | None) -> dict[str, Any]:
    return ev.per_class if ev is not None else {}


@dataclass
class CompareData:
    runs: list[Run]
    configs: list[dict[str, Any]]
    epochs: dict[int, list[EpochMetric]]
    evaluations: dict[int, list[Evaluation]]
    steps: dict[int, Series]


def read_compare(catalog: Catalog, run_ids: list[int]) -> CompareData:
    runs = [r for r in (catalog.get_run(i) for i in run_ids) if r is not None]
    steps: dict[int, Series] = {}
    for run in runs:
        series, axis = Series(), StepAxis()
        for s in catalog.steps(run.id):
            series.append(axis.x(s.epoch), s.loss)
        steps[run.id] = series
    return CompareData(
        runs=runs,
        configs=[r.config for r in runs],
        epochs={r.id: catalog.epochs(r.id) for r in runs},
        evaluations={r.id: catalog.evaluations(r.id) for r in runs},
        steps=steps,
    )
