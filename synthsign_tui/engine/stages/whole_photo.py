"""Whole-photo decisions: find the sign with the localiser, classify its box, and say "no sign found" otherwise.

For a photo much larger than the classifier's crops, the localiser looks at it scaled to its training frame
size (320 px on the long side by default) and proposes its best boxes. Each box, made square and enlarged
1.3 times (the margin the classifier saw in training), is classified like any crop. A box's score for class
c is P(c) x (1 - P(background)); the photo's answer is the best box's best class, or "no sign found" (the
background class, which counts as wrong for a labelled photo) when that score is below `evaluate.sign_threshold`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torchvision.transforms import v2

from synthsign_tui.engine.model.localiser import detect
from synthsign_tui.vocab import BACKGROUND_CLASS as BACKGROUND

TOP_BOXES = 5
ENLARGE = 1.3


def use_whole_photo(setting: str, localiser: Any, image: torch.Tensor, size: int, factor: int) -> bool:
    """`on`: always (with a localiser); `auto`: photos whose short side exceeds `factor` x the crop size."""
    if localiser is None or setting == "off":
        return False
    return setting == "on" or min(image.shape[-2:]) > factor * size


def propose(localiser: tuple[Any, dict[str, Any]], image: torch.Tensor) -> list[dict[str, Any]]:
    """The localiser's best boxes {"bbox": [x, y, w, h], "score"} in the photo's pixels."""
    model, meta = localiser
    h, w = image.shape[-2:]
    scale = meta["input_size"] / max(h, w)
    small = v2.functional.resize(image, [max(1, round(h * scale)), max(1, round(w * scale))], antialias=True)
    boxes = detect(model, small[None], top_k=TOP_BOXES)[0]
    return [{"bbox": [v / scale for v in box["bbox"]], "score": box["score"]} for box in boxes]


def box_crops(image: torch.Tensor, proposals: list[dict[str, Any]], size: int) -> Iterator[torch.Tensor]:
    """Each box made square, enlarged 1.3x and kept inside the photo, resized to size x size."""
    h, w = image.shape[-2:]
    for box in proposals:
        x, y, bw, bh = box["bbox"]
        side = min(max(bw, bh) * ENLARGE, h, w)
        left = min(max(0.0, x + bw / 2 - side / 2), w - side)
        top = min(max(0.0, y + bh / 2 - side / 2), h - side)
        yield v2.functional.resized_crop(image, round(top), round(left), max(1, round(side)), max(1, round(side)),
                                         [size, size], antialias=True)  # fmt: skip


def decide(
    proposals: list[dict[str, Any]], probs: list[torch.Tensor], classes: list[str], threshold: float
) -> tuple[torch.Tensor, list[dict[str, Any]], bool, float]:
    """(probabilities over the real classes of the chosen box, boxes best first, found, best score)."""
    real = [i for i, c in enumerate(classes) if c != BACKGROUND]
    bg = classes.index(BACKGROUND) if BACKGROUND in classes else None
    scored = []
    for box, p in zip(proposals, probs, strict=True):
        sign = float(1 - p[bg]) if bg is not None else 1.0
        scores = p[real] * sign
        k = int(scores.argmax())
        scored.append((float(scores[k]), classes[real[k]], box, p[real] / p[real].sum()))
    scored.sort(key=lambda item: -item[0])
    if not scored:
        return torch.full((len(real),), 1 / len(real)), [], False, 0.0
    best_score, _, _, answer = scored[0]
    found = best_score >= threshold
    boxes = [
        {"bbox": [round(v, 1) for v in box["bbox"]], "score": round(box["score"], 4), "sign_score": round(s, 4),
         "predicted": label, "chosen": found and i == 0}
        for i, (s, label, box, _) in enumerate(scored)
    ]  # fmt: skip
    return answer, boxes, found, best_score
