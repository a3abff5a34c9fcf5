"""The `synthsign` command as a user runs it: real subprocesses, a real catalog, exit codes and messages."""

import json
import os
import subprocess
import sys
import time

import pytest

TINY = ["--set", "data.images_per_class=4", "--set", "data.background_images=0", "--set", "generator.height=32",
        "--set", "generator.width=32", "--set", "localiser.scenes=0"]  # fmt: skip


def synthsign(*args, cwd, check=True):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SYNTHSIGN_DB": "", "COLUMNS": "160"}
    proc = subprocess.run([sys.executable, "-m", "synthsign_tui", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_run_until_generate_then_list_and_show(tmp_path):
    out = synthsign("run", "--preset", "road-signs-offline", "--until", "generate", "--name", "first", *TINY,
                    cwd=tmp_path)  # fmt: skip
    assert "run 1 (first)" in out.stdout and (tmp_path / "runs.db").exists()
    runs = json.loads(synthsign("runs", "--json", cwd=tmp_path).stdout)
    assert [(r["id"], r["name"], r["status"]) for r in runs] == [(1, "first", "done")]
    assert runs[0]["created_at"] and runs[0]["images"] == 8
    show = json.loads(synthsign("show", "1", "--json", cwd=tmp_path).stdout)
    assert show["config"]["data"]["images_per_class"] == 4
    assert show["generation"]["images"] == 8 and show["generation"]["images_per_s"] > 0
    assert show["run_dir"] == str(tmp_path / "runs" / "1")
    assert (tmp_path / "runs" / "1" / "config.toml").read_text().startswith('name = "first"')
    text = synthsign("show", "1", cwd=tmp_path).stdout
    assert "run 1" in text and "8 images" in text


def test_db_flag_and_env_choose_the_catalog(tmp_path):
    synthsign("--db", str(tmp_path / "other.db"), "run", "--until", "generate", *TINY, cwd=tmp_path)
    assert (tmp_path / "other.db").exists() and not (tmp_path / "runs.db").exists()
    assert (tmp_path / "runs" / "1" / "dataset").is_dir()
    env_runs = subprocess.run([sys.executable, "-m", "synthsign_tui", "runs", "--json"], cwd=tmp_path, text=True,
                              capture_output=True, env={**os.environ, "SYNTHSIGN_DB": str(tmp_path / "other.db")})  # fmt: skip
    assert len(json.loads(env_runs.stdout)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "data.images_per_clas=3"], "did you mean 'data.images_per_class'"),
        (["--set", "data.val_fraction=1.5"], "data.val_fraction: Input should be less than 1 (got 1.5)"),
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["missing.toml"], "config file 'missing.toml' does not exist"),
    ],
)
def test_bad_config_exits_2_with_the_message_and_no_traceback(tmp_path, args, message):
    proc = synthsign("run", *args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "runs").exists()


def test_typo_in_a_config_file(tmp_path):
    (tmp_path / "c.toml").write_text('name = "x"\nseed = 1\n[generator]\nknd = "procedural"\n')
    proc = synthsign("run", "c.toml", "--preset", "road-signs-offline", cwd=tmp_path, check=False)
    assert (
        proc.returncode == 2 and "generator.knd: unknown key; did you mean 'generator.kind'?" in proc.stderr
    )


