"""Generation: reproducible, resumable datasets that torchvision and Hugging Face load, from both generators."""

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import fakes

from synthsign_tui.catalog import Catalog
from synthsign_tui.config import load_config
from synthsign_tui.engine import start_run
from synthsign_tui.engine.stages.generate import MANIFEST, image_seed, plan, read_manifest

tiny_config = functools.partial(fakes.tiny_config, images_per_class=6, val_fraction=0.34)
files = fakes.dataset_files


def test_plan_gives_each_image_its_own_seed_and_split():
    cfg = tiny_config("data.background_images=3")
    jobs = plan(cfg)
    assert len(jobs) == 6 + 6 + 3
    assert len({j.seed for j in jobs}) == len(jobs)
    assert jobs[0].seed == image_seed(cfg.seed, "stop", 0)
    assert sum(j.split == "val" for j in jobs if j.label == "stop") == 2
    assert {j.label for j in jobs} == {"stop", "warning", "_background"}
    assert plan(cfg) == jobs
    assert [j.seed for j in plan(tiny_config("seed=1"))] != [j.seed for j in jobs]


def test_prompts_combine_variation_axes_and_record_them():
    cfg = tiny_config(
        "data.template='{prompt}, {weather}'", "data.variations.weather=['rain', 'fog', 'snow']"
    )
    jobs = plan(cfg)
    assert all(j.prompt == f"a {j.label} sign on the road, {j.attributes['weather']}" for j in jobs)
    assert len({j.attributes["weather"] for j in jobs}) > 1


def test_same_config_gives_byte_identical_dataset(tmp_path):
    cfg = tiny_config()
    a = start_run(cfg, Catalog(tmp_path / "a.db"), until="generate")
    b = start_run(cfg, Catalog(tmp_path / "b.db"), until="generate")
    da = Path(Catalog(tmp_path / "a.db").get_run(a).run_dir) / "dataset"
    db = Path(Catalog(tmp_path / "b.db").get_run(b).run_dir) / "dataset"
    assert files(da) == files(db) and len(files(da)) == 12
    timeless = [
        [{k: v for k, v in r.items() if k != "seconds"} for r in read_manifest(d / MANIFEST)]
        for d in (da, db)
    ]
    assert timeless[0] == timeless[1]
    c = start_run(tiny_config("seed=7"), Catalog(tmp_path / "a.db"), until="generate")
    assert files(Path(Catalog(tmp_path / "a.db").get_run(c).run_dir) / "dataset") != files(da)


def test_dataset_loads_with_imagefolder_and_hf_datasets(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    run_id = start_run(tiny_config(), catalog, until="generate")
    run = catalog.get_run(run_id)
    assert run.status == "done" and run.gen_images == 12 and run.gen_images_per_s > 0
    dataset = Path(run.run_dir) / "dataset"
    rows = read_manifest(dataset / MANIFEST)
    assert len(rows) == 12
    row = rows[0]
    for key in ("file_name", "label", "split", "prompt", "seed", "generator", "model", "steps", "guidance_scale",
                "height", "width", "sha256", "seconds"):  # fmt: skip
        assert key in row

    from torchvision.datasets import ImageFolder

    train = ImageFolder(dataset / "train")
    assert train.classes == ["stop", "warning"] and len(train) == 8
    assert ImageFolder(dataset / "val")[0][0].size == (32, 32)

    import datasets

    ds = datasets.load_dataset("imagefolder", data_dir=str(dataset))
    assert sorted(ds) == ["train", "validation"]
    assert ds["train"].num_rows == 8 and ds["validation"].num_rows == 4
    example = ds["train"][0]
    assert example["image"].size == (32, 32) and example["label"] in ("stop", "warning")
    assert sorted(set(ds["validation"]["label"])) == ["stop", "warning"]
    assert example["prompt"].endswith("sign on the road")


KILLABLE = textwrap.dedent(
    """
    import sys
    from synthsign_tui.catalog import Catalog
    from synthsign_tui.config import load_config
    from synthsign_tui.engine import start_run
    start_run(load_config(preset="road-signs-offline", overrides=sys.argv[2:]), Catalog(sys.argv[1]), until="generate")
    """
)


def test_resume_after_kill_completes_the_dataset(tmp_path):
    db = tmp_path / "runs.db"
    overrides = [
        "data.images_per_class=400",
        "data.background_images=0",
        "generator.height=64",
        "generator.width=64",
        "localiser.scenes=0",
    ]
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(db), *overrides])
    catalog = Catalog(db)
    dataset = tmp_path / "runs" / "1" / "dataset"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(dataset.rglob("*.png"))) < 40:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    made = len(list(dataset.rglob("*.png")))
    assert 40 <= made < 800, "the kill should land mid-generation"
    catalog.update_run(1, heartbeat_at=time.time() - 3600)  # as seen a while after the process died
    assert catalog.get_run(1).display_status() == "interrupted"

    from synthsign_tui.engine import resume_run

    resume_run(1, catalog, until="generate")
    assert catalog.get_run(1).status == "done"
    rows = read_manifest(dataset / MANIFEST)
    on_disk = files(dataset)
    assert len(rows) == len(on_disk) == 800
    assert {r["file_name"] for r in rows} == set(on_disk)
    assert not list(dataset.rglob(".*"))
    import hashlib

    assert all(hashlib.sha256(on_disk[r["file_name"]]).hexdigest() == r["sha256"] for r in rows)
    # and the result is the same as an uninterrupted run's
    fresh = start_run(load_config(preset="road-signs-offline", overrides=overrides), Catalog(tmp_path / "b.db"),
                      until="generate")  # fmt: skip
    assert files(Path(Catalog(tmp_path / "b.db").get_run(fresh).run_dir) / "dataset") == on_disk


