"""Several processes, one run: `accelerate launch` on the CPU (gloo) makes the dataset of one process, trains once.

The slow tests start real launches of two processes; `--multi_gpu` starts them on a machine without GPUs (where
`--cpu` would start one), and the launch environment hides any GPU.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthsign_tui.catalog import Catalog
from synthsign_tui.config import load_config
from synthsign_tui.engine import Cancelled, Distributed, start_run
from synthsign_tui.engine.processes import (
    accelerate_launcher,
    launch_command,
    launch_detached,
    launch_environment,
    prepare_launch,
)
from synthsign_tui.engine.stages.generate import MANIFEST, part_path, read_manifest
from synthsign_tui.errors import SynthSignError

TINY = ["data.images_per_class=4", "data.val_fraction=0.25", "data.background_images=0", "generator.height=32",
        "generator.width=32", "localiser.scenes=0"]  # fmt: skip
REAL = Path(__file__).resolve().parents[2] / "assets" / "real"


def tiny_config(*extra: str):
    return load_config(preset="road-signs-offline", overrides=[*TINY, *extra])


def files(dataset: Path) -> dict[str, bytes]:
    return {p.relative_to(dataset).as_posix(): p.read_bytes() for p in sorted(dataset.rglob("*.png"))}


def timeless(dataset: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_manifest(dataset / MANIFEST)]


def single_process_dataset(config, tmp_path: Path) -> Path:
    catalog = Catalog(tmp_path / "single.db", tmp_path / "single-runs")
    run_id = start_run(config, catalog, until="generate")
    return Path(catalog.require_run(run_id).run_dir) / "dataset"


def two_processes(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`accelerate launch` of two CPU processes of the synthsign command."""
    proc = subprocess.run([*accelerate_launcher(2), "-m", "synthsign_tui", *args], cwd=cwd, env=launch_environment("cpu"),
                          capture_output=True, text=True, timeout=240)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


# ---------------------------------------------------------------- in one process


class PartnerReports(Distributed):
    """Process 0 of 2 whose partner, process 1, reports `report` (None: it succeeded)."""

    def __init__(self, report):
        super().__init__(0, 2)
        self.report = report

    def broadcast(self, value):
        return value

    def gather(self, items):
        return [*items, self.report]


def test_a_failure_or_cancel_on_another_process_raises_on_this_one():
    assert PartnerReports(None).together(lambda: 7) == 7
    with pytest.raises(SynthSignError, match="process 1 failed: disk full"):
        PartnerReports((1, "error", "disk full")).together(lambda: 7)
    with pytest.raises(Cancelled):
        PartnerReports((1, "cancelled", "")).together(lambda: 7)
    with pytest.raises(ValueError, match="own failure first"):
        PartnerReports((1, "error", "x")).together(lambda: int("own failure first"))
    with pytest.raises(ValueError):
        PartnerReports(None).on_main(lambda: int("main failed"))
    single = Distributed()
    assert single.share([1, 2, 3]) == [1, 2, 3] and single.on_main(lambda: 4) == 4


