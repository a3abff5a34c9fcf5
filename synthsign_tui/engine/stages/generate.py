"""Stage 1: turn the config's classes and prompts into a labelled synthetic image dataset.

Writes `dataset/train/<class>/*.png`, `dataset/val/<class>/*.png` and `dataset/metadata.jsonl` (one JSON
object per image) in the run folder, loadable with torchvision's `ImageFolder` and Hugging Face's
`imagefolder` builder. Image k of class c always gets the same seed, prompt, split and file name, so a run is
reproducible from its config, and generation can stop at any moment (cancel, crash, kill -9) and resume:
each image is written under a temporary name and renamed, and the manifest is reconciled with the files.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthsign_tui.config import GeneratorConfig, RunConfig
from synthsign_tui.faults import fault_point
from synthsign_tui.files import write_atomic
from synthsign_tui.vocab import BACKGROUND_CLASS

if TYPE_CHECKING:
    from synthsign_tui.engine.context import RunContext

log = logging.getLogger(__name__)

MANIFEST = "metadata.jsonl"
SPLITS = ("train", "val")


@dataclass(frozen=True)
class ImageJob:
    """One image to make: everything that determines it, and where it goes."""

    label: str
    index: int
    split: str
    seed: int
    prompt: str
    draw: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def file_name(self) -> str:
        return f"{self.split}/{self.label}/{self.label}_{self.index:05d}.png"


def image_seed(seed: int, label: str, index: int) -> int:
    """A 63-bit seed for image `index` of class `label`, independent of every other image."""
    digest = hashlib.sha256(f"synthsign:{seed}:{label}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def dataset_classes(config: RunConfig) -> list[str]:
    """The dataset's class folders: the config's classes, plus the internal background class if asked for."""
    return config.class_names + ([BACKGROUND_CLASS] if config.data.background_images else [])


def plan(config: RunConfig) -> list[ImageJob]:
    """Every image of the dataset, in a fixed order."""
    data = config.data
    groups: list[tuple[str, list[str], tuple[str, ...], int]] = [
        (c.name, c.prompts, tuple(c.draw), data.images_per_class) for c in data.classes
    ]
    if data.background_images:
        groups.append(
            (BACKGROUND_CLASS, ["an empty road, no traffic sign"], ("none",), data.background_images)
        )
    jobs = []
    for label, prompts, draw, count in groups:
        n_val = round(count * data.val_fraction)
        order = np.random.default_rng(image_seed(config.seed, label, -1)).permutation(count)
        val = set(order[:n_val].tolist())
        for k in range(count):
            seed = image_seed(config.seed, label, k)
            rng = np.random.default_rng(seed)
            base = prompts[int(rng.integers(len(prompts)))] if prompts else label
            attributes = {
                axis: values[int(rng.integers(len(values)))] for axis, values in data.variations.items()
            }
            prompt = data.template.format(prompt=base, **attributes)
            split = "val" if k in val else "train"
            jobs.append(ImageJob(label, k, split, seed, prompt, draw, attributes))
    return jobs


def make_generator(cfg: GeneratorConfig):
    """The image generator for a config: loaded once per run (a diffusion pipeline is expensive)."""
    if cfg.kind == "procedural":
        from synthsign_tui.engine.generators.procedural import ProceduralGenerator

        return ProceduralGenerator(cfg)
    from synthsign_tui.engine.generators.diffusion import DiffusersGenerator

    return DiffusersGenerator(cfg)


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """Manifest rows; a torn last line (a crash while appending) is dropped."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("dropping a torn manifest line in %s", path)
    return rows


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reconcile(dataset: Path, jobs: list[ImageJob]) -> dict[str, dict[str, Any]]:
    """Make the folder and manifest agree after any stop; returns the finished images' rows by file name.

    Temporary files are removed; a manifest row whose file is missing or differs is dropped; an image file
    without a manifest row (a stop between rename and append) is removed and made again (it is deterministic).
    """
    wanted = {job.file_name for job in jobs}
    for tmp in dataset.rglob(".*.tmp*"):
        tmp.unlink()
    rows = {}
    for row in read_manifest(dataset / MANIFEST) + read_parts(dataset):
        path = dataset / row["file_name"]
        if row["file_name"] in wanted and path.exists() and sha256_file(path) == row["sha256"]:
            rows[row["file_name"]] = row
    for split in SPLITS:
        for path in (dataset / split).rglob("*.png") if (dataset / split).exists() else []:
            if path.relative_to(dataset).as_posix() not in rows:
                path.unlink()
    write_manifest(dataset, rows.values())
    remove_parts(dataset)
    return rows


def part_path(dataset: Path, process_index: int) -> Path:
    """Where process `process_index` > 0 of a multi-process run appends its manifest rows; main merges them."""
    return dataset / f".{MANIFEST}.part-{process_index}"


def read_parts(dataset: Path) -> list[dict[str, Any]]:
    return [row for path in sorted(dataset.glob(f".{MANIFEST}.part-*")) for row in read_manifest(path)]


def remove_parts(dataset: Path) -> None:
    for path in dataset.glob(f".{MANIFEST}.part-*"):
        path.unlink()


