"""Widgets of the run and compare screens: plots, stage progress, thumbnails, system panel, result tables."""

from synthsign_tui.app.widgets.images import Thumbnails, image_class, preview
from synthsign_tui.app.widgets.plot import Line, MetricPlot
from synthsign_tui.app.widgets.progress import StageProgress, progress_detail
from synthsign_tui.app.widgets.results import confusion_table, probability_bars
from synthsign_tui.app.widgets.system import SystemPanel, gpu_line

__all__ = [
    "Line", "MetricPlot", "StageProgress", "SystemPanel", "Thumbnails", "confusion_table", "gpu_line", "image_class",
    "preview", "probability_bars", "progress_detail",
]  # fmt: skip
