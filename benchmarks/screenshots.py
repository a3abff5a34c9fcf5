"""SVG screenshots of the dashboard's main screens for the README, from a real catalog.

    python benchmarks/screenshots.py [--db runs.db] [--out assets/screenshots]

Without --db it first runs two small offline runs with the real engine (procedural images, a from-scratch
ResNet18, the demo photos in assets/real: a few minutes on a CPU) into a temporary catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.pilot import settle  # noqa: E402 (the Pilot helper the app tests use)

SIZE = (120, 40)


def build_catalog(db: Path) -> None:
    from synthsign_tui import engine
    from synthsign_tui.catalog import Catalog
    from synthsign_tui.config import preset_dict, validate

    catalog = Catalog(db)
    for name, lr, jitter in (("offline-baseline", 0.001, 0.0), ("offline-jitter", 0.0005, 0.3)):
        data = preset_dict("road-signs-offline")
        data["name"] = name
        data["data"].update(images_per_class=150, background_images=60, val_fraction=0.2)
        data["generator"].update(height=64, width=64)
        data["train"].update(epochs=6, image_size=48, lr=lr, color_jitter=jitter, weights="none")
        data["evaluate"].update(real_dir=str(ROOT / "assets" / "real"), multicrop="off")
        run_id = engine.start_run(validate(data), catalog)
        print(f"run #{run_id} {name}: {catalog.get_run(run_id).status}", flush=True)
    catalog.set_tags(1, ["baseline"])


async def shoot(db: Path, out: Path) -> list[Path]:
    import textual_image.widget  # noqa: F401  (probes the terminal before the app starts)

    from synthsign_tui.app.app import SynthSignApp

    app = SynthSignApp(db, image_mode="halfblock", live_system=False)
    app.sub_title = db.name
    saved: list[Path] = []

    def save(name: str) -> None:
        path = out / f"{name}.svg"
        app.save_screenshot(str(path))
        saved.append(path)

    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, idle=0.2)
        save("runs")
        await pilot.press("enter")
        await settle(app, pilot, idle=0.2)
        for tab in ("training", "results", "predictions"):
            app.screen.query_one("#run-tabs").active = f"tab-{tab}"
            await settle(app, pilot, idle=0.2)
            save(f"run-{tab}")
        await pilot.press("escape")
        await settle(app, pilot, idle=0.2)
        await pilot.press("space", "space", "c")
        await settle(app, pilot, idle=0.2)
        for tab in ("metrics", "curves", "config"):
            app.screen.query_one("#compare-tabs").active = f"tab-{tab}"
            await settle(app, pilot, idle=0.2)
            save(f"compare-{tab}")
        await pilot.press("escape")
        await settle(app, pilot, idle=0.2)
        await pilot.press("n")
        await settle(app, pilot, idle=0.2)
        save("form")
        await pilot.press("escape", "question_mark")
        await settle(app, pilot, idle=0.2)
        save("help")
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="an existing catalog (default: make one with two small runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        db = args.db
        if db is None:
            db = Path(folder) / "runs.db"
            build_catalog(db)
        for path in asyncio.run(shoot(db, args.out)):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
