"""Evaluate stage: a tiny trained run measured on synthetic val, labelled, partial and flat real folders."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from test_train import make_run, tiny_config, write_sign

from synthsign_tui.engine import evaluate_run, predict_paths
from synthsign_tui.engine.model.classifier import load_checkpoint
from synthsign_tui.engine.stages.evaluate import (
    _decide,
    classify,
    evaluate_folder,
    evaluate_stage,
    expected_calibration_error,
    metrics,
)
from synthsign_tui.engine.stages.train import train_stage
from synthsign_tui.errors import SynthSignError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained for one epoch; its real folder holds only `stop` photos and one corrupt file."""
    root = tmp_path_factory.mktemp("evaluate")
    real, flat = root / "real", root / "flat"
    for i in range(5):
        write_sign(real / "stop" / f"{i}.JPG", "stop", 900 + i, size=48)
    (real / "stop" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (real / "README.md").write_text("not a photo")
    for i in range(3):
        write_sign(flat / f"photo{i}.webp", "warning", 950 + i, size=40)
    config = tiny_config(epochs=2)
    config.evaluate.real_dir = str(real)
    config.evaluate.extra_real = {"flat": str(flat)}
    ctx = make_run(root / "run", config)
    train_stage(ctx)
    return ctx, real, flat


def test_evaluate_stage_stores_before_and_best_for_each_set(trained):
    ctx, real, _ = trained
    events = []
    ctx._on_event = events.append
    evaluate_stage(ctx)

    evaluations = {(e.name, e.checkpoint): e for e in ctx.records.evaluations(ctx.run_id)}
    assert set(evaluations) == {(n, c) for n in ("synthetic-val", "real", "flat") for c in ("before", "best")}
    assert len([e for e in events if e.kind == "evaluation"]) == 6

    # `before` is the untrained model exactly as training built it: same as the epoch-0 val accuracy, which
    # training measures by the same rule (balanced over the task's classes)
    epoch0 = ctx.records.epochs(ctx.run_id)[0]
    assert evaluations["synthetic-val", "before"].balanced_accuracy == pytest.approx(epoch0.val_acc)
    best_epoch = torch.load(ctx.checkpoint_dir / "best.pt", weights_only=True)["epoch"]
    run = ctx.records.require_run(ctx.run_id)
    assert run.val_acc == evaluations["synthetic-val", "best"].balanced_accuracy
    assert run.gap == pytest.approx(run.val_acc - run.real_bal_acc)
    assert evaluations["synthetic-val", "best"].balanced_accuracy == pytest.approx(
        ctx.records.epochs(ctx.run_id)[best_epoch].val_acc
    )

    ev = evaluations["real", "best"].to_dict()
    assert ev["classes"] == ["stop", "warning"] and ev["mode"] == "single"
    assert ev["n_images"] == 5 and ev["n_skipped"] == 1
    assert ev["skipped"][0]["path"] == str(real / "stop" / "broken.png") and ev["skipped"][0]["reason"]
    predictions = [p.to_dict() for p in ctx.records.predictions(ev["id"])]
    assert all(p["label"] == "stop" for p in predictions)
    n_stop = sum(p["predicted"] == "stop" for p in predictions)
    assert ev["accuracy"] == pytest.approx(n_stop / 5)
    assert ev["balanced_accuracy"] == pytest.approx(n_stop / 5)  # recall over the classes present
    assert ev["confusion_matrix"] == [[n_stop, 5 - n_stop], [0, 0]]
    assert ev["per_class"]["stop"]["support"] == 5 and ev["per_class"]["warning"]["support"] == 0
    for p in predictions:
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert p["confidence"] == pytest.approx(max(p["probabilities"].values()), abs=1e-5)
        assert p["correct"] == (p["predicted"] == "stop")
    run = ctx.records.require_run(ctx.run_id)
    assert (
        run.real_acc == ev["accuracy"]
        and run.before_real_bal_acc == evaluations["real", "before"].balanced_accuracy
    )

    flat = evaluations["flat", "best"]
    assert flat.accuracy is None and flat.balanced_accuracy is None and flat.n_images == 3
    assert all(p.label is None and p.correct is None for p in ctx.records.predictions(flat.id))


def test_unknown_class_folder_names_the_classes(trained, tmp_path):
    ctx, _, _ = trained
    write_sign(tmp_path / "yield" / "a.png", "stop", 1)
    with pytest.raises(SynthSignError, match=r"\['yield'\].*\['stop', 'warning'\]"):
        evaluate_run(ctx.records, ctx.run_id, {"other": tmp_path})


def test_evaluate_run_and_predict_paths(trained, tmp_path):
    ctx, real, flat = trained
    results = evaluate_run(ctx.records, ctx.run_id, {"again": real}, checkpoint="last")
    assert (
        results[0]["name"] == "again" and results[0]["checkpoint"] == "last" and results[0]["n_images"] == 5
    )
    assert ("again", "last") in {(e.name, e.checkpoint) for e in ctx.records.evaluations(ctx.run_id)}

    (tmp_path / "bad.jpg").write_bytes(b"nope")
    out = predict_paths(ctx.run_dir, [flat / "photo0.webp", tmp_path / "bad.jpg", real])
    assert [o["path"] for o in out[:2]] == [str(flat / "photo0.webp"), str(tmp_path / "bad.jpg")]
    assert out[0]["predicted"] in ("stop", "warning") and out[1]["predicted"] is None
    assert out[1]["skipped"] == out[1]["error"] and out[1]["skipped"].startswith(
        "not an image this program reads"
    )
    assert "skipped" not in out[0]
    assert len(out) == 2 + 6  # the folder is searched recursively: 5 photos and the broken one
    with pytest.raises(SynthSignError, match="does not exist"):
        predict_paths(ctx.run_dir, [tmp_path / "missing.png"])


def test_multicrop_classifies_windows_of_a_large_scene(trained, tmp_path):
    ctx, _, _ = trained
    scene = torch.full((200, 300, 3), 120, dtype=torch.uint8)
    scene[20:60, 200:240] = torch.tensor((220, 30, 30), dtype=torch.uint8)
    Image.fromarray(scene.numpy()).save(tmp_path / "scene.png")
    model, meta = load_checkpoint(ctx.checkpoint_dir / "best.pt")
    items = [(tmp_path / "scene.png", "stop")]
    (auto,), _ = classify(model, meta, items, multicrop="auto", batch_size=16)
    (off,), _ = classify(model, meta, items, multicrop="off")
    assert auto["mode"] == "multicrop" and off["mode"] == "single" and "crop" not in off
    left, top, right, bottom = auto["crop"]
    assert 0 <= left < right <= 300 and 0 <= top < bottom <= 200 and right - left == bottom - top


def test_decide_ignores_background_crops_and_renormalises():
    classes = ["stop", "warning", "_background"]
    crops = [
        (None, torch.tensor([0.10, 0.10, 0.80])),  # whole scene: background
        ([0, 0, 10, 10], torch.tensor([0.50, 0.10, 0.40])),  # a sign crop
        ([5, 5, 15, 15], torch.tensor([0.00, 0.45, 0.55])),  # more "warning", but background wins here
    ]
    probs, box = _decide(crops, classes, real_only=True)
    assert box == [0, 0, 10, 10]
    torch.testing.assert_close(probs, torch.tensor([5 / 6, 1 / 6]))
    probs, box = _decide(crops[:1], classes, real_only=True)  # only background: the whole photo, renormalised
    assert box is None
    torch.testing.assert_close(probs, torch.tensor([0.5, 0.5]))
    probs, _ = _decide(crops[:1], classes, real_only=False)  # synthetic val: background is an answer
    assert probs.argmax() == 2


def test_expected_calibration_error():
    assert expected_calibration_error([0.9, 0.9], [True, False]) == pytest.approx(0.4)
    assert expected_calibration_error([1.0, 0.55], [True, True]) == pytest.approx(0.5 * 0.45)


def test_flip_averaging_is_the_mean_of_the_photo_and_its_mirror(trained, tmp_path):
    ctx, _, _ = trained
    model, meta = load_checkpoint(ctx.checkpoint_dir / "best.pt")
    size = meta["image_size"]
    photo = torch.randint(
        0, 256, (size, size, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    photo[:, : size // 3] = torch.tensor((220, 30, 30), dtype=torch.uint8)  # not symmetric
    Image.fromarray(photo.numpy()).save(tmp_path / "photo.png")
    Image.fromarray(photo.flip(1).numpy()).save(tmp_path / "mirror.png")
    items = [(tmp_path / "photo.png", "stop"), (tmp_path / "mirror.png", "stop")]
    (plain, mirrored), _ = classify(model, meta, items, multicrop="off")
    (flipped, _), _ = classify(model, meta, items, multicrop="off", tta="flip")
    assert plain["probabilities"] != mirrored["probabilities"]
    for c in plain["probabilities"]:
        mean = (plain["probabilities"][c] + mirrored["probabilities"][c]) / 2
        assert flipped["probabilities"][c] == pytest.approx(mean, abs=1e-4)
    result, _ = evaluate_folder(model, meta, "real", "best", items, tmp_path, multicrop="off", tta="flip")
    assert result["mode"] == "single+flip"
    (windows,), _ = classify(model, meta, items[:1], multicrop="on")  # multi-crop windows are not flipped
    (same,), _ = classify(model, meta, items[:1], multicrop="on", tta="flip")
    assert same["probabilities"] == windows["probabilities"] and same["crop"] == windows["crop"]
    result, _ = evaluate_folder(model, meta, "real", "best", items, tmp_path, multicrop="on", tta="flip")
    assert result["mode"] == "multicrop"


def test_evaluate_run_never_replaces_the_runs_own_results_and_asks_before_others(trained):
    ctx, real, _ = trained
    before = {(e.name, e.checkpoint): e.id for e in ctx.records.evaluations(ctx.run_id)}
    headline = ctx.records.require_run(ctx.run_id).real_acc
    for own in ("real", "synthetic-val"):
        with pytest.raises(SynthSignError, match="own evaluations"):
            evaluate_run(ctx.records, ctx.run_id, {own: real})
    evaluate_run(ctx.records, ctx.run_id, {"second": real})
    with pytest.raises(SynthSignError, match="--replace"):
        evaluate_run(ctx.records, ctx.run_id, {"second": real})
    evaluate_run(ctx.records, ctx.run_id, {"second": real}, replace=True)
    after = {(e.name, e.checkpoint): e.id for e in ctx.records.evaluations(ctx.run_id)}
    assert {k: v for k, v in after.items() if k in before} == before  # the run's own rows untouched
    assert [k for k in after if k[0] == "second"] == [("second", "best")]
    assert ctx.records.require_run(ctx.run_id).real_acc == headline


def test_headline_accuracy_is_over_the_tasks_classes_and_background_answers_are_wrong():
    """A model that answers "no sign" for every image of the task scores 0, not the share of background images."""
    classes = ["stop", "warning", "_background"]

    def pred(label, predicted):
        return {"label": label, "predicted": predicted, "confidence": 0.9}

    lazy = (
        [pred("stop", "_background")] * 3
        + [pred("warning", "_background")] * 2
        + [pred("_background", "_background")] * 20
    )
    m = metrics(lazy, classes)
    assert m["accuracy"] == 0.0 and m["balanced_accuracy"] == 0.0
    assert m["confusion_matrix"][2][2] == 20  # the background images still show in the matrix
    mixed = [pred("stop", "stop")] * 3 + [pred("warning", "_background")] + [pred("warning", "warning")] * 3
    m = metrics(mixed + [pred("_background", "stop")] * 5, classes)
    assert m["balanced_accuracy"] == pytest.approx((1.0 + 0.75) / 2)
    assert m["accuracy"] == pytest.approx(6 / 7)
