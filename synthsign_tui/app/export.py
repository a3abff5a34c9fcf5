"""Export the runs table (with every config key) or one run (epochs, step losses, predictions) as CSV or JSON,
read from the catalog only and written atomically (never half a file under the final name)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from synthsign_tui.catalog import Catalog
from synthsign_tui.files import write_atomic


def export_table(
    catalog: Catalog, path: Path, text: str = "", sort: str = "created", descending: bool = True
) -> int:
    """The runs matching a filter, in the table's order, as the catalog's stable run-summary shape."""
    from synthsign_tui.catalog import query

    with catalog.session() as s:
        runs = list(s.scalars(query.statement(text, order_by=sort, descending=descending)).all())
    from synthsign_tui.config import flatten

    rows = [{**catalog.run_summary(r), "config": r.config} for r in runs]
    if path.suffix == ".json":
        write_atomic(path, json.dumps(rows, indent=2) + "\n")
    else:  # one column per config key ("config.train.lr"), lists and tables as JSON text
        flat = [
            {
                **{k: v for k, v in r.items() if k != "config"},
                "tags": " ".join(r["tags"]),
                **{
                    f"config.{k}": json.dumps(v) if isinstance(v, list | dict) else v
                    for k, v in flatten(r["config"]).items()
                },
            }
            for r in rows
        ]
        _write_csv(path, flat)
    return len(rows)


def export_run(catalog: Catalog, run_id: int, path: Path) -> None:
    """JSON: the run's full details and its step losses. CSV: one row per epoch, per training step (its loss),
    then per real-photo prediction; a `section` column says which."""
    details = catalog.run_details(run_id)
    steps = [{"epoch": s.epoch, "step": s.step, "loss": s.loss} for s in catalog.steps(run_id)]
    if path.suffix == ".json":
        write_atomic(path, json.dumps({**details, "steps": steps}, indent=2) + "\n")
        return
    epochs = [{"section": "epoch", **e} for e in details["epochs"]]
    epochs += [{"section": "step", **s} for s in steps]
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
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=fields or ["id"])
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())
