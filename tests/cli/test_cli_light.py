"""Commands that answer before (or without) opening the catalog: `open`, `predict`; the entry stays light;
`runs` tables that fit a pipe or an 80-column terminal."""

import os
import subprocess
import sys

from fakes import write_fake_run

from synthsign_tui.catalog import Catalog


def synthsign(*args, cwd, columns=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SYNTHSIGN_DB": "", "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "synthsign_tui", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


def test_open_unknown_run_exits_2_naming_the_runs_there(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    write_fake_run(catalog, "alpha", seed=0)
    write_fake_run(catalog, "beta", seed=1)
    proc = synthsign("open", "9", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no run 9 in runs.db: runs there include 2, 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_open_without_a_catalog_says_how_to_start(tmp_path):
    proc = synthsign("--db", str(tmp_path / "none.db"), "open", "1", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no run 1 in" in proc.stderr and "synthsign run --preset" in proc.stderr
    assert not (tmp_path / "none.db").exists()  # looking does not create a catalog


def test_the_command_entry_imports_no_catalog_config_or_ui():
    code = (
        "import sys, synthsign_tui.cli\n"
        "print(sorted(m for m in ('sqlmodel', 'sqlalchemy', 'pydantic', 'textual', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_predict_unknown_run_exits_2(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    write_fake_run(catalog, "alpha", seed=0)
    (tmp_path / "photo.png").write_bytes(b"not read")
    proc = synthsign("predict", "5", "photo.png", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no run 5 in runs.db: runs there include 1" in proc.stderr and "Traceback" not in proc.stderr


def test_the_evaluate_stage_imports_no_catalog():
    code = (
        "import sys, synthsign_tui.engine.stages.evaluate\n"
        "print(sorted(m for m in ('sqlmodel', 'sqlalchemy', 'accelerate', 'synthsign_tui.engine.runner') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_runs_table_at_80_columns_keeps_names_whole(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    long_name = "road-signs-quick-colour-jitter-0.3"
    write_fake_run(catalog, long_name, seed=0)
    early = write_fake_run(catalog, "gen-only", seed=1)
    catalog.update_run(early, stage="generate")
    out = synthsign("runs", cwd=tmp_path, columns=80).stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    cells = "".join(line.split("│")[2].strip() for line in out.splitlines() if line.count("│") > 3)
    assert long_name in cells  # wrapped over lines, never cut to "road-signs…"
    assert "done (generate)" in out
    assert "created" not in out  # the least important column went first
