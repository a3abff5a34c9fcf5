"""Exports read from a real catalog: config keys as columns, step losses, atomic files."""

import csv
import json

from fakes import T0, fake_config, write_fake_run

from synthsign_tui.app.export import export_run, export_table
from synthsign_tui.catalog import Catalog


def make_catalog(tmp_path):
    catalog = Catalog(tmp_path / "runs.db")
    a = write_fake_run(catalog, "alpha", seed=0, config=fake_config("alpha", 0, train__lr=0.01))
    b = write_fake_run(catalog, "beta", seed=1, start=T0 + 60, config=fake_config("beta", 1, train__lr=0.002))
    return catalog, a, b


def test_table_csv_has_a_column_per_config_key(tmp_path):
    catalog, a, b = make_catalog(tmp_path)
    path = tmp_path / "runs.csv"
    assert export_table(catalog, path) == 2
    rows = {int(r["id"]): r for r in csv.DictReader(path.open())}
    assert float(rows[a]["config.train.lr"]) == 0.01 and float(rows[b]["config.train.lr"]) == 0.002
    assert rows[a]["config.seed"] == "0" and rows[b]["config.generator.kind"] == "procedural"
    assert rows[a]["config.data.classes[0].name"] == "stop"
    assert not list(tmp_path.glob("*.tmp*"))


def test_table_json_carries_the_config(tmp_path):
    catalog, a, _ = make_catalog(tmp_path)
    path = tmp_path / "runs.json"
    export_table(catalog, path)
    rows = {r["id"]: r for r in json.loads(path.read_text())}
    assert rows[a]["config"]["train"]["lr"] == 0.01


def test_run_exports_include_step_losses(tmp_path):
    catalog, a, _ = make_catalog(tmp_path)
    steps = catalog.steps(a)
    export_run(catalog, a, tmp_path / "run.json")
    data = json.loads((tmp_path / "run.json").read_text())
    assert [s["loss"] for s in data["steps"]] == [s.loss for s in steps] and steps
    export_run(catalog, a, tmp_path / "run.csv")
    rows = list(csv.DictReader((tmp_path / "run.csv").open()))
    step_rows = [r for r in rows if r["section"] == "step"]
    assert [float(r["loss"]) for r in step_rows] == [s.loss for s in steps]
    assert {"epoch", "step"} <= {r["section"] for r in rows}
