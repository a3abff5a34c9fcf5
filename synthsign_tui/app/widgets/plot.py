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
    marker: str | None = None  # None: braille lines (a dot for a single point); "dot" for a dotted series


def outlier_ceiling(values: list[float]) -> float | None:
    """A y limit that keeps the bulk of `values` readable when a few lie far above it, else None.

    Above the 95th percentile plus 3 times the 5th-95th spread counts as far off (one early val-loss
    spike of 56 among losses under 2 would otherwise flatten every other point into the bottom row).
    """
    if len(values) < 5:
        return None
    ordered = sorted(values)
    low, high = ordered[int(0.05 * (len(ordered) - 1))], ordered[int(0.95 * (len(ordered) - 1))]
    ceiling = high + 3 * max(high - low, abs(high) * 0.1, 1e-9)
    return ceiling if ordered[-1] > ceiling else None


class MetricPlot(PlotextPlot):
    """A braille line plot redrawn from a list of `Line`s."""

    def __init__(
        self, title: str, xlabel: str = "", ylim: tuple[float, float] | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.title, self.xlabel, self.ylim = title, xlabel, ylim
        self.log_y = False
        self.lines: list[Line] = []
        self.clipped = 0  # points drawn at the top because they lie far above the rest

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
        ceiling = None
        if not self.log_y and self.ylim is None:
            ceiling = outlier_ceiling([y for line in drawn for y in line.ys])
        self.clipped = 0
        for line in drawn:
            ys = [max(y, 1e-6) for y in line.ys] if self.log_y else line.ys
            if ceiling is not None:
                over = [(x, ceiling) for x, y in zip(line.xs, ys, strict=True) if y > ceiling]
                ys = [min(y, ceiling) for y in ys]
                self.clipped += len(over)
            marker = line.marker or ("braille" if len(line.xs) > 1 else "dot")
            plt.plot(line.xs, ys, label=line.label, color=line.color, marker=marker)
            if (
                ceiling is not None and over
            ):  # the points off the top, drawn on it as ▲ in their line's colour
                plt.scatter([x for x, _ in over], [y for _, y in over], color=line.color, marker="▲")
        if ceiling is not None:
            title += f" · {self.clipped} point(s) above {ceiling:.3g} shown as ▲ (l: log scale)"
        plt.title(title if drawn else f"{title}: no data yet")
        plt.xlabel(self.xlabel)
        if self.log_y and drawn:
            plt.yscale("log")
        elif self.ylim is not None:
            plt.ylim(*self.ylim)
        self.refresh()
