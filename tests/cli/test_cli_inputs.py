"""Bad input from a shell: each case gives a clean message and exit 2 (or the right result), never a traceback
or a hang; odd files among photos are skipped with a reason; output into a closed pipe ends quietly."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from pngs import png_header
from test_cli import TINY, synthsign

from synthsign_tui.imagefiles import MAX_PIXELS


def clean_failure(proc, message: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert message in " ".join(proc.stderr.split()), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run trained for one epoch at 32 px (no evaluation), in its own folder."""
    root = tmp_path_factory.mktemp("trained")
    synthsign("run", "--until", "train", *TINY, "--set", "train.epochs=1", "--set", "train.image_size=32",
              "--set", "train.weights=none", cwd=root)  # fmt: skip
    return root


def test_predict_lists_skipped_files_beside_the_answers(trained, tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 20, 20)).save(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "bomb.png").write_bytes(png_header(20_000, 20_000, b"\x00" * 48_000))
    (tmp_path / "strip.png").write_bytes(png_header(1, 100_000))
    os.mkfifo(tmp_path / "pipe.png")
    files = [str(tmp_path / n) for n in ("good.png", "empty.png", "bomb.png", "strip.png", "pipe.png")]
    table = synthsign("predict", "1", *files, cwd=trained)
    out = " ".join(table.stdout.split())
    assert "empty file (0 bytes)" in out and "named pipe (FIFO)" in out and "longer than 20:1" in out
    assert "4 of 5 file(s) skipped" in out and "Traceback" not in table.stderr
    answers = json.loads(synthsign("predict", "1", *files, "--json", cwd=trained).stdout)
    assert answers[0]["predicted"] in ("stop", "warning") and "skipped" not in answers[0]
    assert [a["skipped"] is not None for a in answers[1:]] == [True] * 4
    assert all(a["predicted"] is None and a["error"] == a["skipped"] for a in answers[1:])
    assert "pixels" in answers[2]["skipped"] and f"{MAX_PIXELS:,}" not in answers[3]["skipped"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "data.template={prompt:d}"], "has a format spec or conversion"),
        (["--set", 'data.variations.prompt=["a"]'], "cannot be named 'prompt'"),
        (["--set", "train.epochs=true"], "expected a number, not the boolean true"),
        (["--set", "generator.device=tpu"], "device 'tpu' is not one of auto, cpu, cuda or cuda:N"),
        (["--set", "train.weights=missing.pt"], "'missing.pt' is not imagenet, none, or an existing file"),
        (["--set", "generator.kind=diffusers", "--set", "generator.model=./none"], "'./none' does not exist"),
        (["--set", "train.weights=[/x]"], "'[/x]' is not imagenet"),  # rich markup in a value
        (["--set", "name=" + "n" * 100_000], "(100,000 characters)"),
    ],
    ids=["format-spec", "axis-prompt", "bool-epochs", "device", "weights", "model", "markup", "huge"],
)
def test_bad_inputs_are_refused_before_a_run_is_recorded(tmp_path, args, message):
    clean_failure(synthsign("run", *args, cwd=tmp_path, check=False), message)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "holds NUL bytes"),
        (b'name = "\xff"', "is not UTF-8 text"),
        (b"x = " + b"[" * 5000 + b"]" * 5000, "nests tables or lists too deeply"),
        (b"a" + b".a" * 100_000 + b" = 1", "has a dotted key of more than 16 parts"),
    ],
    ids=["binary", "latin-1", "deep", "dotted"],
)
def test_bad_config_files(tmp_path, content, message):
    (tmp_path / "c.toml").write_bytes(content)
    clean_failure(synthsign("run", "c.toml", cwd=tmp_path, check=False), message)


def test_a_folder_as_config(tmp_path):
    (tmp_path / "cfg").mkdir()
    clean_failure(synthsign("run", "cfg", cwd=tmp_path, check=False), "config file 'cfg' is a folder")


def test_catalog_files_that_are_not_catalogs(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("keep me\n")
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE t (x)")
    clean_failure(
        synthsign("--db", "folder", "runs", cwd=tmp_path, check=False), "is a folder: name the catalog"
    )
    clean_failure(
        synthsign("--db", "notes.txt", "runs", cwd=tmp_path, check=False), "is not a SQLite database"
    )
    clean_failure(synthsign("--db", "other.db", "runs", cwd=tmp_path, check=False), "not a SynthSign catalog")
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"
    synthsign("--db", "my?cat.db", "run", "--until", "generate", *TINY, cwd=tmp_path)
    assert (tmp_path / "my?cat.db").is_file() and not (tmp_path / "my").exists()
    listed = json.loads(synthsign("--db", "my?cat.db", "runs", "--json", cwd=tmp_path).stdout)
    assert len(listed) == 1


def test_damaged_catalog(tmp_path):
    synthsign("run", "--until", "generate", *TINY, cwd=tmp_path)
    data = (tmp_path / "runs.db").read_bytes()
    (tmp_path / "runs.db").write_bytes(data[: len(data) // 3])
    for args in (["runs"], ["show", "1"], ["run", "--until", "generate", *TINY]):
        clean_failure(synthsign(*args, cwd=tmp_path, check=False), ".recover | sqlite3 recovered.db")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train.extra_sources.=1", "name the entry after"),
        (" ".join(f"seed={i}" for i in range(1000)), "at most 2,000 are read"),
        ("w" * 100_000, "100,000 characters long"),
    ],
    ids=["malformed-key", "1000-terms", "100k-word"],
)
def test_bad_filters(tmp_path, text, message):
    clean_failure(synthsign("runs", "--filter", text, cwd=tmp_path, check=False), message)


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    from synthsign_tui.catalog import Catalog
    from synthsign_tui.config import load_config

    catalog, config = Catalog(tmp_path / "runs.db"), load_config(preset="road-signs-offline")
    for _ in range(150):  # more output than a pipe holds (64 KB), so the writer meets the closed end
        catalog.create_run(config)
    catalog.engine.dispose()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SYNTHSIGN_DB": ""}
    for args in (["runs", "--json"], ["runs"], ["compare", *map(str, range(1, 151))]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "synthsign_tui", *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        proc.stdout.read(1)
        proc.stdout.close()  # `| head -c 1`
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
        assert stderr == "" and code in (0, 141), (args, code, stderr)
        if args[-1] == "--json":  # 150 runs of JSON overflow the pipe: the writer met the closed end
            assert code == 141
