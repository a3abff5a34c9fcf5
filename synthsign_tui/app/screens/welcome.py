"""The welcome shown on an empty catalog: what SynthSign does, the presets on keys 1-9, and what this machine
has for them (read in a worker: `readiness` runs nvidia-smi and looks in caches)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

WELCOME = """[b]Welcome to SynthSign[/b]

Train an image classifier on [i]synthetic[/i] images (drawn procedurally, or made by a diffusion model from \
your prompts) and measure how well it transfers to [i]real[/i] photos; every run stays in this catalog.

[b]Start here:[/b] press [reverse] 1 [/reverse] for {first}, then [reverse] ctrl+s [/reverse] launches it and \
you watch it live. Keys [reverse] 1 [/reverse]-[reverse] {last} [/reverse] open these presets:
"""
WELCOME_ORDER = ("road-signs-quick", "road-signs-offline", "road-signs-zimage")  # the first is "start here"


def welcome_presets() -> list[tuple[str, str]]:
    """(name, description) of every preset, the quickest first: the welcome screen's keys 1-9."""
    from synthsign_tui.config import list_presets

    presets = list_presets()
    names = [n for n in WELCOME_ORDER if n in presets] + sorted(n for n in presets if n not in WELCOME_ORDER)
    return [(name, presets[name]) for name in names][:9]


def welcome_text(presets: list[tuple[str, str]] | None, facts: dict[str, Any] | None, runs_dir: str) -> Group:
    """The empty catalog's guide; `facts` (from a worker) adds what each preset needs and the real folder."""
    presets = presets or []
    first = f"[b cyan]{presets[0][0]}[/]" if presets else "a preset"
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for i, (name, about) in enumerate(presets, 1):
        needs = None if facts is None else facts["notes"].get(name, [])
        state = "[dim]checking…[/]" if needs is None else "[green]✓ ready here[/]" if not needs else ""
        grid.add_row(f"[reverse] {i} [/]", f"[b cyan]{name}[/]", Text.from_markup(f"{about}  {state}"))
        for note in needs or []:
            # one line each (the full text is in the form's readiness check): 80x24 keeps the rest in view
            line = Text.from_markup(f"[yellow]! {escape(note)}[/]", overflow="ellipsis")
            line.no_wrap = True
            grid.add_row("", "", line)
    real = escape(facts["real"]) if facts else "…"
    end = (
        f"\nRun folders (images, checkpoints, logs): [b]{escape(runs_dir)}/[/b]. Real photos: {real}; for your "
        "own, set evaluate.real_dir in the form to a folder with one sub-folder per class. From a shell, "
        "[b]synthsign run --preset NAME[/b] runs without the dashboard; its run shows up here live.\n\n"
        "[reverse] n [/reverse] form from the quick preset   [reverse] ? [/reverse] every key   "
        "[reverse] q [/reverse] quit"
    )
    intro = WELCOME.format(first=first, last=max(len(presets), 1))
    return Group(Text.from_markup(intro), grid, Text.from_markup(end))


def welcome_facts(presets: list[tuple[str, str]]) -> dict[str, Any]:
    """What each preset lacks on this machine, and the default real folder; disk and nvidia-smi: for a worker."""
    from synthsign_tui.config import load_config, resolve_path
    from synthsign_tui.engine import readiness
    from synthsign_tui.files import is_image

    configs = {name: load_config(preset=name) for name, _ in presets}
    notes = {name: readiness.notes(config) for name, config in configs.items()}
    real = "none"
    if configs:
        folder = next(iter(configs.values())).evaluate.real_dir
        root = resolve_path(folder)
        photos = sum(1 for p in root.rglob("*") if is_image(p)) if root.is_dir() else 0
        real = f"{folder} ({photos} photos)" if photos else f"{folder} (missing: set evaluate.real_dir)"
    return {"notes": notes, "real": real}