class PartCounter:
    """Counts the rows that the other processes have appended to their manifest parts, reading only new bytes."""

    def __init__(self, dataset: Path, num_processes: int):
        self.paths = [part_path(dataset, i) for i in range(1, num_processes)]
        self.offsets = [0] * len(self.paths)
        self.rows = 0

    def count(self) -> int:
        for i, path in enumerate(self.paths):
            if path.exists():
                with path.open("rb") as f:
                    f.seek(self.offsets[i])
                    chunk = f.read()
                self.offsets[i] += len(chunk)
                self.rows += chunk.count(b"\n")
        return self.rows


def write_manifest(dataset: Path, rows) -> None:
    rows = sorted(rows, key=lambda r: r["file_name"])
    write_atomic(dataset / MANIFEST, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    # Hugging Face's imagefolder reads one metadata file per split folder, with names relative to it
    for split in SPLITS:
        if (dataset / split).is_dir():
            lines = [
                json.dumps({**r, "file_name": r["file_name"].removeprefix(split + "/")}, sort_keys=True)
                + "\n"
                for r in rows
                if r["split"] == split
            ]
            write_atomic(dataset / split / MANIFEST, "".join(lines))


def save_png(image, path: Path) -> str:
    """Write a PNG through the atomic writer (temporary name, then rename); returns its sha256."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def manifest_row(
    job: ImageJob, cfg: GeneratorConfig, sha: str, seconds: float, extra: dict[str, Any]
) -> dict:
    diffusers = cfg.kind == "diffusers"
    return {
        "file_name": job.file_name,
        "label": job.label,
        "split": job.split,
        "index": job.index,
        "prompt": job.prompt,
        "seed": job.seed,
        "generator": cfg.kind,
        "model": cfg.model if diffusers else "procedural",
        "steps": cfg.steps if diffusers else None,
        "guidance_scale": cfg.guidance_scale if diffusers else None,
        "height": cfg.height,
        "width": cfg.width,
        **{f"var_{k}": v for k, v in job.attributes.items()},
        **{f"attr_{k}": v for k, v in extra.items()},
        "sha256": sha,
        "seconds": round(seconds, 4),
    }


def generate_stage(ctx: RunContext) -> None:
    """Make every missing image of the run's dataset, reporting progress; safe to call again after any stop.

    With several processes, the main process reconciles, each process makes its share of the missing images
    (appending its rows to its own manifest part), and the main process merges the parts and reports the
    images of all processes.
    """
    config, records, dist = ctx.config, ctx.records, ctx.dist
    dataset = ctx.dataset_dir
    jobs = plan(config)
    for split in SPLITS:
        for label in dataset_classes(config):
            (dataset / split / label).mkdir(parents=True, exist_ok=True)
    done_rows = dist.on_main(lambda: reconcile(dataset, jobs))
    already, total = len(done_rows), len(jobs)
    todo = dist.share([job for job in jobs if job.file_name not in done_rows])
    others = PartCounter(dataset, dist.num_processes) if dist.is_main else None

    def report(message: str) -> None:
        done = len(done_rows) + (others.count() if others else 0)
        ctx.progress("generate", done, total, message)

    ctx.log(f"generate: {total} images ({already} already made) with {config.generator.kind}")
    report("loading the generator")
    started = time.time()

    def make_share() -> None:
        generator = make_generator(config.generator)
        batch_size = config.generator.batch_size
        manifest_file = dataset / MANIFEST if dist.is_main else part_path(dataset, dist.process_index)
        with manifest_file.open("a") as manifest:
            for start in range(0, len(todo), batch_size):
                ctx.check_cancel()
                batch = todo[start : start + batch_size]
                t0 = time.time()
                results = generator.generate(batch)
                seconds = (time.time() - t0) / len(batch)
                # Files first, then the catalog (replacing rows of images remade after a stop), then the
                # manifest: an image is finished only once in the manifest, so a stop anywhere remakes it.
                rows, samples = [], []
                for job, (image, extra) in zip(batch, results, strict=True):
                    sha = save_png(image, dataset / job.file_name)
                    fault_point("generate.image")
                    rows.append(manifest_row(job, config.generator, sha, seconds, extra))
                    samples.append(
                        {"path": str(dataset / job.file_name), "label": job.label, "split": job.split,
                         "prompt": job.prompt, "seed": job.seed}
                    )  # fmt: skip
                if dist.is_main:
                    records.add_samples(ctx.run_id, samples)
                    fault_point("generate.samples")
                for row in rows:
                    manifest.write(json.dumps(row, sort_keys=True) + "\n")
                    manifest.flush()
                    done_rows[row["file_name"]] = row
                fault_point("generate.manifest")
                last = batch[-1]
                report(f"{last.label}: {last.prompt}")
                ctx.emit("sample", stage="generate", data={"samples": samples})

    try:
        dist.together(make_share, while_waiting=lambda: report("waiting for the other processes"))
    finally:
        made = len(done_rows) - already + (others.count() if others else 0)
        elapsed = time.time() - started
        if made and dist.is_main:
            records.add_generation(ctx.run_id, made, elapsed, already + made)
    if dist.is_main:
        rows = {**done_rows, **{row["file_name"]: row for row in read_parts(dataset)}}
        write_manifest(dataset, rows.values())
        remove_parts(dataset)
        records.update_run(ctx.run_id, gen_images=len(rows))
        ctx.progress("generate", len(rows), total)
    rate = f", {made / elapsed:.1f} images/s" if made else ""
    ctx.log(f"generate: done, {already + made} images in {dataset}{rate}")
