"""What stages may record about their run, as an interface: the runner passes the catalog, which implements it.

Stages depend on this protocol, never on the catalog itself, so the engine's stages stay free of SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Records(Protocol):
    def update_run(self, run_id: int, **fields: Any) -> Any: ...

    def heartbeat(self, run_id: int, **fields: Any) -> None: ...

    def add_log(self, run_id: int, message: str, level: str = "info") -> None: ...

    def add_samples(self, run_id: int, rows: Sequence[dict[str, Any]]) -> None: ...

    def add_generation(self, run_id: int, made: int, seconds: float, images: int) -> None: ...

    def add_epoch(self, run_id: int, epoch: int, **metrics: Any) -> Any: ...

    def add_steps(self, run_id: int, rows: Sequence[dict[str, Any]]) -> None: ...

    def delete_steps_after(self, run_id: int, epoch: int) -> None: ...

    def add_evaluation(
        self,
        run_id: int,
        result: dict[str, Any],
        predictions: Sequence[dict[str, Any]] = (),
        *,
        primary: bool = False,
    ) -> Any: ...