def test_cancel_stops_between_images_and_resume_finishes(tmp_path):
    import threading

    from synthsign_tui.engine import resume_run

    catalog = Catalog(tmp_path / "runs.db")
    cancel = threading.Event()
    seen = []

    def on_event(event):
        if event.kind == "progress" and event.done >= 5:
            seen.append(event.done)
            cancel.set()

    run_id = start_run(tiny_config("data.images_per_class=30"), catalog, on_event=on_event, cancel=cancel,
                       until="generate")  # fmt: skip
    run = catalog.get_run(run_id)
    assert run.status == "cancelled"
    made = len(list(Path(run.run_dir).rglob("*.png")))
    assert 5 <= made < 60
    resume_run(run_id, catalog, until="generate")
    assert catalog.get_run(run_id).status == "done"
    assert len(list(Path(run.run_dir).rglob("*.png"))) == 60


def test_diffusers_generator_from_a_local_folder(tmp_path, tiny_zimage_dir):
    overrides = [
        "generator.kind=diffusers", f"generator.model='{tiny_zimage_dir}'", "generator.steps=2",
        "generator.height=64", "generator.width=64", "generator.batch_size=2", "data.images_per_class=3",
        "data.template='{prompt}, {light}'", "data.variations.light=['dusk', 'noon']", "localiser.scenes=3",
        "localiser.scene_width=80", "localiser.scene_height=64",
    ]  # fmt: skip
    cfg = load_config(preset="road-signs-zimage", overrides=overrides)
    catalog = Catalog(tmp_path / "runs.db")
    run_id = start_run(cfg, catalog, until="generate")
    run = catalog.get_run(run_id)
    assert run.status == "done", run.error
    dataset = Path(run.run_dir) / "dataset"
    rows = read_manifest(dataset / MANIFEST)
    scenes = [
        r for r in rows if r["file_name"].startswith("scenes/")
    ]  # the localiser's: procedural, with boxes
    assert len(scenes) == 3 and all(r["generator"] == "procedural" and r["has_boxes"] for r in scenes)
    rows = [r for r in rows if r not in scenes]
    assert len(rows) == 6 and all(r["boxes"] is None and not r["has_boxes"] for r in rows)
    assert {r["model"] for r in rows} == {str(tiny_zimage_dir)} and {r["steps"] for r in rows} == {2}
    assert all(r["prompt"].endswith(r["var_light"]) for r in rows)
    other = Catalog(tmp_path / "b.db")
    again = Path(other.get_run(start_run(cfg, other, until="generate")).run_dir) / "dataset"
    import numpy as np
    from PIL import Image

    for r in rows:
        a = np.asarray(Image.open(dataset / r["file_name"]), dtype=float)
        b = np.asarray(Image.open(again / r["file_name"]), dtype=float)
        assert a.shape == (64, 64, 3) and np.abs(a - b).max() <= 1


def test_a_missing_model_is_refused_before_any_run_is_recorded(tmp_path):
    import pytest

    from synthsign_tui.errors import ConfigError

    catalog = Catalog(tmp_path / "runs.db")
    with pytest.raises(ConfigError, match="does not exist.*give an existing folder or a hub id"):
        load_config(preset="road-signs-zimage", overrides=[f"generator.model='{tmp_path / 'nowhere'}'"])
    assert catalog.list_runs() == []
