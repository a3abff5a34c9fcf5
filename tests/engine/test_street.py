"""Whole photos with boxes for the localiser: the boxes hold the drawn signs, and nothing else changed."""

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from synthsign_tui.catalog import Catalog
from synthsign_tui.config import load_config
from synthsign_tui.engine import start_run
from synthsign_tui.engine.generators.procedural import render
from synthsign_tui.engine.generators.procedural.designs import draw_sign
from synthsign_tui.engine.generators.procedural.street import compose_street, render_street
from synthsign_tui.engine.stages.generate import MANIFEST, read_manifest

CLASSES = [("stop", ["stop"]), ("warning", ["warning-triangle", "warning-diamond"])]

# sha256 (first 16 hex digits) of render() outputs before whole photos with boxes were added: recording
# boxes must not change one byte of the classifier's images (same RNG draws, same pixels)
BEFORE_BOXES = {
    ("stop", False, 1): "7cf65445020ea3c6", ("stop", True, 2): "82a4a10250deaf48",
    ("warning-triangle", False, 2): "6e4d3b15f84fe677", ("warning-triangle", True, 1): "7496e275cfa3d92c",
    ("warning-diamond", False, 1): "c868eed0e66f51db", ("warning-diamond", True, 2): "f4829bffcf9c48d9",
    ("none", False, 2): "c21026baff397871", ("none", True, 1): "cd89ca145b336121",
}  # fmt: skip


def test_procedural_images_are_byte_identical_to_before_boxes():
    for (design, scene, seed), digest in BEFORE_BOXES.items():
        size = (128, 96) if scene else (64, 48)
        image, _ = render([design], seed=seed, width=size[0], height=size[1], scene=scene)
        assert hashlib.sha256(image.tobytes()).hexdigest()[:16] == digest, (design, scene, seed)


def _with_and_without_sign(seed: int, width: int = 320, height: int = 240):
    """The same frame twice: with one stop sign, and with that sign made fully transparent."""
    frames = []
    for visible in (True, False):
        rng = np.random.default_rng(seed)
        sign, _ = draw_sign("stop", rng)
        if not visible:
            sign = Image.new("RGBA", sign.size, (0, 0, 0, 0))
        image, _, boxes = compose_street(rng, [(sign, "stop")], width, height)
        frames.append((np.asarray(image, np.float32), boxes))
    return frames


def test_box_pixels_hold_the_drawn_sign_and_outside_is_unchanged():
    checked = 0
    for seed in range(12):
        (with_sign, boxes), (without, _) = _with_and_without_sign(seed)
        if not boxes:
            continue  # a sign that found no free place
        (box,) = boxes
        x, y, w, h = box["bbox"]
        assert box["category"] == "stop" and 10 * 0.5 <= w <= 200 and w > 0 and h > 0
        changed = np.abs(with_sign - without).max(axis=-1) > 12
        inside = np.zeros_like(changed)
        pad = 4  # blur and JPEG blocks spread the sign's edge by a few pixels
        inside[max(0, int(y) - pad) : int(y + h) + pad + 1, max(0, int(x) - pad) : int(x + w) + pad + 1] = (
            True
        )
        assert changed[inside].mean() > 0.2, seed  # the sign is there
        assert changed[~inside].sum() <= 0.02 * max(1, changed.sum()) + 64, seed  # and nowhere else
        checked += 1
    assert checked >= 8


def test_frames_hold_zero_one_or_several_signs_inside_the_frame():
    counts, widths = set(), []
    for seed in range(60):
        image, attrs, boxes = render_street(CLASSES, seed=seed, width=400, height=300)
        assert image.size == (400, 300) and attrs["signs"] == len(boxes)
        counts.add(len(boxes))
        for box in boxes:
            x, y, w, h = box["bbox"]
            assert box["category"] in ("stop", "warning")
            assert x >= 0 and y >= 0 and x + w <= 400 and y + h <= 300
            widths.append(w)
    assert {0, 1, 2} <= counts
    assert min(widths) < 25 and max(widths) > 90


def test_generate_writes_scenes_with_boxes_and_crops_with_their_sign_box(tmp_path):
    config = load_config(
        preset="road-signs-offline",
        overrides=["data.images_per_class=3", "data.val_fraction=0.34", "data.background_images=2",
                   "generator.height=32", "generator.width=32", "localiser.scenes=4", "localiser.scene_width=96",
                   "localiser.scene_height=64"],
    )  # fmt: skip
    catalog = Catalog(tmp_path / "runs.db")
    run_id = start_run(config, catalog, until="generate")
    dataset = Path(catalog.get_run(run_id).run_dir) / "dataset"
    rows = read_manifest(dataset / MANIFEST)
    assert len(rows) == 3 + 3 + 2 + 4 and all(row["has_boxes"] for row in rows)
    scenes = [row for row in rows if row["file_name"].startswith("scenes/")]
    assert len(scenes) == 4 and all((row["width"], row["height"]) == (96, 64) for row in scenes)
    assert sum(len(row["boxes"]) for row in scenes) >= 1
    for row in scenes:
        assert Image.open(dataset / row["file_name"]).size == (96, 64)
    for row in rows:
        if row["label"] == "_background":
            assert row["boxes"] == []
        elif row["label"] in ("stop", "warning"):
            ((x, y, w, h),) = [box["bbox"] for box in row["boxes"]]
            assert row["boxes"][0]["category"] == row["label"] and w > 0 and x >= 0 and x + w <= 32
    assert not (dataset / "train" / "_scenes").exists()  # the classifier's ImageFolder has only its classes
    assert len(read_manifest(dataset / "scenes" / "train" / MANIFEST)) == sum(
        r["split"] == "train" for r in scenes
    )
