"""The `synthsign` command: the dashboard with no arguments, and headless subcommands for scripts and SSH.

Bad input prints a message saying what was wrong and how to fix it, and exits 2 (no traceback); a run that
fails while running exits 1. A run stopped by SIGINT (Ctrl-C), SIGTERM or SIGHUP is marked cancelled
(resumable) and the command exits 130, 143 or 129 (`engine.stopping`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rich.markup import escape

from synthsign_tui import __version__
from synthsign_tui.catalog.light import default_db_path, run_ids_near
from synthsign_tui.catalog.opening import probe
from synthsign_tui.cli.output import console, err_console, pct
from synthsign_tui.errors import SynthSignError

if TYPE_CHECKING:
    from synthsign_tui.catalog import Catalog
    from synthsign_tui.config import RunConfig

# The catalog (SQLModel), the config (pydantic) and the listing commands load inside the commands that use
# them: the dashboard's first frame and `synthsign --help` wait for none of them.

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141, as a shell reports a tool stopped by SIGPIPE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        err_console.print(
            f"[red]error:[/] {escape(_cut(message))}\nRun `{self.prog} --help` for the options."
        )
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
    sp.set_defaults(func=_run)
    sp = sub.add_parser("resume", help="continue a cancelled, failed or interrupted run")
    sp.add_argument("run_id", type=int)
    sp.add_argument("--until", choices=["generate", "train", "evaluate"], help="stop after this stage")
    sp.set_defaults(func=lambda args: _headless(args, None, resume=args.run_id, until=args.until))
    sp = sub.add_parser(
        "cancel", help="stop a running run cleanly (it stays resumable), wherever it was started"
    )
    sp.add_argument("run_id", type=int)
    sp.set_defaults(func=lambda args: cmd_cancel(_catalog(args), args.run_id))
    sp = sub.add_parser("runs", help="list the runs in the catalog")
    sp.add_argument("--json", action="store_true", help="print a JSON list")
    sp.add_argument("--filter", default="", help="e.g. 'real_acc>0.9 generator=procedural status:done'")
    sp.add_argument("--all", action="store_true", help="include archived runs")
    sp.set_defaults(func=_runs)
    sp = sub.add_parser("show", help="a run's config, metrics and predictions")
    sp.add_argument("run_id", type=int)
    sp.add_argument("--json", action="store_true", help="print a JSON object")
    sp.set_defaults(func=_show)
    sp = sub.add_parser("compare", help="config differences and metrics of runs side by side")
    sp.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")
    sp.add_argument("--json", action="store_true", help="print a JSON object")
    sp.set_defaults(func=_compare)
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
    sp.set_defaults(func=_evaluate)
    sp = sub.add_parser("predict", help="classify images (files or folders) with a run's best checkpoint")
    sp.add_argument("run_id", type=int)
    sp.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    sp.add_argument("--json", action="store_true", help="print a JSON list")
    sp.add_argument("--whole-photo", choices=["auto", "on", "off"], default=None,
                    help="find the sign first (on), classify crops only (off), or per photo by its size "
                    "(auto); default: the run's evaluate.whole_photo")  # fmt: skip
    sp.set_defaults(func=_predict)
    sp = sub.add_parser("new", help="open the dashboard on the new-run form, pre-filled")
    config_args(sp)
    sp.set_defaults(func=lambda args: _dashboard(args, form_config=_config(args)))
    sub.add_parser("presets", help="list the built-in presets").set_defaults(func=_presets)
    sp = sub.add_parser("demo", help="the offline preset: in the dashboard on a terminal, else headless")
    sp.set_defaults(func=_demo)
    sub.add_parser("dashboard", help="open the dashboard (the default)").set_defaults(func=_dashboard)
    sp = sub.add_parser("open", help="open the dashboard on one run")
    sp.add_argument("run_id", type=int)
    sp.set_defaults(func=cmd_open)
    p.set_defaults(func=_dashboard)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except SynthSignError as exc:
        with contextlib.suppress(OSError):  # after a hang-up there is no terminal to tell
            err_console.print(f"[red]error:[/] {escape(_cut(str(exc)))}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _reader_went_away()


def _cut(message: str, limit: int = 4000) -> str:
    """A last guard for the terminal: messages cut their values short, but never print megabytes."""
    return message if len(message) <= limit else message[:limit] + f"… ({len(message):,} characters)"


def _reader_went_away() -> int:
    """stdout went to a pipe whose reader closed (`synthsign runs --json | head -1`): stop quietly like other
    Unix tools. stdout is pointed at /dev/null so that Python's final flush does not complain again."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def _catalog(args) -> Catalog:
    from synthsign_tui.catalog import Catalog

    return Catalog(args.db or default_db_path(), args.runs_dir)


