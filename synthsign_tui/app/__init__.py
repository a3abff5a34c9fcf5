"""The terminal dashboard. `run_app` is its one entry point; importing this package stays light (no torch)."""

from __future__ import annotations

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
) -> int:
    """Open the dashboard on a catalog file; return the exit code.

    `form_config` opens the New-run form filled in from it; `launch` starts that run at once and shows it;
    `image_mode` forces how thumbnails are drawn: auto (detect), halfblock (works everywhere) or graphics.
    """
    # textual-image asks the terminal for its cell size when imported, which it cannot once Textual runs
    import textual_image.widget  # noqa: F401

    from synthsign_tui.app.app import SynthSignApp

    app = SynthSignApp(Path(db_path), runs_dir, form_config=form_config, launch=launch, image_mode=image_mode)
    app.run()
    return app.return_code or 0


__all__ = ["run_app"]
