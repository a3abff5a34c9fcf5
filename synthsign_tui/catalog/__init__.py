"""The run catalog (`runs.db`): tables, schema upgrades, queries, the headline rules and read models.

It is the only package that speaks SQL; the engine records through it and the front ends read through it.
"""

from synthsign_tui.catalog.store import (
    DEFAULT_DB,
    HEARTBEAT_SECONDS,
    SCHEMA_VERSION,
    Catalog,
    default_db_path,
)
from synthsign_tui.catalog.tables import (
    STALE_AFTER_SECONDS,
    EpochMetric,
    Evaluation,
    LogLine,
    Prediction,
    Run,
    Sample,
    Setting,
    StepMetric,
    is_stale,
    iso,
    process_alive,
    status_now,
)

__all__ = [
    "DEFAULT_DB", "HEARTBEAT_SECONDS", "SCHEMA_VERSION", "STALE_AFTER_SECONDS", "Catalog", "EpochMetric", "Evaluation",
    "LogLine", "Prediction", "Run", "Sample", "Setting", "StepMetric", "default_db_path", "is_stale", "iso",
    "process_alive", "status_now",
]  # fmt: skip