def test_resume_merges_the_manifest_parts_of_a_stopped_multi_process_run(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    run_id = start_run(tiny_config(), catalog, until="generate")
    dataset = Path(catalog.require_run(run_id).run_dir) / "dataset"
    before = files(dataset)
    rows = (dataset / MANIFEST).read_text().splitlines(keepends=True)
    # as if process 1 made the second half and everything stopped before the main process merged the parts
    (dataset / MANIFEST).write_text("".join(rows[:4]))
    part_path(dataset, 1).write_text("".join(rows[4:]))
    mtimes = {p: p.stat().st_mtime_ns for p in dataset.rglob("*.png")}
    catalog.update_run(run_id, status="cancelled")
    from synthsign_tui.engine import resume_run

    resume_run(run_id, catalog, until="generate")
    assert files(dataset) == before and len(read_manifest(dataset / MANIFEST)) == 8
    assert {p: p.stat().st_mtime_ns for p in dataset.rglob("*.png")} == mtimes  # nothing made again
    assert not list(dataset.glob(".*part*"))


def test_a_launch_records_a_queued_run_with_its_command(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    with pytest.raises(SynthSignError, match="devices 'tpu'"):
        prepare_launch(tiny_config(), catalog, 2, "tpu")
    with pytest.raises(SynthSignError, match="0 processes"):
        prepare_launch(tiny_config(), catalog, 0, "cpu")
    assert catalog.list_runs() == []
    run_id, command = prepare_launch(tiny_config(), catalog, 2, "cpu", until="train")
    run = catalog.require_run(run_id)
    assert run.status == "queued" and run.command.startswith(sys.executable)
    assert command[-4:] == ["resume", str(run_id), "--until", "train"]
    assert "--num_processes" in command and command[command.index("--num_processes") + 1] == "2"
    assert (Path(run.run_dir) / "command.txt").read_text().strip() == run.command
    assert launch_command(run_id, catalog, 1)[1:3] == ["-m", "synthsign_tui"]
    assert launch_environment("cpu")["CUDA_VISIBLE_DEVICES"] == ""


# ---------------------------------------------------------------- two processes


@pytest.mark.slow
def test_two_processes_make_the_same_dataset_and_train_one_model(tmp_path):
    real = tmp_path / "real"
    for cls in ("stop", "warning"):
        (real / cls).mkdir(parents=True)
        for photo in sorted((REAL / cls).glob("*.png"))[:2]:
            shutil.copy(photo, real / cls / photo.name)
    config = tiny_config("train.epochs=1", "train.batch_size=2", f"evaluate.real_dir='{real}'")
    single = single_process_dataset(config, tmp_path)

    catalog = Catalog(tmp_path / "runs.db", tmp_path / "runs")
    launch = launch_detached(config, catalog, 2, "cpu", until="generate")
    assert launch.process.wait(timeout=240) == 0, launch.log_path.read_text()[-3000:]
    run = catalog.require_run(launch.run_id)
    dataset = Path(run.run_dir) / "dataset"
    assert run.status == "done" and run.gen_images == 8 and run.progress_done == run.progress_total == 8
    assert files(dataset) == files(single) and len(files(dataset)) == 8
    assert timeless(dataset) == timeless(single)
    assert not list(dataset.glob(".*part*"))
    assert "x 2 processes" in "\n".join(line.message for line in catalog.logs(run.id))

    # `resume` under the same launch trains with DDP and evaluates on both processes
    resume = launch_command(run.id, catalog, 2, "cpu")
    proc = subprocess.run(resume, env=launch_environment("cpu"), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count(f"run {run.id} done") == 1  # only the main process prints
    run = catalog.require_run(run.id)
    assert run.status == "done" and len(catalog.list_runs()) == 1
    assert [e.epoch for e in catalog.epochs(run.id)] == [0, 1]
    steps = [s.step for s in catalog.steps(run.id)]
    assert steps == [1, 2]  # 6 training images, 2 per batch, on 2 processes: 2 steps per epoch each
    assert sorted(p.name for p in (Path(run.run_dir) / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    evaluations = catalog.evaluations(run.id)
    assert sorted((e.name, e.checkpoint) for e in evaluations) == [
        ("real", "before"), ("real", "best"), ("synthetic-val", "before"), ("synthetic-val", "best")
    ]  # fmt: skip
    real_best = next(e for e in evaluations if (e.name, e.checkpoint) == ("real", "best"))
    predictions = catalog.predictions(real_best.id)
    assert real_best.n_images == 4 and len(predictions) == 4
    assert sorted(Path(p.path).name for p in predictions) == sorted(p.name for p in real.rglob("*.png"))


@pytest.mark.slow
def test_two_processes_make_the_same_zimage_dataset(tmp_path, tiny_zimage_dir):
    settings = ["generator.kind=diffusers", f"generator.model='{tiny_zimage_dir}'", "generator.steps=2",
                "generator.batch_size=2", "generator.guidance_scale=0.0", "data.images_per_class=2",
                "data.val_fraction=0.5"]  # fmt: skip
    single = single_process_dataset(tiny_config(*settings), tmp_path)
    sets = [arg for setting in settings for arg in ("--set", setting)]
    args = ["--db", "runs.db", "run", "--preset", "road-signs-offline", "--until", "generate"]
    proc = two_processes(*args, *[a for t in TINY for a in ("--set", t)], *sets, cwd=tmp_path)
    assert proc.stdout.count("run 1 (road-signs-offline)") == 1
    catalog = Catalog(tmp_path / "runs.db")
    assert [(r.id, r.status, r.gen_images) for r in catalog.list_runs()] == [(1, "done", 4)]
    dataset = Path(catalog.require_run(1).run_dir) / "dataset"
    ours, theirs = files(dataset), files(single)
    assert sorted(ours) == sorted(theirs) and len(ours) == 4
    for name in ours:
        a = np.asarray(Image.open(dataset / name), dtype=np.int16)
        b = np.asarray(Image.open(single / name), dtype=np.int16)
        assert np.abs(a - b).max() <= 1, name  # batched matmuls may round differently in another process
    drop = ("seconds", "sha256")
    assert [{k: v for k, v in r.items() if k not in drop} for r in read_manifest(dataset / MANIFEST)] == [
        {k: v for k, v in r.items() if k not in drop} for r in read_manifest(single / MANIFEST)
    ]
    assert (
        json.loads((Path(catalog.require_run(1).run_dir) / "environment.json").read_text())["device"] == "cpu"
    )
