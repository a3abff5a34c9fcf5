"""The engine: runs a recorded run's stages (generate, train, evaluate) and reports progress as events.

`runner` starts, resumes and executes runs; `context` is what a stage sees; `processes` launches and joins
several processes; `stages/` are the three stages; `model/` the classifier, images and checkpoints;
`generators/` the procedural renderer and the diffusion pipelines. It never imports a front end.
"""

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

__all__ = [
    "Cancelled", "Distributed", "Event", "RunContext", "check_resumable", "create_run", "evaluate_run", "execute",
    "predict_paths", "resume_run", "start_run",
]  # fmt: skip
