"""The sign localiser: trains in the train stage, round-trips through its checkpoint, and finds a pasted sign."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from synthsign_tui.catalog import Catalog
from synthsign_tui.config import load_config
from synthsign_tui.engine import start_run
from synthsign_tui.engine.generators.procedural.designs import draw_sign
from synthsign_tui.engine.model.localiser import (
    Localiser,
    average_precision,
    detect,
    iou,
    load_localiser,
    loss,
    normalize,
    targets,
)

TINY = ["data.images_per_class=4", "data.val_fraction=0.25", "data.background_images=2", "generator.height=32",
        "generator.width=32", "train.image_size=32", "train.epochs=1", "train.batch_size=4", "localiser.scenes=8",
        "localiser.scene_width=96", "localiser.scene_height=64", "localiser.steps=3", "localiser.batch_size=2",
        "localiser.crop=64", "localiser.width=8", "evaluate.real_dir=assets/real"]  # fmt: skip


def test_the_train_stage_trains_the_localiser_and_its_checkpoint_round_trips(tmp_path):
    config = load_config(preset="road-signs-offline", overrides=TINY)
    catalog = Catalog(tmp_path / "runs.db")
    run_id = start_run(config, catalog, until="train")
    run = catalog.get_run(run_id)
    assert run.status == "done", run.error
    path = Path(run.run_dir) / "checkpoints" / "localiser.pt"
    model, meta = load_localiser(path)
    assert meta["config"]["localiser"]["steps"] == 3 and meta["width"] == 8
    assert meta["train_seconds"] > 0 and (meta["ap50"] is None or 0 <= meta["ap50"] <= 1)
    saved = torch.load(path, weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    photo = torch.randint(0, 255, (1, 3, 70, 100), dtype=torch.uint8)
    boxes = detect(model, photo, top_k=3)[0]
    assert 1 <= len(boxes) <= 3
    assert all(b["bbox"][0] >= 0 and b["bbox"][0] + b["bbox"][2] <= 100.01 for b in boxes)
    logs = " ".join(line.message for line in catalog.logs(run_id))
    assert "localiser:" in logs and "AP50" in logs


def _easy_scene(rng: np.random.Generator, sign: Image.Image, width: int, height: int, at=None):
    """A sign pasted on a flat, noisy background: (uint8 [3, H, W], [x, y, w, h])."""
    colour = tuple(int(c) for c in rng.integers(40, 220, 3))
    frame = Image.new("RGB", (width, height), colour)
    side = int(rng.integers(14, 30)) if at is None else at[2]
    small = sign.resize((side, side))
    x = int(rng.integers(0, width - side)) if at is None else at[0]
    y = int(rng.integers(0, height - side)) if at is None else at[1]
    frame.paste(small, (x, y), small)
    pixels = np.asarray(frame, np.float32) + rng.normal(0, 6, (height, width, 3))
    image = v2.functional.pil_to_tensor(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)))
    return image, [float(x), float(y), float(side), float(side)]


def test_a_sign_pasted_at_a_known_place_is_found_there():
    rng = np.random.default_rng(0)
    sign, _ = draw_sign("stop", np.random.default_rng(1))
    torch.manual_seed(0)
    model = Localiser(8).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for _ in range(120):
        batch = [_easy_scene(rng, sign, 96, 64) for _ in range(8)]
        images = torch.stack([image for image, _ in batch])
        value = loss(model(normalize(images)), targets([[box] for _, box in batch], 64, 96))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    model.eval()
    found = 0
    for x, y in ((20, 30), (150, 100), (200, 20)):  # a whole photo larger than the training frames
        photo, truth = _easy_scene(rng, sign, 256, 160, at=(x, y, 24))
        best = detect(model, photo[None], top_k=5)[0][0]
        found += iou(best["bbox"], truth) >= 0.5
    assert found >= 2


def test_average_precision_counts_hits_misses_and_duplicates():
    truths = [[[0, 0, 10, 10]], [[20, 20, 10, 10]]]
    perfect = [[{"bbox": [0, 0, 10, 10], "score": 0.9}], [{"bbox": [20, 20, 10, 10], "score": 0.8}]]
    assert average_precision(perfect, truths) == 1.0
    assert average_precision([[], []], truths) == 0.0
    half = [[{"bbox": [0, 0, 10, 10], "score": 0.9}, {"bbox": [1, 0, 10, 10], "score": 0.95}], []]
    assert average_precision(half, truths) == 0.5  # one of two signs found; the second box on it is a miss
