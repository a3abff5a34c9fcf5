"""Widgets of the run and compare screens: plots, stage progress, thumbnails, system panel, result tables."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, ProgressBar, Static
from textual_plotext import PlotextPlot

from synthsign_tui.app import format as fmt


@dataclass
class Line:
    label: str
    xs: list[float]
    ys: list[float]
    color: str


class MetricPlot(PlotextPlot):
    """A braille line plot redrawn from a list of `Line`s."""

    def __init__(
        self, title: str, xlabel: str = "", ylim: tuple[float, float] | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.title, self.xlabel, self.ylim = title, xlabel, ylim
        self.log_y = False
        self.lines: list[Line] = []

    def on_mount(self) -> None:
        super().on_mount()
        self.draw()

    def show(self, lines: list[Line], log_y: bool | None = None) -> None:
        self.lines = lines
        if log_y is not None:
            self.log_y = log_y
        self.draw()

    def draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        drawn = [line for line in self.lines if line.xs]
        title = self.title + (" (log)" if self.log_y else "")
        plt.title(title if drawn else f"{title}: no data yet")
        plt.xlabel(self.xlabel)
        for line in drawn:
            ys = [max(y, 1e-6) for y in line.ys] if self.log_y else line.ys
            marker = "braille" if len(line.xs) > 1 else "dot"
            plt.plot(line.xs, ys, label=line.label, color=line.color, marker=marker)
        if self.log_y and drawn:
            plt.yscale("log")
        elif self.ylim is not None:
            plt.ylim(*self.ylim)
        self.refresh()


STAGES = ("generate", "train", "evaluate")
UNITS = {"generate": "img", "train": "step", "evaluate": "img"}


class StageProgress(Widget):
    """One progress bar per stage, with counts, rate and ETA."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown: dict[str, tuple[int, int, str]] = {}

    def compose(self) -> ComposeResult:
        for stage in STAGES:
            with Horizontal(classes="stage-row"):
                yield Label(stage, classes="stage-name")
                yield ProgressBar(total=1, show_eta=False, id=f"bar-{stage}")
                yield Static("waiting", id=f"detail-{stage}", classes="stage-detail")

    def set_stage(self, stage: str, done: int, total: int, detail: str) -> None:
        """Show a stage's progress; unchanged values cost nothing, changed ones no layout pass."""
        if stage not in STAGES or self._shown.get(stage) == (done, total, detail):
            return
        self._shown[stage] = (done, total, detail)
        bar = self.query_one(f"#bar-{stage}", ProgressBar)
        bar.update(total=max(total, 1), progress=min(done, max(total, 1)))
        self.query_one(f"#detail-{stage}", Static).update(detail, layout=False)


def progress_detail(done: int, total: int, rate: float | None, eta: float | None, stage: str) -> str:
    if not total and not done:
        return "starting…"
    parts = [f"{done:,}/{total:,}" if total else f"{done:,}"]
    if rate:
        parts.append(f"{rate:.1f} {UNITS.get(stage, 'it')}/s")
    if eta is not None and done < total:
        parts.append(f"ETA {fmt.duration(eta)}")
    return " · ".join(parts)


def image_class(mode: str):
    """The textual-image widget for a mode: auto (detect), halfblock (works everywhere) or graphics."""
    from textual_image import widget

    if mode == "halfblock":
        return widget.HalfcellImage
    if mode == "graphics":
        from textual_image.renderable import Image as AutoRenderable
        from textual_image.renderable.sixel import Image as SixelRenderable

        return widget.SixelImage if AutoRenderable is SixelRenderable else widget.TGPImage
    return widget.Image


