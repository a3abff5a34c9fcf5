"""The run catalog (`runs.db`): tables, schema upgrades, queries, the headline rules and read models.

It is the only package that speaks SQL; the engine records through it and the front ends read through it.
"""

from synthsign_tui.catalog.opening import APPLICATION_ID, CatalogError
from synthsign_tui.catalog.owner import (
    STALE_AFTER_SECONDS,
    RunBusy,
    busy_message,
    display_status,
    owner_alive,
)
from synthsign_tui.catalog.store import (
    DEFAULT_DB,
    HEARTBEAT_SECONDS,
    SCHEMA_VERSION,
    Catalog,
    default_db_path,
)
from synthsign_tui.catalog.tables import (
    EpochMetric,
    Evaluation,
    LogLine,
    Prediction,
    Run,
    Sample,
    Setting,
    StepMetric,
    iso,
)

__all__ = [
    "APPLICATION_ID", "CatalogError", "DEFAULT_DB", "HEARTBEAT_SECONDS", "SCHEMA_VERSION", "STALE_AFTER_SECONDS", "Catalog",
    "RunBusy", "busy_message", "EpochMetric", "Evaluation", "LogLine", "Prediction", "Run", "Sample", "Setting", "StepMetric",
    "default_db_path", "display_status", "iso", "owner_alive",
]  # fmt: skip
