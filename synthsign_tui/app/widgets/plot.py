"""Braille line plots (plotext) of metric curves."""

from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass
class Line:
    label: str
    xs: list[float]
    ys: list[float]
    color: str | int  # a colour name or a plotext colour number


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
