"""The run catalog (`runs.db`): tables, schema upgrades, queries, the headline rules and read models.

It is the only package that speaks SQL; the engine records through it and the front ends read through it.
Its names load on first use (PEP 562), so that `synthsign_tui.catalog.light`, `catalog.opening.probe` and
`default_db_path` do not pay for importing SQLAlchemy and SQLModel (about 0.4 s) on the way to the
dashboard's first frame.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from synthsign_tui.catalog.light import DEFAULT_DB, default_db_path

if TYPE_CHECKING:
    from synthsign_tui.catalog.opening import APPLICATION_ID, CatalogError
    from synthsign_tui.catalog.owner import (
        STALE_AFTER_SECONDS,
        RunBusy,
        busy_message,
        display_status,
        owner_alive,
    )
    from synthsign_tui.catalog.store import HEARTBEAT_SECONDS, SCHEMA_VERSION, Catalog
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

_HOMES = {
    **dict.fromkeys(("APPLICATION_ID", "CatalogError"), "synthsign_tui.catalog.opening"),
    **dict.fromkeys(
        ("STALE_AFTER_SECONDS", "RunBusy", "busy_message", "display_status", "owner_alive"),
        "synthsign_tui.catalog.owner",
    ),
    **dict.fromkeys(("HEARTBEAT_SECONDS", "SCHEMA_VERSION", "Catalog"), "synthsign_tui.catalog.store"),
    **dict.fromkeys(
        (
            "EpochMetric",
            "Evaluation",
            "LogLine",
            "Prediction",
            "Run",
            "Sample",
            "Setting",
            "StepMetric",
            "iso",
        ),
        "synthsign_tui.catalog.tables",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "APPLICATION_ID", "CatalogError", "DEFAULT_DB", "HEARTBEAT_SECONDS", "SCHEMA_VERSION", "STALE_AFTER_SECONDS", "Catalog",
    "RunBusy", "busy_message", "EpochMetric", "Evaluation", "LogLine", "Prediction", "Run", "Sample", "Setting", "StepMetric",
    "default_db_path", "display_status", "iso", "owner_alive",
]  # fmt: skip
