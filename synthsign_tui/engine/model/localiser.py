"""The sign localiser: a small fully convolutional network that marks sign centres on a heatmap (CenterNet-style).

The trunk halves the picture five times (stride 32), a light feature pyramid brings it back to stride 4, and
the head predicts per cell: a sign-centre score (sigmoid), the box's log width and height in cells, and the
centre's sub-cell offset. It knows "sign" and "not a sign", not which sign: the classifier decides that.
Trained from scratch on procedural whole photos with boxes (`dataset/scenes/`), any input size (multiples of
32 are padded to). Checkpoints carry their config and load with `torch.load(path, weights_only=True)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from synthsign_tui.errors import SynthSignError

LOCALISER_FORMAT = "synthsign-localiser/1"
STRIDE = 4
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Localiser(nn.Module):
    """Heatmap (N, 1, H/4, W/4) logits, size (N, 2, H/4, W/4) log cells, offset (N, 2, H/4, W/4) in cells."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.stem = nn.Sequential(_conv(3, w // 2, 2), _conv(w // 2, w, 2))  # stride 4
        self.s8 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.s16 = nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w))
        self.s32 = nn.Sequential(_conv(4 * w, 4 * w, 2), _conv(4 * w, 4 * w))
        self.lateral = nn.ModuleList(nn.Conv2d(c, w, 1) for c in (w, 2 * w, 4 * w, 4 * w))
        out = nn.Conv2d(w, 5, 1)
        self.head = nn.Sequential(_conv(w, w), out)
        assert out.bias is not None
        nn.init.constant_(out.bias[:1], -2.19)  # start at p(centre) = 0.1 (CenterNet's focal prior)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f4 = self.stem(x)
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        top = self.lateral[3](f32)
        for lateral, feature in zip(self.lateral[2::-1], (f16, f8, f4), strict=True):
            top = lateral(feature) + F.interpolate(top, size=feature.shape[-2:], mode="nearest")
        out = self.head(top)
        return out[:, :1], out[:, 1:3], out[:, 3:5]


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> normalised float32, channels_last."""
    x = batch.float().div_(255)
    m, s = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return x.sub_(m.to(x.device)).div_(s.to(x.device)).contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------- training targets and loss


def targets(boxes: list[list[list[float]]], height: int, width: int) -> dict[str, torch.Tensor]:
    """Training targets for a batch: Gaussian centre heatmaps, and size and offset at each centre cell."""
    h, w = height // STRIDE, width // STRIDE
    n = len(boxes)
    heat = np.zeros((n, 1, h, w), np.float32)
    size = np.zeros((n, 2, h, w), np.float32)
    offset = np.zeros((n, 2, h, w), np.float32)
    mask = np.zeros((n, 1, h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    for i, image_boxes in enumerate(boxes):
        for x, y, bw, bh in image_boxes:
            cx, cy = (x + bw / 2) / STRIDE, (y + bh / 2) / STRIDE
            ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
            sigma = max(0.5, min(bw, bh) / STRIDE / 6)
            heat[i, 0] = np.maximum(heat[i, 0], np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma**2)))
            size[i, :, iy, ix] = np.log(max(bw, 1.0) / STRIDE), np.log(max(bh, 1.0) / STRIDE)
            offset[i, :, iy, ix] = cx - ix, cy - iy
            mask[i, 0, iy, ix] = 1.0
    return {
        k: torch.from_numpy(v)
        for k, v in (("heat", heat), ("size", size), ("offset", offset), ("mask", mask))
    }


def loss(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], target: dict[str, torch.Tensor]
) -> torch.Tensor:
    """CenterNet's focal loss on the heatmap plus L1 on size and offset at the centres, per sign."""
    logits, size, offset = (o.float() for o in outputs)
    p = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    heat = target["heat"]
    positive = heat.eq(1).float()
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * positive).sum()
    neg_loss = -(torch.log(1 - p) * p**2 * (1 - heat) ** 4 * (1 - positive)).sum()
    mask = target["mask"]
    n = mask.sum().clamp(min=1)
    box_loss = ((size - target["size"]).abs() * mask).sum() + ((offset - target["offset"]).abs() * mask).sum()
    return (pos_loss + neg_loss) / n + 0.5 * box_loss / n


# ---------------------------------------------------------------- boxes from the heatmap


@torch.inference_mode()
def detect(model: nn.Module, images: torch.Tensor, top_k: int = 5) -> list[list[dict[str, Any]]]:
    """Per image of a uint8 batch [N, 3, H, W]: up to `top_k` boxes {"bbox": [x, y, w, h], "score"}, best first."""
    h, w = images.shape[-2:]
    ph, pw = -h % 32, -w % 32
    x = F.pad(normalize(images), (0, pw, 0, ph))
    logits, size, offset = (o.float() for o in model(x))
    heat = logits.sigmoid()
    fh, fw = -(-h // STRIDE), -(-w // STRIDE)  # the cells of the photo, not of its padding
    peaks = (heat * (F.max_pool2d(heat, 3, 1, 1) == heat))[..., :fh, :fw]
    results = []
    for i in range(len(images)):
        scores, index = peaks[i, 0].flatten().topk(min(top_k, fh * fw))  # row-major over fh x fw
        found = []
        for score, k in zip(scores.tolist(), index.tolist(), strict=True):
            iy, ix = divmod(k, fw)
            cx, cy = (ix + float(offset[i, 0, iy, ix])) * STRIDE, (iy + float(offset[i, 1, iy, ix])) * STRIDE
            bw, bh = (float(torch.exp(size[i, c, iy, ix].clamp(-1, 8))) * STRIDE for c in (0, 1))
            x0, y0 = max(0.0, cx - bw / 2), max(0.0, cy - bh / 2)
            x1, y1 = min(float(w), cx + bw / 2), min(float(h), cy + bh / 2)
            if x1 > x0 and y1 > y0:
                found.append({"bbox": [x0, y0, x1 - x0, y1 - y0], "score": score})
        results.append(found)
    return results


def iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def average_precision(
    detections: list[list[dict[str, Any]]], truths: list[list[list[float]]], threshold: float = 0.5
) -> float:
    """AP at IoU `threshold` (all-point interpolated, as VOC 2010+) of class-agnostic detections per image."""
    ranked = sorted(((d["score"], i, d["bbox"]) for i, ds in enumerate(detections) for d in ds), reverse=True)
    total = sum(len(t) for t in truths)
    if total == 0:
        return float("nan")
    used = [[False] * len(t) for t in truths]
    hits = []
    for _, i, box in ranked:
        overlaps = [iou(box, t) for t in truths[i]]
        best = int(np.argmax(overlaps)) if overlaps else -1
        hit = best >= 0 and overlaps[best] >= threshold and not used[i][best]
        if hit:
            used[i][best] = True
        hits.append(hit)
    tp = np.cumsum(hits)
    recall = tp / total
    precision = tp / np.arange(1, len(hits) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(hits) else precision
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope))


# ---------------------------------------------------------------- checkpoints


def load_localiser(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on the CPU, meta: config, input_size, ap50, train_seconds, ...)."""
    path = Path(path)
    if not path.is_file():
        raise SynthSignError(f"no localiser checkpoint {path}: train one with localiser.scenes > 0")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != LOCALISER_FORMAT:
        raise SynthSignError(f"{path} is not a SynthSign localiser (format {payload.get('format')!r})")
    model = Localiser(payload["width"])
    model.load_state_dict(payload["model"])
    return model.eval(), {k: v for k, v in payload.items() if k != "model"}
