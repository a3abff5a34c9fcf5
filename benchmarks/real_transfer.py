"""Synthetic-to-real transfer: train on the offline preset's synthetic images, measure on real photos.

Runs the `road-signs-offline` preset (or `--preset`) through the real engine once per seed: generate and train
with `start_run`, then `evaluate_run` (the best checkpoint, with the preset's multi-crop setting) on every
subset folder under the real-photo root (`../shared/realdata/dev/` from the repo root by default). It never
trains on those photos, except with `--real-baseline A:B`, which trains on real subset A and tests on B and
is labelled REAL-TRAINED everywhere it is printed.

Prints one table (subset, images, accuracy, balanced accuracy, per-class recall, ECE, synthetic-val accuracy,
seconds per stage; mean ± half-range over seeds), then the worst mistakes per real folder: the photos the
runs got wrong most confidently (mean confidence over the seeds that got them wrong).

    python benchmarks/real_transfer.py                          # the preset, seed 0
    python benchmarks/real_transfer.py --seeds 0 1 2 --json out.json
    python benchmarks/real_transfer.py --set train.epochs=4 --set data.images_per_class=500
    python benchmarks/real_transfer.py --scaling                # 50, 200, 1000, 5000 images per class
    python benchmarks/real_transfer.py --real-baseline gtsrb:us-color
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REAL_ROOT = REPO.parent / "shared" / "realdata" / "dev"
SCALING_SIZES = (50, 200, 1000, 5000)
WORST = 8

log = logging.getLogger("real_transfer")


def subsets(root: Path) -> dict[str, Path]:
    """Every subfolder of `root` that holds class subfolders."""
    if not root.is_dir():
        raise SystemExit(f"real-photo root {root} does not exist: pass --real-root DIR (ImageFolder subsets)")
    found = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and any(c.is_dir() for c in p.iterdir())}
    if not found:
        raise SystemExit(f"{root} has no subset folders like {root}/<subset>/<class>/*.png")
    return found


def one_run(
    preset: str, overrides: list[str], seed: int, reals: dict[str, Path], catalog, name: str
) -> dict[str, Any]:
    """Generate + train one seed with the engine, evaluate its best checkpoint on `reals`; metrics and timings."""
    from synthsign_tui.config import load_config
    from synthsign_tui.engine import evaluate_run, resume_run, start_run

    config = load_config(preset=preset, overrides=[*overrides, f"seed={seed}"], name=name)
    times = {}
    t0 = time.time()
    run_id = start_run(config, catalog, until="generate", command="benchmarks/real_transfer.py")
    times["generate"] = time.time() - t0
    t0 = time.time()
    resume_run(run_id, catalog, until="train")
    times["train"] = time.time() - t0
    run = catalog.require_run(run_id)
    if run.status == "failed":
        raise SystemExit(f"run {run_id} failed: {run.error}")
    t0 = time.time()
    results = evaluate_run(catalog, run_id, reals)
    times["evaluate"] = time.time() - t0
    epochs = [e for e in catalog.epochs(run_id) if e.val_acc is not None and e.epoch > 0]
    val_acc = max((e.val_acc for e in epochs), default=None)
    by_name = {e.name: e for e in catalog.evaluations(run_id) if e.checkpoint == "best"}
    subsets_out = {}
    for result in results:
        preds = [p.to_dict() for p in catalog.predictions(by_name[result["name"]].id)]
        subsets_out[result["name"]] = {
            "n_images": result["n_images"], "accuracy": result["accuracy"],
            "balanced_accuracy": result["balanced_accuracy"], "ece": result["ece"], "mode": result["mode"],
            "recall": {c: m["recall"] for c, m in result["per_class"].items() if m["support"]},
            "mistakes": [p for p in preds if p["correct"] is False],
        }  # fmt: skip
    localiser = Path(run.run_dir) / "checkpoints" / "localiser.pt"
    loc_meta = None
    if localiser.exists():
        from synthsign_tui.engine.model.localiser import load_localiser

        loc_meta = {k: v for k, v in load_localiser(localiser)[1].items() if k != "config"}
    return {"seed": seed, "run_id": run_id, "run_dir": run.run_dir, "val_acc": val_acc, "seconds": times,
            "localiser": loc_meta,
            "subsets": subsets_out, "config": config.to_dict()}  # fmt: skip


def _stat(values: list[float | None], pct: bool = True) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    k = 100 if pct else 1
    mean = statistics.fmean(values) * k
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {(max(values) - min(values)) * k / 2:.1f}"


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per subset: lists over seeds of each metric, and the aggregated worst mistakes."""
    names = sorted({n for r in runs for n in r["subsets"]})
    out: dict[str, Any] = {}
    for name in names:
        rows = [r["subsets"][name] for r in runs if name in r["subsets"]]
        classes = sorted({c for row in rows for c in row["recall"]})
        wrong: dict[str, list[float]] = defaultdict(list)
        chosen: dict[tuple, list[float] | None] = {}
        for row in rows:
            for p in row["mistakes"]:
                wrong[(p["path"], p["label"], p["predicted"])].append(p["confidence"])
                chosen[(p["path"], p["label"], p["predicted"])] = p.get("box")  # the last seed's box
        worst = sorted(wrong.items(), key=lambda kv: (-len(kv[1]), -statistics.fmean(kv[1])))[:WORST]
        out[name] = {
            "n_images": rows[0]["n_images"],
            "accuracy": [row["accuracy"] for row in rows],
            "balanced_accuracy": [row["balanced_accuracy"] for row in rows],
            "ece": [row["ece"] for row in rows],
            "recall": {c: [row["recall"].get(c) for row in rows] for c in classes},
            "mode": rows[0]["mode"],
            "worst": [{"path": path, "label": label, "predicted": pred, "seeds_wrong": len(conf),
                       "mean_confidence": statistics.fmean(conf), "box": chosen[(path, label, pred)]}
                      for (path, label, pred), conf in worst],
        }  # fmt: skip
    return out


