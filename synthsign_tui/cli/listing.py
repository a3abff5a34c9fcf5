"""The catalog commands of `synthsign`: presets, runs, show, compare, evaluate and predict."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path
from typing import Any

from rich.columns import Columns
from rich.markup import escape
from rich.text import Text

from synthsign_tui.catalog import Catalog
from synthsign_tui.cli.output import Table, console, err_console, pct
from synthsign_tui.config import flatten, list_presets, load_config
from synthsign_tui.errors import SynthSignError


def cmd_presets() -> int:
    from synthsign_tui.engine.readiness import notes

    table = Table("preset", "description", "on this machine")
    for name, description in list_presets().items():
        needs = notes(load_config(preset=name))
        table.add_row(name, description, "\n".join(f"! {n}" for n in needs) or "ready")
    console.print(table)
    console.print("Use one with `synthsign run --preset NAME` or start a TOML file from it.")
    return 0


def cmd_runs(catalog: Catalog, as_json: bool, filter_text: str, include_archived: bool) -> int:
    catalog.mark_interrupted()
    if filter_text:
        from synthsign_tui.catalog.query import statement

        with catalog.session() as session:
            runs = list(session.scalars(statement(filter_text, include_archived=include_archived)).all())
    else:
        runs = catalog.list_runs(include_archived=include_archived)
    rows = [catalog.run_summary(r) for r in runs]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows and filter_text:
        console.print(f"No runs in {catalog.path} match {filter_text!r}.", highlight=False, markup=False)
        return 0
    if not rows:
        console.print(
            f"No runs in {catalog.path} yet. Start one: `synthsign run --preset road-signs-offline`",
            markup=False,
        )
        return 0
    table = Table(
        "id", "name", "status", "generator", "images", "epochs", "val acc", "real bal acc", "gap", "created"
    )
    for r in rows:
        table.add_row(
            str(r["id"]), r["name"], _status(r["status"]), r["model"] or "", str(r["images"]), str(r["epochs_done"]),
            pct(r["val_acc"]), pct(r["real_balanced_acc"]), pct(r["gap"]), (r["created_at"] or "")[:16],
        )  # fmt: skip
    console.print(table)
    return 0


STATUS_COLOURS = {
    "done": "green",
    "running": "cyan",
    "failed": "red",
    "cancelled": "yellow",
    "interrupted": "magenta",
}


def _status(status: str) -> Text:
    return Text(status, style=STATUS_COLOURS.get(status, "white"))


def cmd_show(catalog: Catalog, run_id: int, as_json: bool) -> int:
    details = catalog.run_details(run_id)
    if as_json:
        print(json.dumps(details, indent=2))
        return 0
    d = details
    title = Text.assemble(
        (f"run {d['id']}", "bold"), f" {d['name']}  ", _status(d["status"]), f"  {d['run_dir']}"
    )
    console.print(title, highlight=False)
    if d["error"]:
        console.print(Text(d["error"], style="red"), highlight=False)
    gen = d["generation"]
    rate = f" at {gen['images_per_s']:.1f} images/s" if gen["images_per_s"] else ""
    console.print(
        f"generator {d['generator']} ({d['model']}): {gen['images']} images{rate}; device {d['device']}",
        markup=False,
    )
    console.print(
        f"synthetic val accuracy {pct(d['before_val_acc'])} before -> {pct(d['val_acc'])} after; "
        f"real balanced accuracy {pct(d['before_real_balanced_acc'])} -> {pct(d['real_balanced_acc'])}; "
        f"gap {pct(d['gap'])}",
        highlight=False,
    )
    if d["epochs"]:
        table = Table("epoch", "train loss", "train acc", "val loss", "val acc", "s", "img/s", title="epochs")
        for e in d["epochs"]:
            table.add_row(
                str(e["epoch"]),
                *(
                    _num(e[k])
                    for k in ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "images_per_s")
                ),
            )
        console.print(table)
    if d["evaluations"]:
        table = Table("dataset", "checkpoint", "mode", "images", "skipped", "accuracy", "balanced", "ECE",
                      title="evaluations")  # fmt: skip
        for ev in d["evaluations"]:
            table.add_row(ev["name"], ev["checkpoint"], ev["mode"], str(ev["n_images"]), str(ev["n_skipped"]),
                          pct(ev["accuracy"]), pct(ev["balanced_accuracy"]), _num(ev["ece"]))  # fmt: skip
        console.print(table)
    for ev in d["evaluations"]:
        if ev["checkpoint"] == "before" or not ev["per_class"]:
            continue
        per_class = Table("class", "precision", "recall", "f1", "support")
        for cls, m in ev["per_class"].items():
            per_class.add_row(
                cls, *(_num(m.get(k)) for k in ("precision", "recall", "f1")), str(m.get("support", ""))
            )
        confusion = Table("true \\ predicted", *ev["classes"])
        for cls, row in zip(ev["classes"], ev["confusion_matrix"], strict=False):
            confusion.add_row(cls, *(str(v) for v in row))
        console.print(f"\n[bold]{escape(ev['name'])}[/] ({ev['checkpoint']} checkpoint)", highlight=False)
        console.print(Columns([per_class, confusion]))
    if d["predictions"]:
        table = Table(
            "evaluation", "file", "true", "predicted", "confidence", "", title="real-photo predictions"
        )
        for p in d["predictions"]:
            mark = "" if p["correct"] is None else (Text("✓", "green") if p["correct"] else Text("✗", "red"))
            table.add_row(
                p["evaluation"],
                Path(p["path"]).name,
                p["label"] or "?",
                p["predicted"],
                f"{p['confidence']:.2f}",
                mark,
            )
        console.print(table)
    return 0


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


HEADLINE = ("status", "images", "epochs_done", "before_val_acc", "val_acc", "before_real_balanced_acc", "real_acc",
            "real_balanced_acc", "gap", "duration_s")  # fmt: skip


def compare_data(catalog: Catalog, run_ids: list[int]) -> dict[str, Any]:
    runs = [catalog.require_run(i) for i in run_ids]
    flat = [flatten(r.config) for r in runs]
    keys = sorted(set().union(*flat))
    differences = {k: [f.get(k) for f in flat] for k in keys if len({json.dumps(f.get(k)) for f in flat}) > 1}
    summaries = [catalog.run_summary(r) for r in runs]
    return {
        "runs": [{"id": s["id"], "name": s["name"]} for s in summaries],
        "differences": differences,
        "metrics": {k: [s[k] for s in summaries] for k in HEADLINE},
    }


def cmd_compare(catalog: Catalog, run_ids: list[int], as_json: bool) -> int:
    if len(run_ids) < 2:
        raise SynthSignError("compare needs at least two run ids, e.g. `synthsign compare 3 4`")
    data = compare_data(catalog, run_ids)
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    headers = [f"{r['id']} {r['name']}" for r in data["runs"]]
    table = Table("config key", *headers, title=f"{len(data['differences'])} config keys differ")
    for key, values in data["differences"].items():
        table.add_row(key, *(json.dumps(v) for v in values))
    console.print(table)
    table = Table("metric", *headers, title="metrics")
    for key, values in data["metrics"].items():
        table.add_row(key, *(_num(v) for v in values))
    console.print(table)
    return 0


def cmd_evaluate(
    catalog: Catalog, run_id: int, reals: list[str], as_json: bool, replace: bool = False
) -> int:
    from synthsign_tui.engine import evaluate_run

    folders = {}
    for item in reals:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise SynthSignError(f"--real {item!r}: expected NAME=DIR, e.g. --real lisa=photos/lisa")
        if not Path(folder).is_dir():
            raise SynthSignError(f"--real {item!r}: {folder} is not a folder")
        folders[name] = Path(folder)
    from synthsign_tui.engine import Cancelled
    from synthsign_tui.engine.stopping import STOP_SIGNALS, run_stoppably

    cancel, signals = threading.Event(), []

    def on_signal(signum: int) -> None:
        signals.append(signum)
        err_console.print(f"{signal.Signals(signum).name}: stopping the evaluation at the next image")

    try:
        results = run_stoppably(
            lambda: evaluate_run(catalog, run_id, folders, replace=replace, cancel=cancel), cancel, on_signal
        ).result
    except Cancelled:
        with contextlib.suppress(OSError):
            err_console.print("evaluation stopped; the folder being evaluated was not recorded")
        return STOP_SIGNALS[signals[0]] if signals else STOP_SIGNALS[signal.SIGINT]
    if as_json:
        print(json.dumps(results, indent=2))
        return 0
    table = Table("name", "images", "skipped", "accuracy", "balanced", "ECE", "mode")
    for r in results:
        table.add_row(
            r["name"],
            str(r["n_images"]),
            str(r["n_skipped"]),
            pct(r["accuracy"]),
            pct(r["balanced_accuracy"]),
            _num(r["ece"]),
            r["mode"],
        )
    console.print(table)
    return 0


def cmd_predict(catalog: Catalog, run_id: int, paths: list[Path], as_json: bool) -> int:
    from synthsign_tui.engine import predict_paths

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise SynthSignError(f"no such file or folder: {', '.join(missing)}")
    run = catalog.require_run(run_id)
    predictions = predict_paths(Path(run.run_dir), paths)
    if as_json:
        print(json.dumps(predictions, indent=2))
        return 0
    table = Table("file", "predicted", "confidence", "probabilities")
    for p in predictions:
        if p["predicted"] is None:
            table.add_row(
                Text(p["path"]), Text("skipped", style="yellow"), "", Text(p["skipped"], style="yellow")
            )
            continue
        probs = "  ".join(f"{k} {v:.2f}" for k, v in p["probabilities"].items())
        table.add_row(Text(p["path"]), Text(p["predicted"]), f"{p['confidence']:.2f}", Text(probs))
    console.print(table)
    skipped = sum(p["predicted"] is None for p in predictions)
    if skipped:
        console.print(f"{skipped} of {len(predictions)} file(s) skipped (reasons above)", highlight=False)
    return 0
