"""Train stage: a ResNet18 trained on a handful of 32 px images in a real catalog file."""

from __future__ import annotations

import threading
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from synthsign_tui.catalog import Catalog
from synthsign_tui.config import validate
from synthsign_tui.engine import Cancelled, Distributed, RunContext, create_run
from synthsign_tui.engine.model.classifier import build_model, load_checkpoint
from synthsign_tui.engine.model.images import cached_images, eval_transform
from synthsign_tui.engine.stages.train import ema_average, train_stage
from synthsign_tui.errors import SynthSignError

COLOURS = {"stop": (220, 30, 30), "warning": (240, 200, 20), "_background": (90, 120, 90)}


def write_sign(path: Path, cls: str, index: int, size: int = 32) -> None:
    """A flat colour square on a noisy grey background: trivially learnable, different bytes per index."""
    g = torch.Generator().manual_seed(zlib.crc32(f"{cls}/{index}".encode()))
    pixels = torch.randint(60, 140, (size, size, 3), generator=g, dtype=torch.uint8)
    lo, hi = size // 4, 3 * size // 4
    pixels[lo:hi, lo:hi] = torch.tensor(COLOURS[cls], dtype=torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.numpy()).save(path)


def tiny_config(**train):
    return validate(
        {
            "name": "tiny",
            "seed": 3,
            "data": {
                "classes": [
                    {"name": "stop", "prompts": ["stop sign"]},
                    {"name": "warning", "prompts": ["warning"]},
                ],
                "images_per_class": 8,
            },
            "generator": {"kind": "diffusers"},
            "train": {"weights": "none", "image_size": 32, "batch_size": 4, "epochs": 1, **train},
        }
    )


def make_run(tmp_path: Path, config=None, per_class=(6, 2), on_event=None):
    """A recorded run with a written dataset (train/val per class), and its RunContext."""
    config = config or tiny_config()
    tmp_path.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(tmp_path / "runs.db")
    run = create_run(config, catalog)
    ctx = RunContext(run.id, Path(run.run_dir), config, catalog, on_event, threading.Event(), Distributed())
    classes = config.class_names + (["_background"] if config.data.background_images else [])
    for split, n in zip(("train", "val"), per_class, strict=True):
        for cls in classes:
            for i in range(n):
                write_sign(
                    ctx.dataset_dir / split / cls / f"{i:03d}.png", cls, i + (100 if split == "val" else 0)
                )
    return ctx


def test_one_epoch_records_epochs_steps_and_checkpoints(tmp_path):
    events = []
    ctx = make_run(tmp_path, on_event=events.append)
    train_stage(ctx)

    epochs = ctx.records.epochs(ctx.run_id)
    assert [e.epoch for e in epochs] == [0, 1]
    assert epochs[0].train_loss is None and 0.0 <= epochs[0].val_acc <= 1.0
    assert epochs[1].train_loss > 0 and epochs[1].images_per_s > 0 and epochs[1].lr == pytest.approx(1e-3)
    steps = ctx.records.steps(ctx.run_id)
    assert [s.step for s in steps] == [1, 2, 3]  # 12 images, batch 4
    assert all(s.epoch == 1 and s.loss > 0 for s in steps)
    kinds = [e.kind for e in events]
    assert kinds.count("epoch") == 2 and "step" in kinds and "progress" in kinds
    assert [e for e in events if e.kind == "epoch"][-1].data["val_acc"] == epochs[1].val_acc
    run = ctx.records.require_run(ctx.run_id)
    assert run.epochs_done == 1 and run.before_val_acc == epochs[0].val_acc

    for name in ("last.pt", "best.pt"):
        payload = torch.load(ctx.checkpoint_dir / name, weights_only=True)
        assert payload["classes"] == ["stop", "warning"] and payload["epoch"] == 1
        assert payload["config"]["seed"] == 3 and payload["image_size"] == 32
    assert "optimizer" in torch.load(ctx.checkpoint_dir / "last.pt", weights_only=True)
    assert not list(ctx.checkpoint_dir.glob(".*tmp*"))


