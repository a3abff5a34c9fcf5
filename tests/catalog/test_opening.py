"""Opening catalogs: files that are not catalogs are refused untouched, damaged ones give a recovery message,
read-only ones are read without a write, odd names are taken literally, v1 catalogs get the list indexes."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from sqlmodel import SQLModel
from test_catalog import config  # noqa: F401 (fixture)

from synthsign_tui.catalog import APPLICATION_ID, Catalog, CatalogError


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def catalog_with_a_run(path, config):  # noqa: F811
    catalog = Catalog(path)
    catalog.create_run(config, command="synthsign run")
    catalog.engine.dispose()
    return path


def test_a_folder_or_a_missing_folder_is_named(tmp_path):
    with pytest.raises(CatalogError, match="is a folder: name the catalog file, e.g. --db"):
        Catalog(tmp_path)
    with pytest.raises(CatalogError, match="folder .* does not exist"):
        Catalog(tmp_path / "nowhere" / "runs.db")


def test_files_that_are_not_catalogs_are_left_untouched(tmp_path):
    (tmp_path / "notes.db").write_text("my notes\n" * 100)
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE contacts (name TEXT)")
    with sqlite3.connect(tmp_path / "tagged.db") as db:
        db.execute("PRAGMA application_id = 7")
        db.execute("CREATE TABLE runs (id INTEGER, config_json TEXT)")
    before = {name: digest(tmp_path / name) for name in ("notes.db", "other.db", "tagged.db")}
    with pytest.raises(CatalogError, match="is not a SQLite database .* left untouched"):
        Catalog(tmp_path / "notes.db")
    with pytest.raises(
        CatalogError, match=r"not a SynthSign catalog \(application id 0x0, tables: contacts\)"
    ):
        Catalog(tmp_path / "other.db")
    with pytest.raises(CatalogError, match=r"not a SynthSign catalog \(application id 0x7\)"):
        Catalog(tmp_path / "tagged.db")
    assert {name: digest(tmp_path / name) for name in before} == before
    with sqlite3.connect(tmp_path / "other.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # never switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db", "other.db", "tagged.db"]


def test_new_and_empty_files_become_catalogs_with_the_id(tmp_path):
    (tmp_path / "empty.db").touch()
    for name in ("empty.db", "new.db"):
        Catalog(tmp_path / name).engine.dispose()
        with sqlite3.connect(tmp_path / name) as db:
            assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


@pytest.mark.parametrize("damage", ["truncated", "garbled", "header only"])
def test_damaged_catalogs_say_how_to_recover(tmp_path, config, damage):  # noqa: F811
    path = catalog_with_a_run(tmp_path / "runs.db", config)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 3]
    elif damage == "garbled":
        data[200:] = bytes((b * 7 + 13) % 256 for b in data[200:])
    else:
        data = data[:60]
    path.write_bytes(bytes(data))
    with pytest.raises(CatalogError) as info:
        Catalog(path).list_runs()
    message = str(info.value)
    assert ("damaged" in message or "cut short" in message) and ".recover | sqlite3 recovered.db" in message


def test_a_deleted_wal_file_is_noticed_not_silently_dropped(tmp_path):
    writer = textwrap.dedent(
        f"""
        import os
        from synthsign_tui.catalog import Catalog
        from synthsign_tui.config import load_config
        catalog = Catalog({str(tmp_path / "runs.db")!r})
        with catalog.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
        catalog.create_run(load_config(preset="road-signs-offline"))
        os._exit(0)  # killed: the run lives only in the -wal file
        """
    )
    subprocess.run([sys.executable, "-c", writer], check=True)
    (tmp_path / "runs.db-wal").unlink()
    with pytest.raises(CatalogError, match="has lost its -wal file .* delete .*runs.db-shm"):
        Catalog(tmp_path / "runs.db")


def test_a_name_with_uri_characters_is_a_file_of_that_name(tmp_path, config):  # noqa: F811
    for name in ("my?cat.db", "a#b%20c.db", "sp ace.db"):
        catalog = Catalog(tmp_path / name)
        catalog.create_run(config)
        assert len(Catalog(tmp_path / name).list_runs()) == 1
        catalog.engine.dispose()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == [
        "a#b%20c.db", "my?cat.db", "sp ace.db",
    ]  # fmt: skip


def test_read_only_catalogs_are_read_without_a_write(tmp_path, config):  # noqa: F811
    path = catalog_with_a_run(tmp_path / "runs.db", config)
    before = digest(path)
    reader = Catalog(path, read_only=True)
    assert reader.read_only and [r.id for r in reader.list_runs()] == [1]
    with pytest.raises(CatalogError, match="is read-only .* recording needs write access"):
        reader.create_run(config)
    reader.engine.dispose()
    Catalog(path).engine.dispose()  # an up-to-date catalog is opened without a write too
    assert digest(path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write any file")
def test_a_file_without_write_permission_is_opened_read_only(tmp_path, config):  # noqa: F811
    path = catalog_with_a_run(tmp_path / "runs.db", config)
    path.chmod(0o444)
    catalog = Catalog(path)
    assert catalog.read_only and len(catalog.list_runs()) == 1


def test_a_v1_catalog_gets_every_index(tmp_path):
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as db:  # v1: the runs table as it was, with its simple indexes only
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, status VARCHAR NOT NULL, "
                   "config_json VARCHAR NOT NULL, created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL)")  # fmt: skip
        db.execute("CREATE INDEX ix_runs_name ON runs (name)")
        db.execute("INSERT INTO runs VALUES (1, 'old run', 'done', '{}', 1.0, 1.0)")
        db.execute("PRAGMA user_version = 1")
    catalog = Catalog(path)
    with sqlite3.connect(path) as db:
        present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE archived = 0 ORDER BY created_at DESC"
        ).fetchall()
    wanted = {ix.name for table in SQLModel.metadata.sorted_tables for ix in table.indexes}
    assert wanted <= present and "ix_runs_archived_created_at" in str(plan)
    assert catalog.get_run(1).name == "old run"


def test_a_catalog_in_a_read_only_folder_is_read_immutable(tmp_path, config, monkeypatch):  # noqa: F811
    path = catalog_with_a_run(tmp_path / "runs.db", config)
    before = digest(path)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    catalog = Catalog(path)  # as a user without write access to the file or its folder (root can write all)
    assert catalog.read_only and [r.id for r in catalog.list_runs()] == [1]
    with catalog.engine.connect() as conn:  # no -shm could be made there: SQLite reads the file as it is
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
    catalog.engine.dispose()
    assert digest(path) == before and not (tmp_path / "runs.db-shm").exists()
