"""The engine: runs a recorded run's stages (generate, train, evaluate) and reports progress as events.

`runner` starts, resumes and executes runs; `context` is what a stage sees; `processes` launches and joins
several processes; `stages/` are the three stages; `model/` the classifier, images and checkpoints;
`generators/` the procedural renderer and the diffusion pipelines. It never imports a front end.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synthsign_tui.engine.context import Cancelled, Distributed, Event, RunContext
    from synthsign_tui.engine.runner import (
        check_resumable,
        create_run,
        evaluate_run,
        execute,
        predict_paths,
        resume_run,
        start_run,
    )

# loaded on first use (PEP 562): `synthsign predict` imports the evaluate stage without the runner and catalog
_HOMES = {
    **dict.fromkeys(("Cancelled", "Distributed", "Event", "RunContext"), "synthsign_tui.engine.context"),
    **dict.fromkeys(
        (
            "check_resumable",
            "create_run",
            "evaluate_run",
            "execute",
            "predict_paths",
            "resume_run",
            "start_run",
        ),
        "synthsign_tui.engine.runner",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "Cancelled", "Distributed", "Event", "RunContext", "check_resumable", "create_run", "evaluate_run", "execute",
    "predict_paths", "resume_run", "start_run",
]  # fmt: skip
