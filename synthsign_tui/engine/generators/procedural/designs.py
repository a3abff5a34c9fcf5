"""Offline procedural road-sign images: signs drawn with PIL, composited into random scenes by `scenes`.

This is the generator that runs anywhere (no weights, no downloads) and the classical baseline. `render` draws
one image from a seed; `ProceduralGenerator` renders a batch of jobs. Signs are drawn large on a transparent
canvas in unit-box coordinates, then `scenes` warps them into a background and imitates a camera.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from synthsign_tui.engine.generators.procedural import scenes
from synthsign_tui.vocab import DESIGNS

if TYPE_CHECKING:
    from synthsign_tui.config import GeneratorConfig

Rng = np.random.Generator
Point = tuple[float, float]
Points = Sequence[Point]
Ink = tuple[int, ...]


class Job(Protocol):
    """What `ProceduralGenerator.generate` reads of a job (the generate stage's ImageJob)."""

    @property
    def draw(self) -> Sequence[str]: ...
    @property
    def seed(self) -> int: ...
    @property
    def attributes(self) -> dict[str, Any]: ...


_CANVAS = 192  # sign canvas side in pixels; signs are downscaled from it, so 192 covers outputs up to ~200 px
RED, WHITE, BLACK = (200, 30, 40), (242, 242, 236), (20, 20, 22)
YELLOW, FLUO, ORANGE = (250, 200, 10), (195, 228, 40), (245, 135, 25)


class _Pen:
    """Draws in a unit box: x, y in [-1, 1] around (cx, cy), `s` pixels per unit, `m` = -1 mirrors x."""

    def __init__(
        self, draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: Ink, m: int = 1
    ) -> None:
        self.d, self.cx, self.cy, self.s, self.ink, self.m = draw, cx, cy, s, ink, m

    def sub(self, x: float, y: float, scale: float) -> _Pen:
        ((cx, cy),) = self.xy([(x, y)])
        return _Pen(self.d, cx, cy, self.s * scale, self.ink, self.m)

    def xy(self, pts: Points) -> list[tuple[float, float]]:
        return [(self.cx + self.m * x * self.s, self.cy + y * self.s) for x, y in pts]

    def line(self, pts: Points, w: float, fill: Ink | None = None) -> None:
        self.d.line(self.xy(pts), fill=fill or self.ink, width=max(1, round(w * self.s)), joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps
            self.disc(x, y, w / 2.2, fill)

    def poly(self, pts: Points, fill: Ink | None = None) -> None:
        self.d.polygon(self.xy(pts), fill=fill or self.ink)

    def disc(self, x: float, y: float, r: float, fill: Ink | None = None, ring: float = 0.0) -> None:
        """A filled disc, or a ring of width `ring` units when ring > 0."""
        ((px, py),), pr = self.xy([(x, y)]), r * self.s
        box = (px - pr, py - pr, px + pr, py + pr)
        if ring:
            self.d.ellipse(box, outline=self.ink, width=max(1, round(ring * self.s)))
        else:
            self.d.ellipse(box, fill=fill or self.ink)

    def arrow(self, pts: Points, w: float, head: float = 0.32) -> None:
        tip, prev = np.array(pts[-1], float), np.array(pts[-2], float)
        u = (tip - prev) / np.linalg.norm(tip - prev)
        base, side = tip - u * head, np.array([-u[1], u[0]]) * head * 0.85
        self.line([*pts[:-1], tuple(base + u * 0.02)], w)
        self.poly([tuple(tip), tuple(base + side), tuple(base - side)])

    def octagon(self, x: float, y: float, r: float, fill: Ink) -> None:
        a = np.pi / 8 + np.arange(8) * np.pi / 4
        self.poly(list(zip(x + r * np.cos(a), y + r * np.sin(a), strict=True)), fill)


def _bez(p0: Point, p1: Point, p2: Point, n: int = 10) -> list[tuple[float, float]]:
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t**2 * np.array(p2)
    return [tuple(p) for p in pts]


def _walker(p: _Pen, x: float, y: float, h: float, w: float = 0.13) -> None:
    """A walking person with feet at (x, y) and height h."""
    q = p.sub(x, y, h)
    q.disc(0.07, -0.89, 0.1)
    q.line([(0.05, -0.74), (-0.03, -0.4)], w * 1.2)
    q.line([(-0.03, -0.4), (0.12, -0.2), (0.26, -0.02)], w)
    q.line([(-0.03, -0.4), (-0.1, -0.2), (-0.26, -0.04)], w)
    q.line([(0.04, -0.7), (0.18, -0.52), (0.25, -0.4)], w * 0.8)
    q.line([(0.04, -0.7), (-0.12, -0.56), (-0.2, -0.42)], w * 0.8)


def _lights(p: _Pen, width: float) -> None:
    half_w, half_h = width * p.s, 0.92 * p.s
    p.d.rounded_rectangle(
        (p.cx - half_w, p.cy - half_h, p.cx + half_w, p.cy + half_h), radius=0.4 * half_w, fill=p.ink
    )
    for y, colour in ((-0.56, (225, 35, 30)), (0.0, (245, 190, 30)), (0.56, (40, 175, 80))):
        p.disc(0, y, width * 0.68, colour)


def _curve(p: _Pen, _: Rng) -> None:
    p.arrow([(0.15, 0.9), (0.15, 0.15), *_bez((0.15, 0.1), (0.15, -0.5), (-0.55, -0.6))[1:]], 0.2)


def _reverse(p: _Pen, _: Rng) -> None:
    t = np.linspace(0, 1, 14)
    p.arrow(list(zip(0.28 * np.cos(np.pi * t), 0.9 - 1.6 * t, strict=True)), 0.19)


def _winding(p: _Pen, _: Rng) -> None:
    t = np.linspace(0, 1, 18)
    p.arrow(list(zip(0.3 * np.sin(2.4 * np.pi * t), 0.9 - 1.65 * t, strict=True)), 0.17, 0.28)


def _turn(p: _Pen, _: Rng) -> None:
    p.arrow([(0.25, 0.9), (0.25, -0.3), (-0.65, -0.3)], 0.22)


def _exclamation(p: _Pen, _: Rng) -> None:
    p.poly([(-0.15, -0.85), (0.15, -0.85), (0.07, 0.38), (-0.07, 0.38)])
    p.disc(0, 0.68, 0.15)


def _crossroads(p: _Pen, _: Rng) -> None:
    p.line([(0, -0.9), (0, 0.9)], 0.24)
    p.line([(-0.8, 0), (0.8, 0)], 0.24)


def _priority(p: _Pen, _: Rng) -> None:
    p.poly([(-0.2, 0.9), (0.2, 0.9), (0.08, -0.9), (-0.08, -0.9)])
    p.line([(-0.7, -0.1), (0.7, -0.1)], 0.11)


def _t_junction(p: _Pen, _: Rng) -> None:
    p.line([(0, 0.9), (0, -0.35)], 0.24)
    p.line([(-0.8, -0.35), (0.8, -0.35)], 0.24)


def _side_road(p: _Pen, _: Rng) -> None:
    p.line([(0, 0.9), (0, -0.9)], 0.24)
    p.line([(0, 0.05), (0.7, -0.35)], 0.2)


def _pedestrian(p: _Pen, _: Rng) -> None:
    _walker(p, -0.05, 0.95, 1.85)


def _children(p: _Pen, _: Rng) -> None:
    _walker(p, -0.3, 0.95, 1.75)
    _walker(p, 0.38, 0.95, 1.3)


def _slippery(p: _Pen, _: Rng) -> None:
    p.poly([(-0.45, -0.15), (-0.3, -0.55), (0.3, -0.55), (0.45, -0.15), (0.52, 0.15), (-0.52, 0.15)])
    p.disc(-0.34, 0.17, 0.13)
    p.disc(0.34, 0.17, 0.13)
    t = np.linspace(0, 1, 10)
    for side in (-1, 1):
        p.line(
            list(zip(side * (0.3 + 0.15 * t) + 0.1 * np.sin(3 * np.pi * t), 0.35 + 0.55 * t, strict=True)),
            0.08,
        )


def _road_works(p: _Pen, _: Rng) -> None:
    p.disc(-0.25, -0.62, 0.14)
    p.line([(-0.3, -0.45), (-0.02, 0.12)], 0.19)
    p.line([(-0.02, 0.12), (-0.25, 0.82)], 0.14)
    p.line([(-0.02, 0.12), (0.22, 0.82)], 0.14)
    p.line([(-0.25, -0.32), (0.12, -0.12), (0.3, 0.1)], 0.11)
    p.line([(0.0, -0.4), (0.55, 0.5)], 0.07)
    p.poly([(0.35, 0.85), (0.55, 0.4), (0.75, 0.5), (0.95, 0.85)])


def _deer(p: _Pen, _: Rng) -> None:
    body = [(-0.62, -0.1), (-0.2, -0.22), (0.25, -0.25), (0.43, -0.45), (0.52, -0.7), (0.78, -0.6), (0.6, -0.45),
            (0.5, -0.12), (0.3, 0.12), (-0.55, 0.12)]  # fmt: skip
    p.poly(body)
    for leg in (((0.25, 0.05), (0.55, 0.45), (0.62, 0.78)), ((0.12, 0.05), (0.3, 0.5), (0.42, 0.82)),
                ((-0.45, 0.05), (-0.75, 0.4), (-0.92, 0.55)), ((-0.35, 0.05), (-0.5, 0.5), (-0.72, 0.75))):  # fmt: skip
        p.line(list(leg), 0.1)
    p.line([(0.55, -0.68), (0.45, -0.95), (0.3, -1.0)], 0.07)
    p.line([(0.62, -0.7), (0.7, -0.98)], 0.07)


def _bumps(p: _Pen, _: Rng) -> None:
    x = np.linspace(-0.85, 0.85, 21)
    p.poly(
        [
            *zip(x, 0.6 - 0.5 * np.abs(np.sin(np.pi * (x + 0.85) / 0.85)), strict=True),
            (0.85, 0.7),
            (-0.85, 0.7),
        ]
    )


def _narrowing(p: _Pen, rng: Rng) -> None:
    right = [(0.45, 0.9), (0.45, 0.2), (0.15, -0.2), (0.15, -0.9)]
    p.line(right, 0.15)
    p.line([(-x, y) for x, y in right] if rng.random() < 0.5 else [(-0.4, 0.9), (-0.4, -0.9)], 0.15)


def _snow(p: _Pen, _: Rng) -> None:
    for k in range(6):
        a = k * np.pi / 3
        p.line([(0, 0), (0.85 * np.cos(a), 0.85 * np.sin(a))], 0.09)
        for da in (-0.7, 0.7):
            bx, by = 0.5 * np.cos(a), 0.5 * np.sin(a)
            p.line([(bx, by), (bx + 0.28 * np.cos(a + da), by + 0.28 * np.sin(a + da))], 0.07)


def _bicycle(p: _Pen, _: Rng) -> None:
    for x in (-0.5, 0.5):
        p.disc(x, 0.35, 0.33, ring=0.08)
    p.line([(-0.5, 0.35), (-0.1, -0.2), (0.38, -0.2), (0.5, 0.35)], 0.09)
    p.line([(-0.1, -0.2), (0.02, 0.35), (-0.5, 0.35)], 0.09)
    p.line([(0.02, 0.35), (0.38, -0.2)], 0.09)
    p.line([(0.3, -0.42), (0.48, -0.42)], 0.09)
    p.line([(-0.2, -0.35), (0.0, -0.35)], 0.09)


def _roundabout(p: _Pen, _: Rng) -> None:
    for k in range(3):
        a = k * 2 * np.pi / 3 + np.linspace(0, 1.55, 8)
        p.arrow(list(zip(0.62 * np.cos(a), 0.62 * np.sin(a), strict=True)), 0.2, 0.36)


def _two_way(p: _Pen, _: Rng) -> None:
    p.arrow([(-0.3, 0.85), (-0.3, -0.85)], 0.17)
    p.arrow([(0.3, -0.85), (0.3, 0.85)], 0.17)


def _rocks(p: _Pen, _: Rng) -> None:
    p.poly([(-0.9, -0.9), (-0.55, -0.9), (-0.15, 0.9), (-0.9, 0.9)])
    for x, y, r in ((0.1, -0.45, 0.13), (0.35, 0.0, 0.17), (0.15, 0.45, 0.14), (0.55, 0.65, 0.18)):
        p.disc(x, y, r)


def _hill(p: _Pen, _: Rng) -> None:
    p.poly([(-0.9, 0.75), (0.9, 0.75), (0.9, -0.1)])
    p.disc(0.1, 0.1, 0.14)


def _merge(p: _Pen, _: Rng) -> None:
    p.line([(0.2, 0.9), (0.2, -0.9)], 0.24)
    p.line(_bez((-0.6, 0.9), (-0.55, 0.15), (0.2, -0.25)), 0.16)


def _added_lane(p: _Pen, _: Rng) -> None:
    p.arrow([(-0.35, 0.9), (-0.35, -0.55)], 0.17)
    p.arrow([(0.62, 0.9), (0.62, 0.55), (0.3, 0.15), (0.3, -0.55)], 0.17)


def _lane_ends(p: _Pen, _: Rng) -> None:
    p.line([(-0.4, 0.9), (-0.4, -0.9)], 0.17)
    p.line([(0.4, 0.9), (0.4, 0.15), (-0.05, -0.45), (-0.05, -0.9)], 0.17)


def _ahead_layout(rng: Rng) -> tuple[float, float]:
    """(symbol centre y, symbol scale) of a "... ahead" sign. MUTCD W3-1/W3-2 put a thick arrow above a large
    symbol; some older or local signs put the symbol on top."""
    return (0.48, rng.uniform(0.9, 1.1)) if rng.random() < 0.85 else (-0.3, rng.uniform(0.85, 1.05))


def _ahead_arrow(p: _Pen, y: float, rng: Rng) -> None:
    """The arrow of a "... ahead" sign: a broad shaft and a large head, on the side away from the symbol."""
    w, head = rng.uniform(0.3, 0.45), rng.uniform(0.55, 0.75)
    p.arrow([(0, -0.38), (0, -1.38)] if y > 0 else [(0, 1.15), (0, 0.5)], w, head)


def _stop_ahead(p: _Pen, rng: Rng) -> None:
    y, k = _ahead_layout(rng)
    if rng.random() < 0.6:  # a thin white rim, as on the W3-1 symbol; often lost to dirt and distance
        p.octagon(0, y, (0.64 + rng.uniform(0.02, 0.05)) * k, WHITE)
    p.octagon(0, y, 0.64 * k, _vary(rng, RED, 15))
    _ahead_arrow(p, y, rng)


def _yield_ahead(p: _Pen, rng: Rng) -> None:
    y, k = _ahead_layout(rng)
    red, inner = (
        [(-0.68 * k, -0.5 * k), (0.68 * k, -0.5 * k), (0, 0.62 * k)],
        [(-0.38, -0.36), (0.38, -0.36), (0, 0.27)],
    )
    p.poly([(x, y + v) for x, v in red], _vary(rng, RED, 15))
    p.poly([(x * k, y + v * k) for x, v in inner], WHITE)
    _ahead_arrow(p, y, rng)


YIELD_SHARE = 0.12  # share of warning triangles drawn as an inverted yield / give-way sign
TRIANGLE_PICTOGRAMS = {
    "exclamation": _exclamation, "curve": _curve, "double-curve": _reverse, "crossroads": _crossroads,
    "priority-junction": _priority, "pedestrian": _pedestrian, "children": _children, "slippery": _slippery,
    "road-works": _road_works, "traffic-light": lambda p, _: _lights(p, 0.3), "deer": _deer, "bumps": _bumps,
    "narrowing": _narrowing, "snow": _snow, "bicycle": _bicycle, "roundabout": _roundabout, "two-way": _two_way,
    "falling-rocks": _rocks, "steep-hill": _hill,
}  # fmt: skip
DIAMOND_PICTOGRAMS = {  # name -> (drawer, weight); stop/signal ahead are the hardest real cases, so drawn often
    "curve": (_curve, 1.5), "turn": (_turn, 0.7), "reverse-curve": (_reverse, 0.8), "winding": (_winding, 0.5),
    "merge": (_merge, 1.5), "signal-ahead": (lambda p, _: _lights(p, 0.36), 3.0), "stop-ahead": (_stop_ahead, 3.0),
    "yield-ahead": (_yield_ahead, 2.5), "pedestrian": (_pedestrian, 3.0), "added-lane": (_added_lane, 1.5),
    "lane-ends": (_lane_ends, 1.2), "deer": (_deer, 0.6), "crossroads": (_crossroads, 0.6),
    "t-junction": (_t_junction, 0.4), "side-road": (_side_road, 0.4), "bicycle": (_bicycle, 0.5),
    "slippery": (_slippery, 0.4), "roundabout": (_roundabout, 1.0), "children": (_children, 0.8),
    "text": (None, 1.2), "school-pentagon": (None, 1.5),
}  # fmt: skip
DIAMOND_TEXTS = (("SCHOOL",), ("SLOW",), ("BUMP",), ("DIP",), ("STOP", "AHEAD"), ("ROAD", "WORK"), ("PED", "XING"),
                 ("XING",), ("SIGNAL", "AHEAD"), ("CURVE",), ("END",))  # fmt: skip


def _vary(rng: np.random.Generator, rgb: Ink, spread: float) -> Ink:
    return tuple(int(np.clip(c + rng.normal(0, spread), 0, 255)) for c in rgb)


def _inset(pts: Points, d: float) -> list[Point]:
    """Moves each edge of a convex polygon inwards by d pixels."""
    p = np.array(pts, float)
    centre = p.mean(axis=0)
    normals: Any = []
    for a, b in zip(p, np.roll(p, -1, axis=0), strict=True):
        n = np.array([a[1] - b[1], b[0] - a[0]]) / np.linalg.norm(b - a)
        normals.append(n if np.dot(n, centre - (a + b) / 2) > 0 else -n)
    normals = np.array(normals)
    before = np.roll(normals, 1, axis=0)
    offset = (normals + before) / (1 + np.sum(normals * before, axis=1, keepdims=True))
    return [tuple(v) for v in p + d * offset]


def _shape(d: ImageDraw.ImageDraw, pts: Points, fill: Ink, inset: float = 0.0, corner: float = 0.0) -> None:
    """Fills a convex polygon shrunk by `inset`, with corners rounded to radius `corner` pixels."""
    core = _inset(pts, inset + corner)
    d.polygon(core, fill=fill)
    if corner >= 1:
        d.line([*core, core[0]], fill=fill, width=round(2 * corner))
        for x, y in core:
            d.ellipse((x - corner, y - corner, x + corner, y + corner), fill=fill)


@functools.lru_cache(maxsize=2)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def _text(
    canvas: Image.Image,
    lines: Sequence[str],
    box: tuple[float, float, float, float],
    fill: Ink,
    weight: int,
    spacing: float,
) -> None:
    """Writes lines of text stretched to fill box=(x0, y0, x1, y1), one row per line."""
    font, (x0, y0, x1, y1) = _font(64), box
    row_h = (y1 - y0) / len(lines)
    for i, line in enumerate(lines):
        mask = Image.new("L", (int(len(line) * (64 + spacing) + 40), 110))
        d, x = ImageDraw.Draw(mask), 20.0
        for ch in line:
            d.text((x, 15), ch, font=font, fill=255, stroke_width=weight, stroke_fill=255)
            x += font.getlength(ch) + spacing
        mask = mask.crop(mask.getbbox())
        top = round(y0 + i * row_h + 0.1 * row_h * (len(lines) > 1))
        size = (max(1, round(x1 - x0)), max(1, round(row_h * (0.8 if len(lines) > 1 else 1.0))))
        canvas.paste(
            fill,
            (round(x0), top, round(x0) + size[0], top + size[1]),
            mask.resize(size, Image.Resampling.BILINEAR),
        )


def _draw_stop(rng: Rng, d: ImageDraw.ImageDraw, canvas: Image.Image, attrs: dict[str, Any]) -> None:
    # bright red, deep red, or the purplish maroon that many cameras make of it
    s, red = _CANVAS, _vary(rng, [RED, (170, 20, 40), (140, 30, 70)][rng.choice(3, p=[0.6, 0.25, 0.15])], 18)
    octagon = [
        (s / 2 + 0.49 * s * np.cos(a), s / 2 + 0.49 * s * np.sin(a))
        for a in np.pi / 8 + np.arange(8) * np.pi / 4
    ]
    white, border = _vary(rng, WHITE, 8), rng.uniform(0.025, 0.07) * s
    rim = rng.uniform(0.0, 0.03) * s if rng.random() < 0.6 else 0.0
    _shape(d, octagon, red if rim else white, corner=0.01 * s)
    _shape(d, octagon, white, inset=rim)
    _shape(d, octagon, red, inset=rim + border)
    legend = ["STOP", "ALTO", "ARRET", "PARE", "STOP"][rng.choice(5, p=[0.9, 0.03, 0.03, 0.02, 0.02])]
    half_w, half_h = rng.uniform(0.3, 0.38) * s, rng.uniform(0.1, 0.15) * s
    dy = rng.normal(0, 0.015) * s
    box = (s / 2 - half_w, s / 2 - half_h + dy, s / 2 + half_w, s / 2 + half_h + dy)
    _text(canvas, [legend], box, white, int(rng.integers(0, 5)), rng.uniform(-2, 14))
    attrs.update(pictogram="", legend=legend)


def _draw_triangle(rng: Rng, d: ImageDraw.ImageDraw, canvas: Image.Image, attrs: dict[str, Any]) -> None:
    s = _CANVAS
    side, height = 0.98 * s, 0.98 * s * np.sqrt(3) / 2
    top = (s - height) / 2
    tri = [(s / 2, top), (s / 2 + side / 2, top + height), (s / 2 - side / 2, top + height)]
    inner = _vary(rng, WHITE, 8) if rng.random() < 0.88 else _vary(rng, (250, 212, 70), 12)
    border = rng.uniform(0.065, 0.11) * side
    if rng.random() < YIELD_SHARE:  # point down, no pictogram: give way / YIELD, a warning for this task
        tri = [(x, s - y) for x, y in tri]
        _shape(d, tri, _vary(rng, RED, 18), corner=0.05 * side)
        _shape(d, tri, inner, inset=border * rng.uniform(1.0, 1.8), corner=0.02 * side)
        legend = "YIELD" if rng.random() < 0.3 else ""
        if legend:
            y0 = top + 0.24 * height
            box = (s / 2 - 0.17 * side, y0, s / 2 + 0.17 * side, y0 + 0.1 * height)
            _text(canvas, [legend], box, _vary(rng, RED, 18), int(rng.integers(0, 3)), rng.uniform(0, 6))
        attrs.update(pictogram="yield", legend=legend)
        return
    _shape(d, tri, _vary(rng, RED, 18), corner=0.05 * side)
    _shape(d, tri, inner, inset=border, corner=0.02 * side)
    name = list(TRIANGLE_PICTOGRAMS)[rng.integers(len(TRIANGLE_PICTOGRAMS))]
    inner_side = side - 2 * np.sqrt(3) * border
    half = rng.uniform(0.23, 0.27) * inner_side
    pen = _Pen(d, s / 2, top + height - border - 1.02 * half, half, _vary(rng, BLACK, 6), 1)
    pen.m = -1 if rng.random() < 0.5 else 1
    TRIANGLE_PICTOGRAMS[name](pen, rng)
    attrs.update(pictogram=name, legend="")


def _draw_diamond(rng: Rng, d: ImageDraw.ImageDraw, canvas: Image.Image, attrs: dict[str, Any]) -> None:
    s, names = _CANVAS, list(DIAMOND_PICTOGRAMS)
    weights = np.array([w for _, w in DIAMOND_PICTOGRAMS.values()])
    name = names[rng.choice(len(names), p=weights / weights.sum())]
    fluo = name in ("pedestrian", "children", "bicycle", "school-pentagon") and rng.random() < 0.5
    face = _vary(rng, FLUO if fluo else ORANGE if name == "text" and rng.random() < 0.2 else YELLOW, 14)
    ink, m = _vary(rng, BLACK, 6), 0.01 * s
    if name == "school-pentagon":
        shape = [(s / 2, m), (s - m, 0.42 * s), (s - m, s - m), (m, s - m), (m, 0.42 * s)]
    else:
        shape = [(s / 2, m), (s - m, s / 2), (s / 2, s - m), (m, s / 2)]
    rim, border = rng.uniform(0.005, 0.025) * s, rng.uniform(0.015, 0.03) * s
    _shape(d, shape, face, corner=0.04 * s)
    _shape(d, shape, ink, inset=rim, corner=0.03 * s)
    _shape(d, shape, face, inset=rim + border, corner=0.025 * s)
    legend = ""
    if name == "text":
        lines = DIAMOND_TEXTS[rng.integers(len(DIAMOND_TEXTS))]
        half_w, half_h = 0.27 * s, rng.uniform(0.07, 0.1) * s * len(lines)
        _text(
            canvas,
            lines,
            (s / 2 - half_w, s / 2 - half_h, s / 2 + half_w, s / 2 + half_h),
            ink,
            int(rng.integers(0, 4)),
            rng.uniform(-2, 8),
        )
        legend = " ".join(lines)
    else:
        centre_y = 0.62 * s if name == "school-pentagon" else s / 2
        pen = _Pen(d, s / 2, centre_y, rng.uniform(0.26, 0.31) * s, ink, -1 if rng.random() < 0.5 else 1)
        drawer = _children if name == "school-pentagon" else DIAMOND_PICTOGRAMS[name][0]
        assert drawer is not None  # only text and school-pentagon have none, handled above
        drawer(pen, rng)
    attrs.update(pictogram=name, legend=legend)


_DRAWERS = {"stop": _draw_stop, "warning-triangle": _draw_triangle, "warning-diamond": _draw_diamond}


BOARD_SHARE = 0.12  # share of triangles on a white or yellow backing board (temporary signs, road works)


def _on_board(rng: np.random.Generator, sign: Image.Image) -> Image.Image:
    """The sign centred on a light rectangular board a little larger than itself, with a thin dark edge."""
    w, h = sign.size
    pad = rng.uniform(0.06, 0.18)
    board = Image.new("RGBA", (round(w * (1 + 2 * pad)), round(h * (1 + 2 * pad) + 0.1 * w)), (0, 0, 0, 0))
    face = _vary(rng, WHITE if rng.random() < 0.75 else (245, 215, 40), 10)
    edge = max(1, round(0.012 * w))
    ImageDraw.Draw(board).rounded_rectangle(
        (0, 0, board.size[0] - 1, board.size[1] - 1),
        radius=0.04 * w,
        fill=(*_vary(rng, (90, 90, 90), 20), 255),
    )
    ImageDraw.Draw(board).rounded_rectangle(
        (edge, edge, board.size[0] - 1 - edge, board.size[1] - 1 - edge), radius=0.04 * w, fill=(*face, 255)
    )
    board.alpha_composite(sign, ((board.size[0] - w) // 2, (board.size[1] - h) // 2))
    return board


def draw_sign(design: str, rng: np.random.Generator) -> tuple[Image.Image | None, dict[str, Any]]:
    """Draws the sign of `design` on a transparent canvas cropped to the sign, with wear; None for `none`."""
    if design == "none":
        return None, {"pictogram": "", "legend": "", "board": False, "faded": 0.0, "stickers": 0}
    canvas = Image.new("RGBA", (_CANVAS, _CANVAS), (0, 0, 0, 0))
    attrs: dict[str, Any] = {}
    _DRAWERS[design](rng, ImageDraw.Draw(canvas), canvas, attrs)
    canvas = canvas.crop(canvas.getchannel("A").getbbox())
    board = design == "warning-triangle" and rng.random() < BOARD_SHARE
    if board:
        canvas = _on_board(rng, canvas)
    attrs["board"] = board
    image, wear = scenes.weather(rng, canvas)
    return image, {**attrs, **wear}


def render(
    draw: Sequence[str], *, seed: int, height: int, width: int, scene: bool = False
) -> tuple[Image.Image, dict[str, Any]]:
    """Picks one design from `draw` with the seed's RNG and renders it into an RGB image of width x height.

    Returns the image and a flat JSON-serialisable dict of what was drawn (design, pictogram, background,
    crop, sign_fraction, rotation, lighting, blur, noise, jpeg_quality, low_res, greyscale, ...).
    """
    if not draw:
        raise ValueError(f"no design to draw: give at least one of {', '.join(DESIGNS)}")
    unknown = [name for name in draw if name not in DESIGNS]
    if unknown:
        raise ValueError(f"unknown design {unknown[0]!r}: valid designs are {', '.join(DESIGNS)}")
    if height < 8 or width < 8:
        raise ValueError(f"image size {width}x{height} is too small: width and height must be at least 8 px")
    rng = np.random.default_rng(seed)
    design = draw[int(rng.integers(len(draw)))]
    sign, attrs = draw_sign(design, rng)
    image, scene_attrs = (scenes.compose_scene if scene else scenes.compose_crop)(rng, sign, width, height)
    return image, {"design": design, **attrs, **scene_attrs}


class ProceduralGenerator:
    """Renders jobs with `render`; only the generator config's height and width are used."""

    def __init__(self, generator_config: GeneratorConfig) -> None:
        self.height, self.width = int(generator_config.height), int(generator_config.width)

    def generate(self, jobs: Sequence[Job]) -> list[tuple[Image.Image, dict[str, Any]]]:
        """Renders each job (.draw, .seed, .attributes with optional 'scene') in order."""
        return [
            render(job.draw, seed=job.seed, height=self.height, width=self.width,
                   scene=bool((job.attributes or {}).get("scene", False)))
            for job in jobs
        ]  # fmt: skip