def cmd_open(args: argparse.Namespace) -> int:
    """`open RUN_ID`: the dashboard straight on that run's screen; an unknown id exits 2 before any UI."""
    db = args.db or default_db_path()
    found, newest = run_ids_near(db, args.run_id)
    if not found:
        hint = (
            f"runs there include {', '.join(map(str, newest))}; `synthsign runs` lists them all"
            if newest
            else "it has no runs yet (or is not a catalog): check --db, or start one with `synthsign run --preset road-signs-quick`"
        )
        raise SynthSignError(f"no run {args.run_id} in {db}: {hint}")
    return _dashboard(args, open_run=args.run_id)


# The handlers below import the listing commands and the config inside: `synthsign --help`, `open` and the
# dashboard load neither.


def _config(args: argparse.Namespace) -> RunConfig:
    from synthsign_tui.config import load_config

    return load_config(args.config, args.preset, args.overrides, args.name)


def _run(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.processes != 1 or args.detach:
        return cmd_launch(_catalog(args), config, args.processes, args.until, args.detach)
    return _headless(args, config, until=args.until, command=_command_line())


def _demo(args: argparse.Namespace) -> int:
    from synthsign_tui.config import load_config

    config = load_config(preset="road-signs-offline")
    if sys.stdout.isatty() and sys.stdin.isatty():
        return _dashboard(args, launch=config)
    return _headless(args, config, command=_command_line())


def _presets(_args: argparse.Namespace) -> int:
    from synthsign_tui.cli.listing import cmd_presets

    return cmd_presets()


def _runs(args: argparse.Namespace) -> int:
    from synthsign_tui.cli.listing import cmd_runs

    return cmd_runs(_catalog(args), args.json, args.filter, args.all)


def _show(args: argparse.Namespace) -> int:
    from synthsign_tui.cli.listing import cmd_show

    return cmd_show(_catalog(args), args.run_id, args.json)


def _compare(args: argparse.Namespace) -> int:
    from synthsign_tui.cli.listing import cmd_compare

    return cmd_compare(_catalog(args), args.run_ids, args.json)


def _evaluate(args: argparse.Namespace) -> int:
    from synthsign_tui.cli.listing import cmd_evaluate

    return cmd_evaluate(_catalog(args), args.run_id, args.real, args.json, args.replace)


def _predict(args: argparse.Namespace) -> int:
    from synthsign_tui.cli.listing import cmd_predict

    return cmd_predict(args.db or default_db_path(), args.run_id, args.paths, args.json, args.whole_photo)


def _command_line() -> str:
    return " ".join(["synthsign", *sys.argv[1:]])


def _dashboard(args, **kwargs: Any) -> int:
    from synthsign_tui.app import run_app

    db = args.db or default_db_path()
    probe(Path(db))  # a folder, a foreign or damaged file: said here with exit 2, before the screen is taken
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
        assert launch is not None  # a handle that launched holds its launch
        console.print(
            f"run [bold]{launch.run_id}[/] started in the background ({processes} process(es) on {devices}, "
            f"pid {launch.process.pid}); log {launch.log_path}\nfollow it with `synthsign show {launch.run_id}` "
            f"or the dashboard; stop it with `synthsign cancel {launch.run_id}`",
            highlight=False,
        )
        return 0
    from synthsign_tui.engine.stopping import STOP_SIGNALS, install_stop_handlers, restore_handlers

    run_id, command = dist.prepare_launch(config, catalog, processes, devices, until=until)
    # its own session: a terminal's Ctrl-C or hang-up reaches only this process, which hands the signal on once
    process = subprocess.Popen(command, env=dist.launch_environment(devices), start_new_session=True)
    dist.record_launcher(catalog.require_run(run_id).folder, process.pid)  # whom `synthsign cancel` signals
    signals: list[int] = []

    def on_signal(signum: int, count: int) -> None:
        if count > 1:  # a second signal: stop every process of the launch at once
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            os._exit(STOP_SIGNALS[signals[0]])
        signals.append(signum)
        with contextlib.suppress(OSError):
            err_console.print(
                f"{signal.Signals(signum).name}: cancelling run {run_id} (send it again to stop at once)"
            )
        dist.stop_launch(process, signum)

    previous = install_stop_handlers(on_signal)
    try:
        while process.poll() is None:
            time.sleep(0.2)
    finally:
        restore_handlers(previous)
    status = catalog.require_run(run_id).status
    if status == "cancelled":
        return STOP_SIGNALS[signals[0]] if signals else EXIT_INTERRUPTED
    return 0 if status == "done" else process.returncode or EXIT_FAILED


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
    """Run (or resume) in a worker thread so that Ctrl-C, SIGTERM and SIGHUP cancel it cleanly between items
    (`engine.stopping`); exits 130, 143 or 129 after such a stop.

    With several processes (`dist`), the main process records the run and alone prints.
    """
    from synthsign_tui import engine

    dist = dist or engine.Distributed()
    cancel = threading.Event()

    from synthsign_tui.engine.stopping import run_stoppably

    say = dist.is_main
    opened: list[int] = []

    def open_run() -> int:
        if resume is None:
            return engine.create_run(config, catalog, command=command, until=until).id
        catalog.mark_interrupted()
        existing = catalog.require_run(resume)
        engine.check_resumable(existing)
        return existing.id

    def work() -> None:
        run = catalog.require_run(dist.on_main(open_run))
        opened.append(run.id)
        # a queued run was recorded (or queued again to resume) by a launcher: it resumes if it ever started
        resumed = resume is not None and (run.status != "queued" or run.started_at is not None)
        if say:
            console.print(
                f"run [bold]{run.id}[/] ({escape(run.name)}) in {escape(str(run.folder))}", highlight=False
            )
        engine.execute(
            run.id, catalog, on_event=reporter, cancel=cancel, until=until, resumed=resumed, dist=dist
        )

    def on_signal(signum: int) -> None:
        if say:
            which = f"run {opened[0]}" if opened else "the run"
            err_console.print(
                f"{signal.Signals(signum).name}: cancelling {which} at the next image or batch "
                "(send it again to stop at once)"
            )

    # the stop signals are handled from before the run is recorded, so none can leave it queued
    with _Reporter() if say else contextlib.nullcontext() as reporter:
        stopped = run_stoppably(work, cancel, on_signal)
    run = catalog.require_run(opened[0])
    final = catalog.require_run(run.id)
    if not say:
        return {"done": 0, "cancelled": stopped.exit_code}.get(final.status, EXIT_FAILED)
    if final.status == "done":
        summary = f"run {run.id} done in {final.duration_s or 0:.0f}s: {run.run_dir}"
        if final.real_bal_acc is not None:
            summary += f"\nreal-photo balanced accuracy {final.real_bal_acc:.1%} (before training {pct(final.before_real_bal_acc)})"
        console.print(summary, highlight=False)
        return 0
    if final.status == "cancelled":
        err_console.print(f"run {run.id} cancelled; continue it with `synthsign resume {run.id}`")
        return stopped.exit_code
    err_console.print(
        f"[red]run {run.id} {final.status}:[/] {final.error}\ncontinue it with `synthsign resume {run.id}`",
        highlight=False,
    )
    return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
