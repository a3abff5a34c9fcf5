"""Export the runs table or one run (epochs and predictions) as CSV or JSON, read from the catalog only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from synthsign_tui.catalog import Catalog


def export_table(
    catalog: Catalog, path: Path, text: str = "", sort: str = "created", descending: bool = True
) -> int:
    """The runs matching a filter, in the table's order, as the catalog's stable run-summary shape."""
    from synthsign_tui.catalog import query

    with catalog.session() as s:
        runs = list(s.scalars(query.statement(text, order_by=sort, descending=descending)).all())
    rows = [catalog.run_summary(r) for r in runs]
    if path.suffix == ".json":
        path.write_text(json.dumps(rows, indent=2) + "\n")
    else:
        _write_csv(path, [{**r, "tags": " ".join(r["tags"])} for r in rows])
    return len(rows)


def export_run(catalog: Catalog, run_id: int, path: Path) -> None:
    """JSON: the run's full details. CSV: one row per epoch, then one row per real-photo prediction."""
    details = catalog.run_details(run_id)
    if path.suffix == ".json":
        path.write_text(json.dumps(details, indent=2) + "\n")
        return
    epochs = [{"section": "epoch", **e} for e in details["epochs"]]
    predictions = [
        {
            "section": "prediction",
            "evaluation": p["evaluation"],
            "path": p["path"],
            "label": p["label"],
            "predicted": p["predicted"],
            "confidence": p["confidence"],
            "correct": p["correct"],
            **{f"p_{k}": v for k, v in p["probabilities"].items()},
        }
        for p in details["predictions"]
    ]
    _write_csv(path, epochs + predictions)


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields or ["id"])
        writer.writeheader()
        writer.writerows(rows)
