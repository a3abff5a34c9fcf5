"""The terminal dashboard. `run_app` is its one entry point; importing this package stays light (no torch)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synthsign_tui.config import RunConfig


def run_app(
    db_path: Path,
    runs_dir: Path | None = None,
    *,
    form_config: RunConfig | None = None,
    launch: RunConfig | None = None,
    image_mode: str = "auto",
    open_run: int | None = None,
) -> int:
    """Open the dashboard on a catalog file; return the exit code.

    `form_config` opens the New-run form filled in from it; `launch` starts that run at once and shows it;
    `open_run` opens that run's screen at once; `image_mode` forces how thumbnails are drawn: auto (detect), halfblock (works everywhere) or graphics.
    """
    image_mode = resolve_image_mode(image_mode)
    if image_mode != "halfblock":
        # textual-image asks the terminal for its cell size when imported, which it cannot once Textual runs
        import textual_image.widget  # noqa: F401

    from synthsign_tui.app.app import SynthSignApp

    app = SynthSignApp(
        Path(db_path),
        runs_dir,
        form_config=form_config,
        launch=launch,
        image_mode=image_mode,
        open_run=open_run,
    )
    app.run()
    return app.return_code or 0


def resolve_image_mode(mode: str, environ: Mapping[str, str] | None = None) -> str:
    """`auto` inside tmux or screen is half-blocks: what textual-image would pick there after a slow probe."""
    environ = os.environ if environ is None else environ
    if mode == "auto" and (environ.get("TMUX") or environ.get("TERM", "").startswith(("screen", "tmux"))):
        return "halfblock"
    return mode


__all__ = ["resolve_image_mode", "run_app"]
