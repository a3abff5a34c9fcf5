"""The words every layer shares: stages, run statuses, evaluation names, the internal background class.

One place for them, so the engine, the catalog, the command line and the dashboard cannot drift apart.
"""

from __future__ import annotations

STAGES = ("generate", "train", "evaluate")
STAGE_UNITS = {"generate": "img", "train": "step", "evaluate": "img"}

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
RESUMABLE = ("failed", "cancelled", "interrupted")  # stopped runs that `synthsign resume` continues
LIVE = ("running", "queued")  # runs with a process behind them (or about to have one)

CHECKPOINTS = ("before", "best", "last")  # the model before training, the best epoch, the last epoch
SYNTHETIC_VAL = "synthetic-val"  # the run's own evaluation on its synthetic validation split
REAL = "real"  # the run's own evaluation on `evaluate.real_dir`
RESERVED_EVALUATIONS = (SYNTHETIC_VAL, REAL)  # names a user's extra evaluation may not take

# The internal "no sign" class of procedural background images; never one of the task's classes.
BACKGROUND_CLASS = "_background"
# The generated whole photos with boxes that train the sign localiser (dataset/scenes/, never a class).
SCENES = "_scenes"

# The procedural generator's designs (engine/generators/procedural draws them; the config validates names).
DESIGNS: dict[str, str] = {
    "stop": "red octagon with white border and STOP lettering (rarely ALTO/ARRET/PARE), post, stickers, wear",
    "warning-triangle": "danger warning: white or yellowish triangle, red border, black pictogram; some inverted (yield), some on a board",
    "warning-diamond": "US warning: yellow or fluorescent diamond (or school pentagon), black border and symbol",
    "none": "background only, sometimes with a post, an unrelated sign (blue, prohibitory, plate) or a sign's back",
}
