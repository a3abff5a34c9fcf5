"""The run catalog on a real SQLite file: schema versions, headline values, concurrency."""

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from synthsign_tui.catalog import SCHEMA_VERSION, Catalog
from synthsign_tui.config import load_config
from synthsign_tui.errors import SynthSignError


@pytest.fixture
def config():
    return load_config(preset="road-signs-offline")


def test_new_catalog_uses_wal_and_current_schema(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    assert catalog.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(tmp_path / "runs.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_run_row_records_config_and_headline_values(tmp_path, config):
    catalog = Catalog(tmp_path / "runs.db")
    run = catalog.create_run(config, command="synthsign run")
    assert run.run_dir == str((tmp_path / "runs" / str(run.id)).resolve())
    assert run.config == config.to_dict()
    assert (run.generator_kind, run.images_per_class, run.status) == (
        "procedural",
        config.data.images_per_class,
        "queued",
    )
    catalog.add_epoch(run.id, 0, val_acc=0.5, val_loss=0.7)
    catalog.add_epoch(run.id, 1, train_loss=0.4, val_acc=0.9)
    catalog.add_epoch(run.id, 2, train_loss=0.3, val_acc=0.8)
    catalog.add_epoch(run.id, 2, train_loss=0.2, val_acc=0.85)  # resumed epoch replaces its row
    run = catalog.get_run(run.id)
    assert (run.before_val_acc, run.val_acc, run.best_val_acc, run.epochs_done) == (0.5, 0.85, 0.9, 2)
    assert [e.epoch for e in catalog.epochs(run.id)] == [0, 1, 2]
    result = {"name": "real", "checkpoint": "best", "accuracy": 0.75, "balanced_accuracy": 0.7,
              "classes": ["stop", "warning"], "confusion_matrix": [[3, 1], [0, 4]]}  # fmt: skip
    preds = [{"path": "a.png", "label": "stop", "predicted": "warning", "confidence": 0.6,
              "probabilities": {"stop": 0.4, "warning": 0.6}}]  # fmt: skip
    catalog.add_evaluation(run.id, result, preds, primary=True)
    catalog.add_evaluation(run.id, result, preds, primary=True)  # re-evaluating replaces, never duplicates
    run = catalog.get_run(run.id)
    assert run.real_bal_acc == 0.7 and run.gap == pytest.approx(0.85 - 0.7)
    details = catalog.run_details(run.id)
    assert len(details["evaluations"]) == 1 and details["predictions"][0]["correct"] is False
    assert details["evaluations"][0]["confusion_matrix"] == [[3, 1], [0, 4]]


def test_stale_running_runs_become_interrupted(tmp_path, config):
    catalog = Catalog(tmp_path / "runs.db")
    alive = catalog.create_run(config)
    dead = catalog.create_run(config)
    now = time.time()
    catalog.update_run(alive.id, status="running", heartbeat_at=now)
    catalog.update_run(dead.id, status="running", heartbeat_at=now - 600)
    assert catalog.get_run(dead.id).display_status() == "interrupted"
    assert catalog.mark_interrupted() == [dead.id]
    assert catalog.get_run(alive.id).status == "running"
    assert catalog.get_run(dead.id).status == "interrupted"


def test_older_catalog_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # a v1 catalog: no tags, notes, archived, settings
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, status VARCHAR NOT NULL, "
                   "config_json VARCHAR NOT NULL, created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL)")  # fmt: skip
        db.execute("INSERT INTO runs VALUES (1, 'old run', 'done', '{}', 1.0, 1.0)")
        db.execute("PRAGMA user_version = 1")
    catalog = Catalog(path)
    assert catalog.schema_version() == SCHEMA_VERSION
    run = catalog.get_run(1)
    assert (run.name, run.status, run.tags, run.archived) == ("old run", "done", "", False)
    catalog.set_tags(1, ["kept"])
    catalog.set_setting("sort", "name")
    assert catalog.get_run(1).tag_list == ["kept"] and catalog.get_setting("sort") == "name"
    assert Catalog(path).get_run(1).tag_list == ["kept"]  # reopening is a no-op


def test_newer_catalog_gives_a_clear_error(tmp_path):
    path = tmp_path / "new.db"
    Catalog(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(SynthSignError, match="newer SynthSign.*v99.*upgrade synthsign_tui"):
        Catalog(path)


WRITER = textwrap.dedent(
    """
    import sys
    from synthsign_tui.catalog import Catalog
    from synthsign_tui.config import load_config
    catalog = Catalog(sys.argv[1])
    run = catalog.create_run(load_config())
    for i in range(int(sys.argv[2])):
        catalog.add_epoch(run.id, i, train_loss=1.0 / (i + 1), val_acc=i / 1000)
        catalog.add_steps(run.id, [{"epoch": i, "step": i, "loss": 0.5}])
    print("ok")
    """
)
READER = textwrap.dedent(
    """
    import sys, time
    from synthsign_tui.catalog import Catalog
    catalog = Catalog(sys.argv[1])
    seen, deadline = 0, time.time() + 60
    while time.time() < deadline:
        runs = catalog.list_runs(order_by="val_acc")
        seen = max(seen, sum(r.epochs_done for r in runs))
        if seen >= int(sys.argv[2]):
            break
        time.sleep(0.005)
    print(seen)
    """
)


def test_concurrent_writers_and_reader_never_see_locked(tmp_path, config):
    path = tmp_path / "runs.db"
    catalog = Catalog(path)
    n = 150
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(3 * (n - 1))], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    run = catalog.create_run(config)
    errors = []

    def thread_writer():
        try:
            for i in range(n):
                catalog.add_epoch(run.id, i, train_loss=0.1, val_acc=0.5)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    t = threading.Thread(target=thread_writer)
    t.start()
    t.join()
    outs = [w.communicate(timeout=120) for w in writers]
    reader_out, reader_err = reader.communicate(timeout=120)
    assert not errors
    for w, (out, err) in zip(writers, outs, strict=True):
        assert w.returncode == 0 and out.strip() == "ok" and "locked" not in err, err
    assert reader.returncode == 0 and "locked" not in reader_err, reader_err
    assert int(reader_out) == 3 * (n - 1)
    assert sum(len(catalog.epochs(r.id)) for r in catalog.list_runs()) == 3 * n


def test_list_queries_use_indexes_on_a_large_catalog(tmp_path, config):
    catalog = Catalog(tmp_path / "runs.db")
    row = json.dumps(config.to_dict())
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO runs (name, status, config_json, created_at, updated_at, versions_json, tags, notes, archived,"
            " progress_done, progress_total, gen_images, epochs_done, val_acc, real_bal_acc) VALUES "
            "(?, 'done', ?, ?, ?, '{}', '', '', 0, 0, 0, 0, 0, ?, ?)",
            [(f"run {i}", row, float(i), float(i), (i % 97) / 97, (i % 89) / 89) for i in range(10_000)],
        )
    plans = {}
    with catalog.engine.connect() as conn:
        for column in ("created_at", "real_bal_acc", "val_acc"):
            sql = f"EXPLAIN QUERY PLAN SELECT * FROM runs WHERE archived = 0 ORDER BY {column} DESC LIMIT 100"
            plans[column] = " ".join(r[3] for r in conn.exec_driver_sql(sql))
        sql = "EXPLAIN QUERY PLAN SELECT * FROM runs WHERE status = 'done'"
        plans["status"] = " ".join(r[3] for r in conn.exec_driver_sql(sql))
    for column, plan in plans.items():
        assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, (column, plan)
    runs = catalog.list_runs(order_by="real_bal_acc", limit=5)
    assert [r.real_bal_acc for r in runs] == sorted((r.real_bal_acc for r in runs), reverse=True)
    assert runs[0].real_bal_acc == pytest.approx(88 / 89)


def test_a_catalog_with_json_kept_in_text_columns_still_reads(tmp_path, config):
    """Catalogs written before the JSON column type declare the *_json columns VARCHAR and hold json.dumps text;
    they read as the same values and the same `show --json` shape."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect
    from sqlalchemy.schema import CreateTable
    from sqlmodel import SQLModel

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        for table in SQLModel.metadata.sorted_tables:
            ddl = str(CreateTable(table).compile(dialect=sqlite_dialect.dialect()))
            conn.execute(ddl.replace(" JSON ", " VARCHAR "))
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(
            "INSERT INTO runs (id, name, status, config_json, created_at, updated_at, versions_json, tags, notes,"
            " archived, progress_done, progress_total, gen_images, epochs_done) VALUES"
            " (1, 'old', 'done', ?, 1.0, 2.0, ?, '', '', 0, 0, 0, 0, 0)",
            (json.dumps(config.to_dict(), sort_keys=True), json.dumps({"torch": "2.4.0"})),
        )
        conn.execute(
            "INSERT INTO evaluations (id, run_id, name, checkpoint, mode, n_images, n_skipped, skipped_json,"
            " classes_json, per_class_json, confusion_json, created_at) VALUES"
            " (1, 1, 'real', 'best', 'single', 2, 1, ?, ?, ?, ?, 3.0)",
            (
                json.dumps([{"path": "x.png", "reason": "OSError: broken"}]),
                json.dumps(["warning", "stop"]),
                json.dumps({"warning": {"recall": 1.0, "support": 1}, "stop": {"recall": 0.0, "support": 1}}),
                json.dumps([[1, 0], [1, 0]]),
            ),
        )
        conn.execute(
            "INSERT INTO predictions (evaluation_id, run_id, path, label, predicted, confidence, correct,"
            " probabilities_json) VALUES (1, 1, 'a.png', 'stop', 'warning', 0.7, 0, ?)",
            (json.dumps({"warning": 0.7, "stop": 0.3}),),
        )
    catalog = Catalog(path)
    (evaluation,) = catalog.evaluations(1)
    assert evaluation.classes == ["warning", "stop"] and evaluation.confusion_matrix == [[1, 0], [1, 0]]
    assert list(evaluation.per_class) == ["warning", "stop"]  # the order as written, not sorted
    details = catalog.run_details(1)
    assert details["versions"] == {"torch": "2.4.0"} and details["config"] == config.to_dict()
    assert details["evaluations"][0]["skipped"] == [{"path": "x.png", "reason": "OSError: broken"}]
    assert details["predictions"] == [
        {"evaluation": "real", "path": "a.png", "label": "stop", "predicted": "warning", "confidence": 0.7,
         "correct": False, "probabilities": {"warning": 0.7, "stop": 0.3}, "box": None, "boxes": None}
    ]  # fmt: skip
    catalog.add_evaluation(1, {"name": "extra", "checkpoint": "best", "classes": ["stop"], "per_class": {}})
    with sqlite3.connect(path) as conn:  # new rows in the old file are text like the old ones
        kinds = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(evaluations)")}
        assert kinds["classes_json"] == "VARCHAR"
        stored = conn.execute(
            "SELECT classes_json, typeof(classes_json) FROM evaluations WHERE name = 'extra'"
        )
        assert stored.fetchone() == ('["stop"]', "text")


def test_predictions_keep_their_boxes_and_a_v2_catalog_gains_the_column(tmp_path, config):
    path = tmp_path / "v2.db"
    catalog = Catalog(path)
    run = catalog.create_run(config)
    result = {"name": "real", "checkpoint": "best", "path": "assets/real", "mode": "whole-photo+flip",
              "accuracy": 1.0, "balanced_accuracy": 1.0, "n_images": 2, "per_class": {}, "classes": ["stop", "warning"],
              "confusion_matrix": [[1, 0], [0, 1]]}  # fmt: skip
    whole = {"path": "whole.png", "label": "stop", "predicted": "stop", "confidence": 0.9,
             "probabilities": {"stop": 0.9, "warning": 0.1}}  # fmt: skip
    catalog.add_evaluation(run.id, result, [whole])
    with sqlite3.connect(path) as db:  # what a v2 catalog looked like: no boxes column
        db.execute("ALTER TABLE predictions DROP COLUMN boxes_json")
        db.execute("PRAGMA user_version = 2")
    catalog = Catalog(path)
    assert catalog.schema_version() == SCHEMA_VERSION == 4
    (old,) = catalog.run_details(run.id)["predictions"]
    assert old["boxes"] is None and old["box"] is None
    boxes = [{"bbox": [10.0, 20.0, 30.0, 28.5], "score": 0.8, "predicted": "stop", "chosen": True},
             {"bbox": [200.0, 5.0, 12.0, 12.0], "score": 0.1, "predicted": "warning", "chosen": False}]  # fmt: skip
    catalog.add_evaluation(run.id, {**result, "name": "more"}, [{**whole, "boxes": boxes}])
    found = {p["evaluation"]: p for p in Catalog(path).run_details(run.id)["predictions"]}
    assert found["more"]["boxes"] == boxes and found["more"]["box"] == [10.0, 20.0, 30.0, 28.5]
