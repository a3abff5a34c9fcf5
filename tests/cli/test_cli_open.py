"""`synthsign open RUN_ID` refuses unknown ids before any UI, and the command's entry stays light."""

import os
import subprocess
import sys

from fakes import write_fake_run

from synthsign_tui.catalog import Catalog


def synthsign(*args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SYNTHSIGN_DB": "", "COLUMNS": "300"}
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
