"""One progress bar per stage, with counts, rate and ETA."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, ProgressBar, Static

from synthsign_tui import display as fmt
from synthsign_tui.vocab import STAGE_UNITS, STAGES


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
        parts.append(f"{rate:.1f} {STAGE_UNITS.get(stage, 'it')}/s")
    if eta is not None and done < total:
        parts.append(f"ETA {fmt.duration(eta)}")
    return " · ".join(parts)