def test_checkpoint_round_trip(tmp_path):
    ctx = make_run(tmp_path)
    train_stage(ctx)
    model, meta = load_checkpoint(ctx.checkpoint_dir / "best.pt")
    assert meta["classes"] == ["stop", "warning"] and meta["epoch"] == 1 and "optimizer" not in meta
    saved = torch.load(ctx.checkpoint_dir / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    x = eval_transform(meta)(Image.open(ctx.dataset_dir / "val" / "stop" / "000.png"))
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert model(x[None]).shape == (1, 2)


@pytest.mark.parametrize("ema", [0.0, 0.5])
def test_resume_after_cancel_continues_and_matches_uninterrupted(tmp_path, ema):
    cancel_after_first = []

    def on_event(event):
        if event.kind == "epoch" and event.data["epoch"] == 1:
            cancel_after_first.append(True)
            ctx.cancel.set()

    ctx = make_run(tmp_path / "a", tiny_config(epochs=2, schedule="cosine", ema=ema), on_event=on_event)
    with pytest.raises(Cancelled):
        train_stage(ctx)
    assert torch.load(ctx.checkpoint_dir / "last.pt", weights_only=True)["epoch"] == 1
    assert [e.epoch for e in ctx.records.epochs(ctx.run_id)] == [0, 1]
    ctx.cancel.clear()
    train_stage(ctx)
    assert [e.epoch for e in ctx.records.epochs(ctx.run_id)] == [0, 1, 2]
    assert [s.step for s in ctx.records.steps(ctx.run_id)] == [1, 2, 3, 4, 5, 6]
    train_stage(ctx)  # all epochs done: returns at once
    assert len(ctx.records.epochs(ctx.run_id)) == 3

    straight = make_run(tmp_path / "b", tiny_config(epochs=2, schedule="cosine", ema=ema))
    train_stage(straight)
    resumed = torch.load(ctx.checkpoint_dir / "last.pt", weights_only=True)
    uninterrupted = torch.load(straight.checkpoint_dir / "last.pt", weights_only=True)
    for part in ("model", "train_model") if ema else ("model",):
        for key, value in uninterrupted[part].items():
            torch.testing.assert_close(resumed[part][key], value, msg=f"{part}.{key}")


def test_ema_saves_and_evaluates_the_averaged_weights(tmp_path):
    ctx = make_run(tmp_path, tiny_config(epochs=2, ema=0.5))
    train_stage(ctx)
    last = torch.load(ctx.checkpoint_dir / "last.pt", weights_only=True)
    assert last["ema_steps"] == 6  # one update per step: 12 images, batch 4, 2 epochs
    weights = [k for k in last["model"] if k.endswith("weight")]
    assert any(not torch.equal(last["model"][k], last["train_model"][k]) for k in weights)
    best = torch.load(ctx.checkpoint_dir / "best.pt", weights_only=True)
    assert not set(best) & {"optimizer", "train_model", "ema_steps"}
    model, meta = load_checkpoint(ctx.checkpoint_dir / "last.pt")
    assert "train_model" not in meta and "ema_steps" not in meta
    # the val loss recorded for epoch 2 is the averaged model's, not the trained one's
    images = sorted((ctx.dataset_dir / "val").rglob("*.png"))
    labels = torch.tensor([meta["classes"].index(p.parent.name) for p in images])
    x = torch.stack([eval_transform(meta)(Image.open(p)) for p in images])

    def val_loss(state) -> float:
        model.load_state_dict(state)
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model.eval()(x), labels))

    recorded = ctx.records.epochs(ctx.run_id)[-1].val_loss
    assert val_loss(last["model"]) == pytest.approx(recorded, rel=1e-4)
    assert val_loss(last["train_model"]) != pytest.approx(recorded, rel=1e-4)


