"""The `synthsign` command: the dashboard with no arguments, and headless subcommands for scripts and SSH.

Bad input prints a message saying what was wrong and how to fix it, and exits 2 (no traceback). A run
interrupted with Ctrl-C is marked cancelled (resumable) and the command exits 130.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.columns import Columns
from rich.console import Console
from rich.table import Table

from synthsign_tui import __version__
from synthsign_tui.catalog import Catalog, default_db_path
from synthsign_tui.config import flatten, list_presets, load_config
from synthsign_tui.errors import SynthSignError

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
console = Console()
err_console = Console(stderr=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        err_console.print(f"[red]error:[/] {message}\nRun `{self.prog} --help` for the options.")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="synthsign", description="Train image classifiers on synthetic data; watch runs live.")
    p.add_argument("--version", action="version", version=f"synthsign {__version__}")
    p.add_argument("--db", type=Path, help="catalog file (default: $SYNTHSIGN_DB or ./runs.db)")
    p.add_argument("--runs-dir", type=Path, help="run folders (default: runs/ beside the catalog)")
    p.add_argument("--images", choices=["auto", "halfblock", "graphics"], default=os.environ.get(
        "SYNTHSIGN_IMAGES", "auto"), help="how the dashboard draws images (default: auto-detect)")  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def config_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("config", nargs="?", type=Path, help="a run config (TOML)")
        sp.add_argument("--preset", help="start from a preset (see `synthsign presets`)")
        sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set data.images_per_class=20 (repeatable)")  # fmt: skip
        sp.add_argument("--name", help="run name")

    sp = sub.add_parser("run", help="run a config headless with a progress bar")
    config_args(sp)
    sp.add_argument("--until", choices=["generate", "train", "evaluate"], help="stop after this stage")
    sp.add_argument("--processes", type=int, default=1, metavar="N",
                    help="run in N processes (accelerate launch; one per GPU, else on the CPU)")  # fmt: skip
    sp.add_argument("--detach", action="store_true", help="start the run in the background and return")
    sp = sub.add_parser("resume", help="continue a cancelled, failed or interrupted run")
    sp.add_argument("run_id", type=int)
    sp.add_argument("--until", choices=["generate", "train", "evaluate"], help="stop after this stage")
    sp = sub.add_parser(
        "cancel", help="stop a running run cleanly (it stays resumable), wherever it was started"
    )
    sp.add_argument("run_id", type=int)
    sp = sub.add_parser("runs", help="list the runs in the catalog")
    sp.add_argument("--json", action="store_true", help="print a JSON list")
    sp.add_argument("--filter", default="", help="e.g. 'real_acc>0.9 generator=procedural status:done'")
    sp.add_argument("--all", action="store_true", help="include archived runs")
    sp = sub.add_parser("show", help="a run's config, metrics and predictions")
    sp.add_argument("run_id", type=int)
    sp.add_argument("--json", action="store_true", help="print a JSON object")
    sp = sub.add_parser("compare", help="config differences and metrics of runs side by side")
    sp.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")
    sp.add_argument("--json", action="store_true", help="print a JSON object")
    sp = sub.add_parser("evaluate", help="evaluate a finished run on more real-photo folders")
    sp.add_argument("run_id", type=int)
    sp.add_argument(
        "--real", action="append", required=True, metavar="NAME=DIR", help="a folder (repeatable)"
    )
    sp.add_argument("--json", action="store_true", help="print the evaluations as JSON")
    sp.add_argument(
        "--replace",
        action="store_true",
        help="overwrite an earlier evaluation of the same name (never the run's own)",
    )
    sp = sub.add_parser("predict", help="classify images (files or folders) with a run's best checkpoint")
    sp.add_argument("run_id", type=int)
    sp.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    sp.add_argument("--json", action="store_true", help="print a JSON list")
    sp = sub.add_parser("new", help="open the dashboard on the new-run form, pre-filled")
    config_args(sp)
    sub.add_parser("presets", help="list the built-in presets")
    sub.add_parser("demo", help="the offline preset: in the dashboard on a terminal, else headless")
    sub.add_parser("dashboard", help="open the dashboard (the default)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return _dispatch(args)
    except SynthSignError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _catalog(args) -> Catalog:
    return Catalog(args.db or default_db_path(), args.runs_dir)


def _dispatch(args) -> int:
    command = args.command or "dashboard"
    if command == "presets":
        return cmd_presets()
    if command in ("run", "new"):
        config = load_config(args.config, args.preset, args.overrides, args.name)
        if command == "new":
            return _dashboard(args, form_config=config)
        if args.processes != 1 or args.detach:
            return cmd_launch(_catalog(args), config, args.processes, args.until, args.detach)
        return _headless(args, config, until=args.until, command=_command_line())
    if command == "demo":
        config = load_config(preset="road-signs-offline")
        if sys.stdout.isatty() and sys.stdin.isatty():
            return _dashboard(args, launch=config)
        return _headless(args, config, command=_command_line())
    if command == "dashboard":
        return _dashboard(args)
    if command == "resume":
        return _headless(args, None, resume=args.run_id, until=args.until)
    catalog = _catalog(args)
    if command == "cancel":
        return cmd_cancel(catalog, args.run_id)
    if command == "runs":
        return cmd_runs(catalog, args.json, args.filter, args.all)
    if command == "show":
        return cmd_show(catalog, args.run_id, args.json)
    if command == "compare":
        return cmd_compare(catalog, args.run_ids, args.json)
    if command == "evaluate":
        return cmd_evaluate(catalog, args.run_id, args.real, args.json, args.replace)
    if command == "predict":
        return cmd_predict(catalog, args.run_id, args.paths, args.json)
    raise SynthSignError(f"unknown command {command!r}")


def _command_line() -> str:
    return " ".join(["synthsign", *sys.argv[1:]])


def _dashboard(args, **kwargs: Any) -> int:
    from synthsign_tui.app import run_app

    db = args.db or default_db_path()
    return run_app(db, args.runs_dir, image_mode=args.images, **kwargs)


# ---------------------------------------------------------------------- headless runs


def _headless(args, config, **kwargs: Any) -> int:
    """run_headless in this process, which may be one of the processes of an `accelerate launch`."""
    from synthsign_tui.engine.processes import current

    dist = current()

    def open_catalog() -> None:
        _catalog(args)  # the main process creates or upgrades the file before the others open it

    if dist.num_processes > 1:
        dist.on_main(open_catalog)
    return run_headless(_catalog(args), config, dist=dist, **kwargs)


def cmd_launch(catalog: Catalog, config, processes: int, until: str | None, detach: bool) -> int:
    """`run --processes N [--detach]`: record the run, then start `accelerate launch` on it."""
    import subprocess

    from synthsign_tui.engine import processes as dist
    from synthsign_tui.engine.handle import RunHandle, launch_devices

    if dist.launched_processes() > 1:
        raise SynthSignError(
            "--processes starts its own `accelerate launch`; under a launch already, drop --processes and --detach"
        )
    devices = launch_devices()
    if detach:
        handle = RunHandle.launch_new(config, catalog, processes=processes, devices=devices, until=until)
        launch = handle.launch
        console.print(
            f"run [bold]{launch.run_id}[/] started in the background ({processes} process(es) on {devices}, "
            f"pid {launch.process.pid}); log {launch.log_path}\nfollow it with `synthsign show {launch.run_id}` "
            f"or the dashboard; stop it with `synthsign cancel {launch.run_id}`",
            highlight=False,
        )
        return 0
    run_id, command = dist.prepare_launch(config, catalog, processes, devices, until=until)
    process = subprocess.Popen(command, env=dist.launch_environment(devices))
    dist.record_launcher(Path(catalog.require_run(run_id).run_dir), process.pid)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # the launched processes got it too: they cancel the run and exit
            err_console.print(f"cancelling run {run_id}...")


def cmd_cancel(catalog: Catalog, run_id: int) -> int:
    """`cancel RUN_ID`: what `x` does in the dashboard, for a run started anywhere on this machine."""
    from synthsign_tui.engine.handle import RunHandle

    handle = RunHandle.attach(catalog, run_id)
    status = handle.status()
    if status not in ("running", "queued"):
        raise SynthSignError(f"run {run_id} is {status}, not running: nothing to cancel")
    if not handle.cancel():
        raise SynthSignError(
            f"run {run_id}'s process (pid {handle.run().pid}, host {handle.run().host}) cannot be reached from "
            "here: cancel it on its machine"
        )
    console.print(
        f"run {run_id} cancelling: it stops after its current item; `synthsign resume {run_id}` continues it"
    )
    return 0


class _Reporter:
    """Shows engine events: a rich progress bar on a terminal, plain throttled lines otherwise."""

    def __init__(self) -> None:
        self.live = console.is_terminal
        self._tasks: dict[str, Any] = {}
        self._last_line = 0.0
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("[bold]{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[msg]}"),
                console=console, transient=False,
            )  # fmt: skip

    def __enter__(self):
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live:
            self.progress.stop()

    def __call__(self, event) -> None:
        if event.kind == "progress":
            rate = f"{event.rate:.1f} it/s" if event.rate else ""
            if self.live:
                task = self._tasks.get(event.stage)
                if task is None:
                    task = self._tasks[event.stage] = self.progress.add_task(
                        event.stage, total=event.total, rate="", msg=""
                    )
                self.progress.update(
                    task, completed=event.done, total=event.total, rate=rate, msg=event.message[:50]
                )
            elif time.time() - self._last_line > 2 or event.done >= event.total:
                self._last_line = time.time()
                eta = f" ETA {event.eta:.0f}s" if event.eta else ""
                print(f"[{event.stage}] {event.done}/{event.total} {rate}{eta} {event.message}", flush=True)
        elif event.kind == "log":
            (self.progress.console if self.live else console).print(
                event.message, highlight=False, markup=False
            )


def run_headless(
    catalog: Catalog, config, *, resume: int | None = None, until: str | None = None, command=None, dist=None
) -> int:
    """Run (or resume) in a worker thread so Ctrl-C and SIGTERM can cancel cleanly between items.

    With several processes (`dist`), the main process records the run and alone prints.
    """
    from synthsign_tui import engine
    from synthsign_tui.engine.handle import RunHandle

    dist = dist or engine.Distributed()

    def open_run() -> int:
        if resume is None:
            return engine.create_run(config, catalog, command=command, until=until).id
        catalog.mark_interrupted()
        existing = catalog.require_run(resume)
        engine.check_resumable(existing)
        return existing.id

    run = catalog.require_run(dist.on_main(open_run))
    # a queued run was recorded (or queued again to resume) by a launcher: it resumes if it ever started
    resumed = resume is not None and (run.status != "queued" or run.started_at is not None)
    say = dist.is_main
    if say:
        console.print(f"run [bold]{run.id}[/] ({run.name}) in {run.run_dir}", highlight=False)
    handle: RunHandle | None = None
    previous = signal.signal(signal.SIGTERM, lambda *_: handle and handle.cancel())
    interrupted = False
    with _Reporter() if say else contextlib.nullcontext() as reporter:
        handle = RunHandle.start(catalog, run.id, on_event=reporter, until=until, resumed=resumed, dist=dist)
        while True:
            try:
                if handle.join(0.2):
                    break
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
                handle.cancel()
                if say:
                    err_console.print("cancelling at the next image or batch (Ctrl-C again to stop at once)")
    signal.signal(signal.SIGTERM, previous)
    if handle.error is not None:
        raise handle.error
    final = catalog.require_run(run.id)
    if not say:
        return {"done": 0, "cancelled": EXIT_INTERRUPTED}.get(final.status, EXIT_FAILED)
    if final.status == "done":
        summary = f"run {run.id} done in {final.duration_s or 0:.0f}s: {run.run_dir}"
        if final.real_bal_acc is not None:
            summary += f"\nreal-photo balanced accuracy {final.real_bal_acc:.1%} (before training {_pct(final.before_real_bal_acc)})"
        console.print(summary, highlight=False)
        return 0
    if final.status == "cancelled":
        err_console.print(f"run {run.id} cancelled; continue it with `synthsign resume {run.id}`")
        return EXIT_INTERRUPTED
    err_console.print(
        f"[red]run {run.id} {final.status}:[/] {final.error}\ncontinue it with `synthsign resume {run.id}`",
        highlight=False,
    )
    return EXIT_FAILED


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


# ---------------------------------------------------------------------- catalog commands


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
        console.print(f"No runs in {catalog.path} match {filter_text!r}.", highlight=False)
        return 0
    if not rows:
        console.print(
            f"No runs in {catalog.path} yet. Start one: `synthsign run --preset road-signs-offline`"
        )
        return 0
    table = Table(
        "id", "name", "status", "generator", "images", "epochs", "val acc", "real bal acc", "gap", "created"
    )
    for r in rows:
        table.add_row(
            str(r["id"]), r["name"], _status(r["status"]), r["model"] or "", str(r["images"]), str(r["epochs_done"]),
            _pct(r["val_acc"]), _pct(r["real_balanced_acc"]), _pct(r["gap"]), (r["created_at"] or "")[:16],
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


def _status(status: str) -> str:
    return f"[{STATUS_COLOURS.get(status, 'white')}]{status}[/]"


def cmd_show(catalog: Catalog, run_id: int, as_json: bool) -> int:
    details = catalog.run_details(run_id)
    if as_json:
        print(json.dumps(details, indent=2))
        return 0
    d = details
    console.print(
        f"[bold]run {d['id']}[/] {d['name']}  {_status(d['status'])}  {d['run_dir']}", highlight=False
    )
    if d["error"]:
        console.print(f"[red]{d['error']}[/]", highlight=False)
    gen = d["generation"]
    rate = f" at {gen['images_per_s']:.1f} images/s" if gen["images_per_s"] else ""
    console.print(
        f"generator {d['generator']} ({d['model']}): {gen['images']} images{rate}; device {d['device']}"
    )
    console.print(
        f"synthetic val accuracy {_pct(d['before_val_acc'])} before -> {_pct(d['val_acc'])} after; "
        f"real balanced accuracy {_pct(d['before_real_balanced_acc'])} -> {_pct(d['real_balanced_acc'])}; "
        f"gap {_pct(d['gap'])}",
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
                          _pct(ev["accuracy"]), _pct(ev["balanced_accuracy"]), _num(ev["ece"]))  # fmt: skip
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
        console.print(f"\n[bold]{ev['name']}[/] ({ev['checkpoint']} checkpoint)", highlight=False)
        console.print(Columns([per_class, confusion]))
    if d["predictions"]:
        table = Table(
            "evaluation", "file", "true", "predicted", "confidence", "", title="real-photo predictions"
        )
        for p in d["predictions"]:
            mark = "" if p["correct"] is None else ("[green]✓[/]" if p["correct"] else "[red]✗[/]")
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
    results = evaluate_run(catalog, run_id, folders, replace=replace)
    if as_json:
        print(json.dumps(results, indent=2))
        return 0
    table = Table("name", "images", "skipped", "accuracy", "balanced", "ECE", "mode")
    for r in results:
        table.add_row(
            r["name"],
            str(r["n_images"]),
            str(r["n_skipped"]),
            _pct(r["accuracy"]),
            _pct(r["balanced_accuracy"]),
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
        probs = "  ".join(f"{k} {v:.2f}" for k, v in p["probabilities"].items())
        table.add_row(str(p["path"]), p["predicted"], f"{p['confidence']:.2f}", probs)
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
