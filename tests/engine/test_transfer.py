"""The real-transfer benchmark end to end at toy size: real engine, real catalog, a stand-in real-photo root.

The "real" photos here are procedural renders written to tmp_path (the dev photos stay out of the tests), so
only the benchmark's plumbing is checked: every subset evaluated, per-class recall, mistakes, seeds, the
REAL-TRAINED baseline and the scaling table, in one call (each run trains a ResNet18).
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import real_transfer  # noqa: E402

from synthsign_tui.engine.generators.procedural import render

TOY = ["--set", "data.images_per_class=4", "--set", "data.background_images=2", "--set", "generator.height=32",
       "--set", "generator.width=32", "--set", "train.image_size=32", "--set", "train.epochs=1",
       "--set", "localiser.scenes=6", "--set", "localiser.steps=2", "--set", "localiser.scene_width=96",
       "--set", "localiser.scene_height=64", "--set", "localiser.width=8", "--set", "localiser.crop=0"]  # fmt: skip


@pytest.fixture()
def real_root(tmp_path):
    root = tmp_path / "real"
    designs = {"stop": ["stop"], "warning": ["warning-triangle", "warning-diamond"]}
    for subset, size in (("crops", 40), ("scenes", 112)):
        for label, draw in designs.items():
            (root / subset / label).mkdir(parents=True)
            for seed in range(3):
                image, _ = render(draw, seed=seed, height=size, width=size, scene=subset == "scenes")
                image.save(root / subset / label / f"{label}{seed}.png")
    return root


def test_benchmark_tables_seeds_real_baseline_and_scaling(tmp_path, real_root, capsys):
    out = tmp_path / "report.json"
    real_transfer.main([*TOY, "--seeds", "0", "1", "--real-root", str(real_root), "--json", str(out),
                        "--real-baseline", "crops:scenes", "--scaling", "--scaling-sizes", "3"])  # fmt: skip
    report = json.loads(out.read_text())
    assert [r["seed"] for r in report["runs"]] == [0, 1]
    summary = report["summary"]
    assert set(summary) == {"crops", "scenes"}
    assert summary["scenes"]["mode"] == "whole-photo+flip"  # the preset's localiser finds the sign first
    assert summary["crops"]["mode"] == "single+flip"  # the preset's flip averaging reaches the benchmark
    for s in summary.values():
        assert s["n_images"] == 6 and len(s["balanced_accuracy"]) == 2
        assert set(s["recall"]) == {"stop", "warning"}
        assert all(w["path"].startswith(str(real_root)) for w in s["worst"])
    assert all(set(r["seconds"]) == {"generate", "train", "evaluate"} for r in report["runs"])
    baseline = report["real_baseline"]["runs"][0]
    assert list(baseline["subsets"]) == ["scenes"]
    assert baseline["config"]["train"]["extra_sources"] == {str(real_root / "crops"): 6.0}
    assert [row["images_per_class"] for row in report["scaling"]] == [3]
    scaled = report["scaling"][0]  # the background keeps the preset's 2:4 ratio to the images per class
    assert scaled["background_images"] == scaled["config"]["data"]["background_images"] == 2
    text = capsys.readouterr().out
    assert (
        "| crops | 6 | single+flip |" in text
        and "synthetic-val accuracy" in text
        and "worst mistakes" in text
    )
    assert "REAL-TRAINED baseline: trained on real crops, tested on real scenes" in text
    assert "Data scaling" in text