def test_unknown_run_and_presets(tmp_path):
    proc = synthsign("show", "42", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "no run 42" in proc.stderr and "Traceback" not in proc.stderr
    listing = synthsign("presets", cwd=tmp_path).stdout
    assert "road-signs-zimage" in listing and "on this machine" in listing and "ready" in listing


def test_compare_json_lists_differing_keys(tmp_path):
    synthsign("run", "--until", "generate", *TINY, cwd=tmp_path)
    synthsign("run", "--until", "generate", *TINY, "--set", "seed=5", cwd=tmp_path)
    data = json.loads(synthsign("compare", "1", "2", "--json", cwd=tmp_path).stdout)
    assert data["differences"] == {"seed": [0, 5]}
    assert data["metrics"]["images"] == [8, 8]
    assert [r["id"] for r in data["runs"]] == [1, 2]


def test_runs_filter(tmp_path):
    synthsign("run", "--until", "generate", *TINY, "--name", "alpha", cwd=tmp_path)
    synthsign("run", "--until", "generate", *TINY, "--name", "beta", "--set", "seed=3", cwd=tmp_path)
    names = [
        r["name"] for r in json.loads(synthsign("runs", "--json", "--filter", "seed=3", cwd=tmp_path).stdout)
    ]
    assert names == ["beta"]
    assert "match" in synthsign("runs", "--filter", "status:failed", cwd=tmp_path).stdout
    bad = synthsign("runs", "--filter", "images>>2", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "takes a number" in bad.stderr and "Traceback" not in bad.stderr


def test_resume_refuses_a_finished_run(tmp_path):
    synthsign("run", "--until", "evaluate", *TINY, "--set", "train.epochs=1", "--set", "train.image_size=32", "--set", "evaluate.multicrop=off",
              cwd=tmp_path)  # fmt: skip
    proc = synthsign("resume", "1", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "run 1 is done: only failed, cancelled, interrupted runs" in proc.stderr


def test_missing_real_folder_fails_before_the_run_starts(tmp_path):
    proc = synthsign("run", *TINY, "--set", "evaluate.real_dir=nowhere", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "evaluate.real_dir: folder 'nowhere' does not exist" in proc.stderr
    assert not (tmp_path / "runs").exists()
    synthsign("run", "--until", "generate", *TINY, "--set", "evaluate.real_dir=nowhere", cwd=tmp_path)


def test_predict_and_show_carry_the_boxes_of_whole_photo_decisions(tmp_path):
    from synthsign_tui.engine.generators.procedural.street import render_street

    (tmp_path / "real" / "stop").mkdir(parents=True)
    for seed in range(3):
        photo, _, _ = render_street([("stop", ["stop"])], seed=seed, width=240, height=180)
        photo.save(tmp_path / "real" / "stop" / f"street{seed}.png")
    synthsign("run", "--name", "boxes", *TINY, "--set", "train.image_size=32", "--set", "train.epochs=1",
              "--set", "localiser.scenes=6", "--set", "localiser.steps=2", "--set", "localiser.scene_width=96",
              "--set", "localiser.scene_height=64", "--set", "localiser.width=8", "--set", "localiser.crop=0",
              "--set", f"evaluate.real_dir={tmp_path / 'real'}", "--set", "evaluate.sign_threshold=0",
              cwd=tmp_path)  # fmt: skip
    photo = tmp_path / "real" / "stop" / "street0.png"
    (found,) = json.loads(synthsign("predict", "1", str(photo), "--json", cwd=tmp_path).stdout)
    assert found["mode"] == "whole-photo" and 1 <= len(found["boxes"]) <= 5
    x, y, w, h = found["box"]
    assert found["boxes"][0]["chosen"] and found["boxes"][0]["bbox"] == found["box"]
    assert x >= 0 and y >= 0 and x + w <= 240.5 and y + h <= 180.5 and w > 0
    (crop,) = json.loads(
        synthsign("predict", "1", str(photo), "--json", "--whole-photo", "off", cwd=tmp_path).stdout
    )
    assert crop["mode"] == "multicrop" and crop["box"] is not None  # 180 px > 3 x 32 px: windows
    text = synthsign("predict", "1", str(photo), cwd=tmp_path).stdout
    assert f"{round(x)},{round(y)} {round(w)}x{round(h)}" in text
    show = json.loads(synthsign("show", "1", "--json", cwd=tmp_path).stdout)
    real = [p for p in show["predictions"] if p["evaluation"] == "real"]
    assert len(real) == 3 and all(p["boxes"] and p["box"] for p in real)  # threshold 0: a sign in each
    evaluations = {(e["name"], e["checkpoint"]): e["mode"] for e in show["evaluations"]}
    assert evaluations[("real", "best")] == "whole-photo+flip"  # the preset averages with the mirror image


def test_cancel_stops_a_detached_run_cleanly_and_refuses_a_stopped_one(tmp_path):
    real = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "real")
    out = synthsign("run", *TINY, "--set", "train.epochs=300", "--set", "train.image_size=32", "--set",
                    f"evaluate.real_dir={real}", "--detach", cwd=tmp_path)  # fmt: skip
    assert "synthsign cancel 1" in out.stdout

    def status() -> str:
        return json.loads(synthsign("runs", "--json", cwd=tmp_path).stdout)[0]["status"]

    deadline = time.monotonic() + 120
    while status() != "running":  # its process records itself (and its Ctrl-C/SIGTERM handler) when it starts
        assert time.monotonic() < deadline, "the detached run never started"
        time.sleep(0.5)
    assert "run 1 cancelling" in synthsign("cancel", "1", cwd=tmp_path).stdout
    while status() != "cancelled":
        assert time.monotonic() < deadline, "the cancelled run never stopped"
        time.sleep(0.5)
    again = synthsign("cancel", "1", cwd=tmp_path, check=False)
    assert again.returncode == 2 and "run 1 is cancelled, not running" in again.stderr
