"""What the command line needs from the catalog before (or instead of) opening it: its path, whether a run
exists, and where a run's folder is.

Plain `sqlite3` (standard library), read-only, no schema upgrade: these answer in milliseconds where
importing SQLModel takes about 0.4 s, so `synthsign open RUN_ID` refuses an unknown id at once and
`synthsign predict` reads only its checkpoint.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

DEFAULT_DB = "runs.db"


def default_db_path() -> Path:
    return Path(os.environ.get("SYNTHSIGN_DB") or DEFAULT_DB)


def run_ids_near(path: Path, run_id: int) -> tuple[bool, list[int]]:
    """(whether run `run_id` is in the catalog file, up to 5 of its newest run ids); (False, []) without one."""
    if not Path(path).is_file():
        return False, []
    try:
        with sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=5) as conn:
            found = conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None
            newest = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id DESC LIMIT 5")]
    except sqlite3.Error:
        return False, []
    return found, newest


def run_dir_of(path: Path, run_id: int) -> str | None:
    """The folder of run `run_id` as the catalog recorded it; None when there is no such run (or catalog)."""
    if not Path(path).is_file():
        return None
    try:
        with sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT run_dir FROM runs WHERE id = ?", (run_id,)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None