class Thumbnails(Grid):
    """The newest generated images with their class and prompt."""

    def __init__(self, mode: str, slots: int = 6, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mode, self.slots = mode, slots

    def compose(self) -> ComposeResult:
        image = image_class(self.mode)
        for i in range(self.slots):
            with Vertical(classes="thumb", id=f"thumb-{i}"):
                yield image(id=f"thumb-image-{i}", classes="thumb-image")
                yield Static("", id=f"thumb-caption-{i}", classes="thumb-caption")

    def show(self, samples: list) -> None:
        for i in range(self.slots):
            box = self.query_one(f"#thumb-{i}")
            if i >= len(samples):
                box.display = False
                continue
            sample = samples[i]
            box.display = True
            image = self.query_one(f"#thumb-image-{i}")
            caption = self.query_one(f"#thumb-caption-{i}", Static)
            path = Path(sample.path)
            image.image = str(path) if path.is_file() else None
            text = Text(sample.label, style="bold")
            text.append(" " + (sample.prompt or path.name), style="dim")
            caption.update(text)


def confusion_table(classes: list[str], matrix: list[list[int]]) -> Table:
    """Rows: true class; columns: predicted class; the diagonal in green; recall per row."""
    table = Table(
        title="Confusion matrix (rows: true, columns: predicted)", title_justify="left", expand=False
    )
    table.add_column("true \\ pred", style="bold")
    for name in classes:
        table.add_column(name, justify="right")
    table.add_column("recall", justify="right")
    for i, name in enumerate(classes):
        row = matrix[i] if i < len(matrix) else []
        cells = []
        for j, count in enumerate(row):
            style = "bold green" if i == j else ("red" if count else "dim")
            cells.append(Text(str(count), style=style))
        total = sum(row)
        recall = row[i] / total if total and i < len(row) else None
        table.add_row(name, *cells, fmt.pct(recall))
    return table


def probability_bars(probabilities: dict[str, float], width: int = 20) -> Text:
    text = Text()
    best = max(probabilities.values(), default=0)
    name_width = max((len(k) for k in probabilities), default=0)
    for name, p in sorted(probabilities.items(), key=lambda kv: -kv[1]):
        filled = int(round(p * width))
        style = "bold green" if p == best else "cyan"
        text.append(f"{name:<{name_width}} ")
        text.append("█" * filled, style=style)
        text.append("░" * (width - filled), style="dim")
        text.append(f" {p:6.1%}\n")
    return text


class SystemPanel(Static):
    """CPU and memory (psutil), GPU utilisation and memory where there is one; sampled off the UI thread."""

    def __init__(self, live: bool = True, **kwargs) -> None:
        super().__init__("system: …", **kwargs)
        self.live = live

    def on_mount(self) -> None:
        if not self.live:
            self.update("[b]system[/b]\nCPU –\nmemory –\nGPU –")
            return
        self.sample()
        self.set_interval(3.0, self.sample)

    @work(thread=True, exclusive=True, group="system", exit_on_error=False)
    def sample(self) -> None:
        import psutil

        cpu = psutil.cpu_percent(interval=None)
        mem = psutil.virtual_memory()
        lines = [
            "[b]system[/b]",
            f"CPU {cpu:4.0f}% of {psutil.cpu_count()} cores",
            f"memory {mem.used / 2**30:.1f}/{mem.total / 2**30:.1f} GiB",
            gpu_line(),
        ]
        self.app.call_from_thread(self.update, "\n".join(lines), layout=False)


def gpu_line() -> str:
    """nvidia-smi when present (utilisation and memory), else torch's own counters if torch is loaded."""
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=2,
            )  # fmt: skip
            util, used, total = (float(v) for v in out.stdout.splitlines()[0].split(","))
            return f"GPU {util:.0f}% · {used / 1024:.1f}/{total / 1024:.1f} GiB"
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            pass
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                used = torch.cuda.memory_allocated() / 2**30
                total = torch.cuda.get_device_properties(0).total_memory / 2**30
                return f"GPU {used:.1f}/{total:.1f} GiB (torch)"
        except Exception:  # a broken CUDA setup must not break the panel
            return "GPU unavailable"
    return "GPU none"
