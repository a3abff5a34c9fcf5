"""Whole photos with boxes: procedural frames holding zero, one or several signs, for training the localiser.

`render_street` draws a road scene (or, sometimes, another background: bare branches, a building, foliage)
with 0-3 signs of the task's classes, each 10-200 px wide and at most 60 % of the frame, plus unrelated signs
(blue, prohibitory, the backs of signs) that are not boxed, then passes the frame through the camera of
`scenes`. It returns the image, flat attributes, and one COCO-style box per task sign:
`{"bbox": [x, y, w, h], "category": label}` in pixels of the returned image, clipped to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from synthsign_tui.engine.generators.procedural import scenes

MIN_SIGN, MAX_SIGN = 10, 200  # sign width in pixels
SIGN_COUNTS = {0: 0.15, 1: 0.55, 2: 0.2, 3: 0.1}


def _place(
    rng: np.random.Generator, size: float, width: int, height: int, horizon: float, road: bool
) -> tuple[float, float]:
    """A sign centre: at the roadside above the horizon in road frames, anywhere in the others."""
    half = 0.6 * size
    x = rng.uniform(half, max(half + 1, width - half))
    if road and rng.random() < 0.7:
        y = horizon - height * rng.uniform(-0.05, 0.25)
    else:
        y = rng.uniform(half, max(half + 1, height - half))
    return x, float(np.clip(y, half, max(half, height - half)))


def _overlaps(
    box: tuple[float, float, float, float], others: list[tuple[float, float, float, float]]
) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in others)


def compose_street(
    rng: np.random.Generator, signs: list[tuple[Image.Image, str]], width: int, height: int
) -> tuple[Image.Image, dict[str, Any], list[dict[str, Any]]]:
    """(image, attrs, boxes) for `signs` [(drawn sign, class label)] placed in one frame of width x height."""
    road = rng.random() < 0.7
    if road:
        canvas, horizon = scenes._road_scene(rng, width, height)
    else:
        bg, _ = scenes.background(rng, width, height)
        canvas, horizon = Image.fromarray(bg.astype(np.uint8)).convert("RGBA"), height * 0.5
    d = ImageDraw.Draw(canvas)
    largest = min(MAX_SIGN, 0.6 * min(width, height))
    smallest = min(MIN_SIGN, largest)
    others = [scenes.distractor(rng)[0] for _ in range(int(rng.integers(0, 4)))]
    placed = [(image, None) for image in others] + list(signs)
    mask = np.zeros((height, width), np.float32)
    taken: list[tuple[float, float, float, float]] = []
    boxes = []
    for item, label in placed:
        size = float(np.exp(rng.uniform(np.log(smallest), np.log(largest))))
        quad = scenes._quad(rng, item.size[0] / item.size[1], float(rng.normal(0, 4)))
        quad = quad * size / np.ptp(quad[:, 0])
        for _ in range(10):  # task signs never overlap each other, so each box holds one sign
            x, y = _place(rng, size, width, height, horizon, road)
            box = (*(quad.min(axis=0) + (x, y)), *(quad.max(axis=0) + (x, y)))
            if label is None or not _overlaps(box, taken):
                break
        else:
            continue
        quad = quad + (x, y)
        if rng.random() < 0.6:
            scenes._post(d, rng, x, y, min(height, y + size * rng.uniform(1, 4)), max(1.0, 0.08 * size))
        coverage = scenes._paste(canvas, item, quad)
        if label is None:
            continue
        if rng.random() < 0.1:
            scenes._occlude(rng, canvas, box)
        mask = np.maximum(mask, coverage)
        taken.append(box)
        x0, y0 = max(0.0, box[0]), max(0.0, box[1])
        x1, y1 = min(float(width), box[2]), min(float(height), box[3])
        boxes.append({"bbox": [round(float(v), 1) for v in (x0, y0, x1 - x0, y1 - y0)],
                      "category": label})  # fmt: skip
    image, camera = scenes._camera(rng, canvas.convert("RGB"), mask, width, height, scene=True)
    attrs = {"background": "road" if road else "other", "crop": "street", "signs": len(boxes),
             "distractor": len(others)}  # fmt: skip
    return image, {**attrs, **camera}, boxes


def render_street(
    classes: list[tuple[str, list[str]]], *, seed: int, height: int, width: int
) -> tuple[Image.Image, dict[str, Any], list[dict[str, Any]]]:
    """A frame with 0-3 signs of `classes` [(label, designs)]: (image, attrs, COCO-style boxes)."""
    from synthsign_tui.engine.generators.procedural.designs import draw_sign

    rng = np.random.default_rng(seed)
    counts = list(SIGN_COUNTS)
    n = counts[rng.choice(len(counts), p=np.array(list(SIGN_COUNTS.values())))]
    signs: list[tuple[Image.Image, str]] = []
    for _ in range(n):
        label, designs = classes[int(rng.integers(len(classes)))]
        designs = [d for d in designs if d != "none"]
        if designs:
            sign, _ = draw_sign(designs[int(rng.integers(len(designs)))], rng)
            if sign is not None:  # None only for the "none" design, filtered out above
                signs.append((sign, label))
    return compose_street(rng, signs, width, height)