def test_ema_warms_up_so_short_runs_are_not_their_initial_weights():
    average = ema_average(0.999)
    for steps, moved in ((1, 9 / 11), (90, 0.09), (100_000, 0.001)):
        averaged = [torch.zeros(3)]
        average(averaged, [torch.ones(3)], torch.tensor(steps))
        torch.testing.assert_close(averaged[0], torch.full((3,), moved))
    counters = [torch.tensor(5)]
    average(counters, [torch.tensor(9)], torch.tensor(3))
    assert int(counters[0]) == 9


def test_options_no_val_split_and_background_class(tmp_path):
    config = tiny_config(
        optimizer="sgd", schedule="onecycle", label_smoothing=0.1, color_jitter=0.3, random_resized_crop=0.5,
        blur=0.5, grayscale=0.2, num_threads=1,
    )  # fmt: skip
    config.data.background_images = 4
    ctx = make_run(tmp_path, config, per_class=(4, 0))
    train_stage(ctx)
    assert [e.epoch for e in ctx.records.epochs(ctx.run_id)] == [1]  # no val split: no epoch 0
    best = torch.load(ctx.checkpoint_dir / "best.pt", weights_only=True)
    last = torch.load(ctx.checkpoint_dir / "last.pt", weights_only=True)
    assert best["classes"] == ["stop", "warning", "_background"]
    assert all(torch.equal(v, last["model"][k]) for k, v in best["model"].items())


def test_extra_sources_are_mixed_in(tmp_path):
    extra = tmp_path / "extra"
    for i in range(10):
        write_sign(extra / "stop" / f"{i}.jpg", "stop", 500 + i)
    ctx = make_run(tmp_path, tiny_config(extra_sources={str(extra): 0.5}))
    train_stage(ctx)
    assert [s.step for s in ctx.records.steps(ctx.run_id)] == [1, 2, 3, 4, 5]  # 12 + 6 images, batch 4


def test_image_cache_decodes_each_file_once(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        write_sign(paths[-1], "stop", i, size=40)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    cache = tmp_path / "cache.pt"
    images, skipped = cached_images([*paths, tmp_path / "bad.png"], 16, cache)
    assert (
        images.shape == (3, 3, 16, 16)
        and images.dtype == torch.uint8
        and list(skipped) == [tmp_path / "bad.png"]
    )
    assert skipped[tmp_path / "bad.png"].startswith("not an image this program reads")
    paths[0].unlink()  # unchanged content is served from the cache: a deleted original is never reopened
    write_sign(paths[0], "stop", 1, size=40)  # now identical to 1.png
    again, _ = cached_images(paths, 16, cache)
    assert torch.equal(again[0], images[1])
    assert len(torch.load(cache, weights_only=True)["keys"]) == 3


def test_build_model_is_seeded_and_weights_errors_teach(tmp_path, monkeypatch):
    a, b = build_model(3, "none", 7), build_model(3, "none", 7)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.fc.weight, build_model(3, "none", 8).fc.weight)
    assert a.fc.out_features == 3

    torch.save(a.state_dict(), tmp_path / "sd.pt")
    c = build_model(3, str(tmp_path / "sd.pt"), 0)
    assert torch.equal(c.conv1.weight, a.conv1.weight) and torch.equal(c.fc.weight, a.fc.weight)
    with pytest.raises(SynthSignError, match="no file"):
        build_model(3, str(tmp_path / "missing.pt"), 0)

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    try:
        build_model(2, "imagenet", 0)
    except SynthSignError as exc:  # offline (as in CI): the message says where the file goes
        assert str(tmp_path / "torch-home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in str(exc)
        assert 'train.weights = "none"' in str(exc)


def test_missing_dataset_says_run_generate_first(tmp_path):
    config = tiny_config()
    catalog = Catalog(tmp_path / "runs.db")
    run = create_run(config, catalog)
    ctx = RunContext(run.id, Path(run.run_dir), config, catalog, None, threading.Event(), Distributed())
    with pytest.raises(SynthSignError, match="generate stage first"):
        train_stage(ctx)