def print_table(title: str, runs: list[dict[str, Any]], summary: dict[str, Any], worst: bool = True) -> None:
    from synthsign_tui import display as fmt

    seeds = ", ".join(str(r["seed"]) for r in runs)
    print(f"\n## {title} (seeds {seeds}; mean ± half-range over seeds)\n")
    print("| subset | images | mode | accuracy % | balanced acc % | per-class recall % | ECE % |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, s in summary.items():
        recall = ", ".join(f"{c} {_stat(v)}" for c, v in s["recall"].items())
        print(f"| {name} | {s['n_images']} | {s['mode']} | {_stat(s['accuracy'])} | "
              f"{_stat(s['balanced_accuracy'])} | {recall} | {_stat(s['ece'])} |")  # fmt: skip
    stages = ", ".join(
        f"{stage} {_stat([r['seconds'][stage] for r in runs], pct=False)} s"
        for stage in ("generate", "train", "evaluate")
    )
    localiser = [r["localiser"] for r in runs if r.get("localiser")]
    if localiser:
        ap = _stat([m["ap50"] for m in localiser])
        seconds = _stat([m["train_seconds"] for m in localiser], pct=False)
        print(f"\nlocaliser: AP50 on procedural val scenes {ap} %, training {seconds} s")
    print(f"\nsynthetic-val accuracy {_stat([r['val_acc'] for r in runs])} %; wall time per stage: {stages}")
    if not worst:
        return
    for name, s in summary.items():
        if not s["worst"]:
            continue
        print(
            f"\nworst mistakes, {name} (most confidently wrong; seeds wrong / {len(runs)}, mean confidence):"
        )
        for w in s["worst"]:
            box = "" if w.get("box") is None else f"  box {fmt.box_text(w['box'])}"
            print(f"  {w['seeds_wrong']}x {w['mean_confidence']:.2f}  {w['label']} -> "
                  f"{fmt.predicted_text(w['predicted'])}  {w['path']}{box}")  # fmt: skip


def scaling(args, reals, catalog) -> list[dict[str, Any]]:
    """One run per size; the "no sign" background images keep the preset's ratio to the images per class."""
    from synthsign_tui.config import load_config

    base = load_config(preset=args.preset, overrides=args.set).data
    ratio = base.background_images / base.images_per_class
    rows = []
    for n in args.scaling_sizes:
        background = round(n * ratio)
        overrides = [*args.set, f"data.images_per_class={n}", f"data.background_images={background}"]
        run = one_run(args.preset, overrides, args.seeds[0], reals, catalog, f"bench-scaling-{n}")
        rows.append({"images_per_class": n, "background_images": background, **run})
    print(f"\n## Data scaling (seed {args.seeds[0]}): balanced accuracy % on real photos\n")
    names = sorted(reals)
    print("| images per class | background | " + " | ".join(names) + " | synthetic val % | train s |")
    print("| --- | --- | " + " | ".join("---" for _ in names) + " | --- | --- |")
    for row in rows:
        cells = " | ".join(_stat([row["subsets"][n]["balanced_accuracy"]]) for n in names)
        print(f"| {row['images_per_class']} | {row['background_images']} | {cells} | {_stat([row['val_acc']])} "
              f"| {row['seconds']['train']:.0f} |")  # fmt: skip
    return rows


def real_baseline(args, reals, catalog) -> dict[str, Any]:
    """REAL-TRAINED: one image per class of synthetic data plus every photo of subset A, tested on B."""
    train_name, _, test_name = args.real_baseline.partition(":")
    if train_name not in reals or test_name not in reals:
        raise SystemExit(f"--real-baseline {args.real_baseline}: subsets are {', '.join(sorted(reals))}")
    source = reals[train_name]
    n_photos = sum(1 for p in source.rglob("*") if p.is_file())
    overrides = [*args.set, "data.images_per_class=1", "data.val_fraction=0.0", "data.background_images=0",
                 f'train.extra_sources={{"{source}" = {float(n_photos)}}}']  # fmt: skip
    runs = [one_run(args.preset, overrides, seed, {test_name: reals[test_name]}, catalog,
                    f"bench-REAL-TRAINED-{train_name}") for seed in args.seeds]  # fmt: skip
    print_table(f"REAL-TRAINED baseline: trained on real {train_name}, tested on real {test_name}", runs,
                summarise(runs), worst=False)  # fmt: skip
    return {"train": train_name, "test": test_name, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="road-signs-offline")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.add_argument(
        "--real-root", type=Path, default=DEFAULT_REAL_ROOT, help="folder of real ImageFolder subsets"
    )
    p.add_argument("--subsets", nargs="+", help="only these subsets (default: every one found)")
    p.add_argument("--db", type=Path, help="catalog file (default: a temporary folder, removed afterwards)")
    p.add_argument("--json", type=Path, help="also write every number and mistake to this JSON file")
    p.add_argument("--scaling", action="store_true", help="also a data-scaling table (first seed)")
    p.add_argument("--scaling-sizes", type=int, nargs="+", default=list(SCALING_SIZES))
    p.add_argument(
        "--real-baseline", metavar="TRAIN:TEST", help="also a REAL-TRAINED baseline, e.g. gtsrb:us-color"
    )
    p.add_argument("--skip-synthetic", action="store_true", help="only the --scaling / --real-baseline parts")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from synthsign_tui.catalog import Catalog

    reals = subsets(args.real_root.resolve())
    if args.subsets:
        reals = {n: reals[n] for n in args.subsets}
    with tempfile.TemporaryDirectory(prefix="synthsign-bench-") as tmp:
        catalog = Catalog(args.db or Path(tmp) / "bench.db")
        report: dict[str, Any] = {"preset": args.preset, "overrides": args.set, "seeds": args.seeds,
                                  "real_root": str(args.real_root), "command": " ".join(sys.argv)}  # fmt: skip
        if not args.skip_synthetic:
            started = time.time()
            runs = [
                one_run(args.preset, args.set, seed, reals, catalog, f"bench-seed{seed}")
                for seed in args.seeds
            ]
            summary = summarise(runs)
            print_table(f"Synthetic-only training: preset {args.preset} {' '.join(args.set)}", runs, summary)
            print(f"\ntotal {time.time() - started:.0f} s for {len(runs)} seed(s)")
            report.update(runs=runs, summary=summary)
        if args.scaling:
            report["scaling"] = scaling(args, reals, catalog)
        if args.real_baseline:
            report["real_baseline"] = real_baseline(args, reals, catalog)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
