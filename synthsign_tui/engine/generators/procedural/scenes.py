"""Backgrounds, road scenes and the camera for the procedural generator.

`compose_crop` places a drawn sign into a sign-sized crop (tight like LISA, or with a margin like GTSRB);
`compose_scene` places it small in a road scene. Both then pass the picture through `_camera`: lighting,
shadows, glare, blur, noise, greyscale with random (often red-heavy) channel weights, JPEG and low resolution.
All randomness comes from the caller's `numpy.random.Generator`.
"""

import functools
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Rng = np.random.Generator


def smooth_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1] of shape (height, width), from a cells x cells grid upsampled."""
    grid = rng.random((cells, cells)).astype(np.float32)
    up = Image.fromarray(grid, "F").resize((width, height), Image.Resampling.BICUBIC)
    noise: np.ndarray = np.clip(np.asarray(up), 0, 1)
    return noise


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names, p = list(weights), np.array(list(weights.values()))
    return names[rng.choice(len(names), p=p / p.sum())]


def _colour(rng: np.random.Generator, rgb: Sequence[float], spread: float) -> np.ndarray:
    return np.clip(np.array(rgb, np.float32) + rng.normal(0, spread, 3), 0, 255).astype(np.float32)


def _grey(rng: np.random.Generator, mean: float, spread: float, tint: float) -> np.ndarray:
    """A random grey (one brightness for all channels) with a slight per-channel tint, in [0, 255]."""
    return np.clip(rng.normal(mean, spread) + rng.normal(0, tint, 3), 0, 255).astype(np.float32)


def weather(rng: np.random.Generator, sign: Image.Image) -> tuple[Image.Image, dict[str, Any]]:
    """Ages a drawn sign: stickers, sun fading towards white or pink, and patchy dirt."""
    stickers = int(rng.integers(1, 4)) if rng.random() < 0.12 else 0
    d = ImageDraw.Draw(sign)
    for _ in range(stickers):
        x, y = rng.uniform(0.2, 0.8, 2) * sign.size
        w, h = rng.uniform(0.04, 0.14, 2) * sign.size
        d.rectangle((x, y, x + w, y + h), fill=(*(int(c) for c in _colour(rng, (200, 200, 200), 70)), 255))
    faded = float(rng.uniform(0.05, 0.45)) if rng.random() < 0.3 else 0.0
    pixels = np.asarray(sign, np.float32).copy()
    tint = np.array([255, 235, 225] if rng.random() < 0.5 else [235, 235, 235], np.float32)
    dirt = smooth_noise(rng, sign.size[0], sign.size[1], 4)[..., None]
    pixels[..., :3] = (pixels[..., :3] * (1 - faded) + tint * faded) * (1 - rng.uniform(0, 0.25) * dirt)
    aged = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGBA")
    return aged, {"faded": round(faded, 4), "stickers": stickers}


def _sky(rng: Rng, w: int, h: int) -> np.ndarray:
    top = _colour(
        rng, [(90, 140, 210), (170, 180, 190), (200, 210, 225), (120, 150, 190)][rng.integers(4)], 20
    )
    bottom = np.clip(top + rng.uniform(20, 70), 0, 255)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = top * (1 - t) + bottom * t
    cloud = np.clip((smooth_noise(rng, w, h, int(rng.integers(2, 7))) - rng.uniform(0.3, 0.8)) * 3, 0, 1)[
        ..., None
    ]
    return img * (1 - cloud) + _colour(rng, (235, 235, 240), 10) * cloud


def _foliage(rng: Rng, w: int, h: int, gaps: bool = True) -> np.ndarray:
    base = _colour(rng, [(50, 80, 35), (80, 100, 45), (35, 55, 30), (110, 95, 60)][rng.integers(4)], 15)
    shade = 0.5 * smooth_noise(rng, w, h, int(rng.integers(3, 9))) + 0.5 * smooth_noise(
        rng, w, h, int(rng.integers(12, 30))
    )
    img = base * (0.45 + 1.1 * shade[..., None])
    if not gaps:
        return img
    holes = (smooth_noise(rng, w, h, int(rng.integers(6, 16))) > rng.uniform(0.8, 0.97))[..., None]
    return np.where(holes, _colour(rng, (200, 215, 230), 20), img)


def _asphalt(rng: Rng, w: int, h: int) -> np.ndarray:
    base = _colour(rng, (100, 100, 102), 4) * rng.uniform(0.6, 1.4)
    return base * (0.8 + 0.4 * smooth_noise(rng, w, h, 4)[..., None]) + rng.normal(0, 9, (h, w, 1))


def _building(rng: Rng, w: int, h: int) -> np.ndarray:
    img = Image.new("RGB", (w, h), tuple(int(c) for c in _colour(rng, (165, 140, 120), 45)))
    d, cell = ImageDraw.Draw(img), max(4.0, rng.uniform(0.15, 0.5) * min(w, h))
    window = tuple(int(c) for c in _colour(rng, (60, 70, 85), 25))
    ox, oy = rng.uniform(0, cell, 2)
    for gx in np.arange(-ox, w, cell):
        for gy in np.arange(-oy, h, cell):
            d.rectangle((gx + 0.2 * cell, gy + 0.15 * cell, gx + 0.75 * cell, gy + 0.8 * cell), fill=window)
    arr = np.asarray(img, np.float32)
    return arr * (0.85 + 0.3 * smooth_noise(rng, w, h, 3)[..., None])


def _texture(rng: Rng, w: int, h: int) -> np.ndarray:
    cells = int(rng.integers(2, 16))
    colour = np.stack([smooth_noise(rng, w, h, cells) for _ in range(3)], axis=-1)
    colour = colour.mean(axis=-1, keepdims=True) + rng.uniform(0.2, 1.0) * (
        colour - colour.mean(axis=-1, keepdims=True)
    )
    texture: np.ndarray = colour * rng.uniform(80, 255)
    return texture


def _clutter(rng: Rng, w: int, h: int) -> np.ndarray:
    img = Image.new("RGB", (w, h), tuple(int(c) for c in _colour(rng, (120, 120, 120), 50)))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 14))):
        x, y = rng.uniform(-0.2, 1.0, 2) * (w, h)
        ew, eh = rng.uniform(0.1, 0.6, 2) * (w, h)
        fill = tuple(int(c) for c in _colour(rng, (128, 128, 128), 70))
        (d.rectangle if rng.random() < 0.6 else d.ellipse)((x, y, x + ew, y + eh), fill=fill)
    return np.asarray(img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3) * min(w, h) / 64)), np.float32)


def _branches(rng: Rng, w: int, h: int) -> np.ndarray:
    """Bare trees against the sky, as behind many roadside signs in winter."""
    img = Image.fromarray(np.clip(_sky(rng, w, h), 0, 255).astype(np.uint8))
    d, ink = ImageDraw.Draw(img), tuple(int(c) for c in _grey(rng, 55, 20, 6))

    def grow(x: float, y: float, angle: float, length: float, width: float, depth: int) -> None:
        x2, y2 = x + length * np.cos(angle), y - length * np.sin(angle)
        d.line((x, y, x2, y2), fill=ink, width=max(1, round(width)))
        if depth > 0 and length > 2:
            for _ in range(2):
                grow(
                    x2,
                    y2,
                    angle + rng.normal(0, 0.55),
                    length * rng.uniform(0.55, 0.8),
                    width * 0.65,
                    depth - 1,
                )

    for _ in range(int(rng.integers(1, 6))):  # up to five crowns, some dense enough to fill the sky
        grow(rng.uniform(0, w), 1.05 * h, rng.uniform(np.pi / 3, 2 * np.pi / 3), rng.uniform(0.3, 0.6) * h,
             rng.uniform(0.015, 0.06) * w, int(rng.integers(5, 9)))  # fmt: skip
    return np.asarray(img, np.float32)


def _dead_leaves(rng: Rng, w: int, h: int) -> np.ndarray:
    """Overlapping discs and boxes with power-law sizes ("dead leaves"): edges and occlusions at every scale,
    with the statistics of natural photos, in colours of foliage, bark, stone, sky and paint."""
    img = Image.new("RGB", (w, h), tuple(int(c) for c in _colour(rng, (110, 110, 100), 40)))
    d = ImageDraw.Draw(img)
    palette = [(60, 90, 40), (95, 80, 60), (130, 130, 125), (175, 190, 210), (200, 195, 180), (40, 40, 45),
               (150, 120, 70)]  # fmt: skip
    side, small, large = max(w, h), 0.015, 0.6
    for _ in range(int(rng.integers(300, 600))):  # radii with density ~ r^-3 between small and large
        r = side * (small**-2 - rng.random() * (small**-2 - large**-2)) ** -0.5
        x, y = rng.uniform(-r, w + r), rng.uniform(-r, h + r)
        base = palette[rng.integers(len(palette))] if rng.random() < 0.9 else rng.uniform(0, 255, 3)
        fill = tuple(
            int(c) for c in np.clip(np.array(base) * rng.uniform(0.6, 1.3) + rng.normal(0, 12, 3), 0, 255)
        )
        box = (x - r, y - r * rng.uniform(0.3, 1.5), x + r, y + r * rng.uniform(0.3, 1.5))
        (d.ellipse if rng.random() < 0.6 else d.rectangle)(box, fill=fill)
    return np.asarray(img, np.float32)


def _spectral(rng: Rng, w: int, h: int) -> np.ndarray:
    """Noise with a 1/f^a power spectrum (a in 1-2, like photos), colours correlated across channels."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    amplitude = f ** -rng.uniform(1.0, 2.0)
    amplitude[0, 0] = 0.0
    layers = []
    for _ in range(4):
        phase = np.exp(2j * np.pi * rng.random(amplitude.shape))
        layer = np.fft.irfft2(amplitude * phase, s=(h, w))
        layers.append(layer / (layer.std() + 1e-8))
    chroma = rng.uniform(0.05, 0.35) * np.stack(layers[1:], axis=-1)
    colour = layers[0][..., None] + chroma  # mostly luminance, a little colour
    noise: np.ndarray = (_colour(rng, (120, 120, 115), 40) + colour * rng.uniform(15, 50)).astype(np.float32)
    return noise


_BACKGROUNDS = {"sky": _sky, "foliage": _foliage, "asphalt": _asphalt, "building": _building,
                "texture": _texture, "clutter": _clutter, "branches": _branches, "leaves": _dead_leaves,
                "spectral": _spectral}  # fmt: skip


def background(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, str]:
    """A random background (h, w, 3) float array in [0, 255] and its kind; `split` stacks two kinds."""
    kind = _pick(rng, {"sky": 2, "foliage": 2, "asphalt": 0.7, "building": 1.5, "texture": 1, "clutter": 1.2,
                       "branches": 1.2, "leaves": 1.5, "spectral": 1, "split": 1.8})  # fmt: skip
    if kind != "split":
        return np.clip(_BACKGROUNDS[kind](rng, w, h), 0, 255), kind
    upper, lower = (
        _sky(rng, w, h),
        _BACKGROUNDS[_pick(rng, {"foliage": 2, "building": 1, "clutter": 1, "leaves": 1})](rng, w, h),
    )
    edge = h * rng.uniform(0.1, 0.9) + h * 0.3 * (smooth_noise(rng, w, 1, 5)[0] - 0.5)
    below = (np.arange(h)[:, None] > edge[None, :])[..., None]
    return np.clip(np.where(below, lower, upper), 0, 255), kind


@functools.lru_cache(maxsize=2)
def _font(size: int = 48) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def distractor(rng: np.random.Generator) -> tuple[Image.Image, str]:
    """An unrelated sign (not stop, not warning) for `none` crops and scene clutter."""
    kind = _pick(rng, {"blue-round": 1, "blue-square": 1, "no-entry": 0.8, "speed-limit": 1, "plate": 1,
                       "parking": 0.7, "direction": 0.7, "sign-back": 1.5, "no-turn": 0.7})  # fmt: skip
    s = 96
    img = Image.new("RGBA", (s, s if kind not in ("plate", "direction") else s // 2), (0, 0, 0, 0))
    d, w, h = ImageDraw.Draw(img), img.size[0] - 1, img.size[1] - 1
    blue, red, white = (20, 70, 160, 255), (200, 30, 40, 255), (240, 240, 235, 255)
    if kind == "sign-back":  # the plain metal back of a sign facing the other way, seen on many poles
        return _sign_back(rng, img), kind
    if kind == "no-turn":  # prohibitory: red ring and slash over a black arrow (no turn, no U-turn)
        d.ellipse((0, 0, w, h), fill=red)
        d.ellipse((10, 10, w - 10, h - 10), fill=white)
        arrow = [(58, 78), (58, 40), (34, 40), (34, 30), (18, 46), (34, 62), (34, 52), (46, 52), (46, 78)]
        d.polygon([(s - x, y) for x, y in arrow] if rng.random() < 0.5 else arrow, fill=(20, 20, 20, 255))
        d.line((20, 20, 76, 76), fill=red, width=10)
    elif kind == "blue-round":
        d.ellipse((0, 0, w, h), fill=blue)
        d.polygon([(48, 14), (74, 46), (56, 46), (56, 80), (40, 80), (40, 46), (22, 46)], fill=white)
    elif kind == "blue-square":
        d.rectangle((0, 0, w, h), fill=blue)
        d.polygon([(48, 12), (86, 84), (10, 84)], fill=white)
    elif kind == "no-entry":
        d.ellipse((0, 0, w, h), fill=red)
        d.rectangle((14, 38, 82, 58), fill=white)
    elif kind == "speed-limit":
        d.ellipse((0, 0, w, h), fill=red)
        d.ellipse((12, 12, w - 12, h - 12), fill=white)
        d.text(
            (48, 50), str(int(rng.integers(2, 10)) * 10), font=_font(), fill=(20, 20, 20, 255), anchor="mm"
        )
    elif kind == "parking":
        d.rectangle((0, 0, w, h), fill=blue)
        d.text((48, 50), "P", font=_font(), fill=white, anchor="mm", stroke_width=3, stroke_fill=white)
    else:
        bg = (30, 120, 60, 255) if kind == "direction" and rng.random() < 0.5 else white
        d.rectangle((0, 0, w, h), fill=bg)
        ink = white if bg != white else (20, 20, 20, 255)
        d.text((48, 24), ["ONE WAY", "NO TURN", "EXIT", "ZONE"][rng.integers(4)], font=_font(20), fill=ink,
               anchor="mm", stroke_width=1, stroke_fill=ink)  # fmt: skip
    return img, kind


def _sign_back(rng: np.random.Generator, img: Image.Image) -> Image.Image:
    """A grey metal disc, diamond, triangle or rectangle with a darker rim and a dull sheen."""
    s = img.size[0]
    # no octagons: in greyscale a plain octagon is too close to a stop sign whose legend is lost to blur
    shape = _pick(rng, {"disc": 3, "rectangle": 1.5, "diamond": 0.5, "triangle": 0.5})
    c, r = s / 2, s / 2 - 1
    if shape == "disc":
        pts = [(c + r * np.cos(a), c + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 40, endpoint=False)]
    elif shape == "diamond":
        pts = [(c, 0), (s - 1, c), (c, s - 1), (0, c)]
    elif shape == "triangle":
        pts = (
            [(c, 2), (s - 1, s - 12), (0, s - 12)]
            if rng.random() < 0.6
            else [(0, 12), (s - 1, 12), (c, s - 2)]
        )
    else:
        pts = [(0, 0.2 * s), (s - 1, 0.2 * s), (s - 1, 0.8 * s), (0, 0.8 * s)]
    grey = np.clip(_grey(rng, 165, 30, 5), 40, 235)
    d = ImageDraw.Draw(img)
    d.polygon(pts, fill=(*(int(v) for v in grey * 0.75), 255))
    inner = [(c + 0.93 * (x - c), c + 0.93 * (y - c)) for x, y in pts]
    d.polygon(inner, fill=(*(int(v) for v in grey), 255))
    if rng.random() < 0.6:  # the bracket that holds it to the pole
        d.rectangle((c - 4, 0.25 * s, c + 4, 0.75 * s), fill=(*(int(v) for v in grey * 0.6), 255))
    arr = np.asarray(img, np.float32).copy()
    sheen = 0.8 + 0.4 * smooth_noise(rng, s, s, 3)[..., None]
    arr[..., :3] *= sheen
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGBA")


def _quad(rng: np.random.Generator, aspect: float, rotation: float) -> np.ndarray:
    """Corners (4, 2) of a sign of width/height `aspect`, turned in 3D and rotated, around the origin."""
    x, y = np.array([-1, 1, 1, -1]) * aspect / 2, np.array([-1, -1, 1, 1]) / 2
    yaw, pitch = rng.normal(0, 0.35), rng.normal(0, 0.15)
    z = 1 + 0.5 * np.sin(yaw) * x / aspect + 0.5 * np.sin(pitch) * y
    x, y = x * np.cos(yaw) / z, y * np.cos(pitch) / z
    r = np.deg2rad(rotation)
    return np.stack([x * np.cos(r) - y * np.sin(r), x * np.sin(r) + y * np.cos(r)], axis=1)


def _paste(canvas: Image.Image, sign: Image.Image, quad: np.ndarray) -> np.ndarray:
    """Warps `sign` onto the corners `quad` of `canvas` (in place); returns the sign's coverage (h, w) in [0, 1]."""
    qw, qh = np.ptp(quad, axis=0)
    sign = sign.resize((max(2, round(qw * 1.2)), max(2, round(qh * 1.2))), Image.Resampling.LANCZOS).convert(
        "RGBa"
    )
    sw, sh = sign.size
    rows = []
    for (x, y), (u, v) in zip(quad, [(0, 0), (sw, 0), (sw, sh), (0, sh)], strict=True):
        rows += [([x, y, 1, 0, 0, 0, -u * x, -u * y], u), ([0, 0, 0, x, y, 1, -v * x, -v * y], v)]
    coeffs = np.linalg.solve(np.array([r for r, _ in rows]), np.array([b for _, b in rows]))
    warped = sign.transform(
        canvas.size, Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BICUBIC
    ).convert("RGBA")
    canvas.alpha_composite(warped)
    return np.asarray(warped.getchannel("A"), np.float32) / 255


def _post(d: ImageDraw.ImageDraw, rng: Rng, x: float, y0: float, y1: float, width: float) -> None:
    grey = tuple(int(c) for c in _colour(rng, (130, 130, 125), 30))
    d.rectangle((x - width / 2, y0, x + width / 2, y1), fill=grey)


def _occlude(rng: Rng, canvas: Image.Image, box: tuple[float, float, float, float]) -> str:
    """Covers part of the sign's box with foliage, a pole or an object edge; returns what it drew."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    d, kind = ImageDraw.Draw(canvas), _pick(rng, {"foliage": 2, "pole": 1, "edge": 1})
    if kind == "foliage":
        cx, cy = (x0, y0) + rng.uniform(0, 1, 2) * (bw, bh)
        for _ in range(int(rng.integers(4, 10))):
            px, py = cx + rng.normal(0, 0.15 * bw), cy + rng.normal(0, 0.15 * bh)
            r = rng.uniform(0.05, 0.14) * bw
            d.ellipse(
                (px - r, py - r, px + r, py + r), fill=tuple(int(c) for c in _colour(rng, (55, 85, 35), 20))
            )
    elif kind == "pole":
        x, pw = x0 + rng.uniform(0.1, 0.9) * bw, rng.uniform(0.03, 0.08) * bw
        d.rectangle(
            (x - pw, y0 - bh, x + pw, y1 + bh), fill=tuple(int(c) for c in _colour(rng, (90, 90, 90), 40))
        )
    else:
        side, depth = rng.integers(4), rng.uniform(0.15, 0.35)
        fill = tuple(int(c) for c in _colour(rng, (100, 100, 100), 60))
        d.rectangle([(x0 - bw, y0 - bh, x0 + depth * bw, y1 + bh), (x1 - depth * bw, y0 - bh, x1 + bw, y1 + bh),
                     (x0 - bw, y0 - bh, x1 + bw, y0 + depth * bh), (x0 - bw, y1 - depth * bh, x1 + bw, y1 + bh)][side],
                    fill=fill)  # fmt: skip
    return kind


# Sign side / crop side per crop kind: "tight" like LISA boxes, "margin" like GTSRB's ~10 % border, and
# "context": a window of a road scene with the sign small in it, as the multi-crop windows of a whole photo
# see it; "partial": a window cutting through a sign larger than itself (still that sign). Background-only
# crops are mostly scene windows, so that the model learns "no sign" there.
CROP_FRACTIONS = {"tight": (0.9, 1.06), "margin": (0.6, 0.9), "context": (0.2, 0.6), "partial": (1.15, 1.8)}
CROP_WEIGHTS = {"tight": 0.4, "margin": 0.4, "context": 0.14, "partial": 0.06}
BACKGROUND_CROP_WEIGHTS = {"tight": 0.25, "margin": 0.25, "context": 0.5}


def scene_window(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A w x h window cut from a road scene drawn 1.5-5 times larger: verge, trees, road, cars, sky."""
    zoom = float(np.exp(rng.uniform(np.log(1.5), np.log(5))))
    big_w, big_h = max(w + 1, round(w * zoom)), max(h + 1, round(h * zoom))
    scene, _ = _road_scene(rng, big_w, big_h)
    left, top = int(rng.integers(0, big_w - w + 1)), int(rng.integers(0, big_h - h + 1))
    return np.asarray(scene.convert("RGB"), np.float32)[top : top + h, left : left + w]


def compose_crop(
    rng: np.random.Generator, sign: Image.Image | None, width: int, height: int
) -> tuple[Image.Image, dict[str, Any]]:
    """A crop around `sign` (None: background only), tight, with a margin or in context; through the camera."""
    crop = _pick(rng, CROP_WEIGHTS if sign is not None else BACKGROUND_CROP_WEIGHTS)
    smallest = 24 if crop == "context" else 7  # a context window of 7 px would hold an invisible sign
    low_res = int(round(np.exp(rng.uniform(np.log(smallest), np.log(48))))) if rng.random() < 0.5 else 0
    low_res = low_res if low_res < min(width, height) else 0
    scale = low_res / min(width, height) if low_res else 1.0
    w, h = max(4, round(width * scale)), max(4, round(height * scale))
    bg, bg_kind = (scene_window(rng, w, h), "road") if crop == "context" else background(rng, w, h)
    canvas = Image.fromarray(bg.astype(np.uint8)).convert("RGBA")
    fraction = rng.uniform(*CROP_FRACTIONS[crop])
    other = ""
    if sign is None and rng.random() < 0.35:
        sign, other = distractor(rng)
    rotation = float(rng.normal(0, 5) if rng.random() < 0.85 else rng.uniform(-30, 30))
    size = fraction * min(w, h)
    quad = _quad(rng, sign.size[0] / sign.size[1] if sign else 1.0, rotation)
    quad *= size / np.ptp(quad, axis=0).max()
    slack = np.maximum(0, (w, h) - np.ptp(quad, axis=0)) / 2
    centre = np.array([w, h]) / 2 + rng.uniform(-0.7, 0.7, 2) * slack + rng.normal(0, 0.02 * size, 2)
    if crop == "partial":
        centre += rng.uniform(-0.3, 0.3, 2) * size
    quad += centre
    d = ImageDraw.Draw(canvas)
    post = rng.random() < 0.45
    if post:
        _post(
            d, rng, centre[0], min(centre[1], h), h, rng.uniform(0.05, 0.1) * size
        )  # partial: centre may be below
    if rng.random() < 0.1:  # an additional plate under the sign, as on many real poles
        top = quad[:, 1].max() + 0.03 * size
        d.rectangle((centre[0] - 0.4 * size, top, centre[0] + 0.4 * size, top + 0.3 * size),
                    fill=tuple(int(c) for c in _colour(rng, (230, 230, 225), 15)))  # fmt: skip
    mask = _paste(canvas, sign, quad) if sign is not None else np.zeros((h, w), np.float32)
    occluded = ""
    if sign is not None and rng.random() < 0.15:
        occluded = _occlude(rng, canvas, (*quad.min(axis=0), *quad.max(axis=0)))
    if other:
        mask[:] = 0  # a distractor is background to the classifier, lit like the background
    drawn = not other and sign is not None
    x0, y0, x1, y1 = np.concatenate([quad.min(axis=0), quad.max(axis=0)]) / scale
    attrs = {"background": bg_kind, "crop": crop, "sign_fraction": round(float(size / min(w, h)) * drawn, 4),
             "rotation": round(rotation * drawn, 2), "sign_box": f"{x0:.0f},{y0:.0f},{x1:.0f},{y1:.0f}" if drawn else "",
             "post": post, "occluded": occluded, "distractor": other, "low_res": low_res}  # fmt: skip
    image, camera = _camera(rng, canvas.convert("RGB"), mask, width, height, scene=False)
    return image, {**attrs, **camera}


def _road_scene(rng: Rng, w: int, h: int) -> tuple[Image.Image, float]:
    """A road under a sky, with trees or buildings at the horizon, grass, lane markings and cars."""
    horizon = h * rng.uniform(0.35, 0.6)
    img = np.where(
        np.arange(h)[:, None, None] < horizon, _sky(rng, w, h), _foliage(rng, w, h, gaps=False) * 0.9 + 15
    )
    band = _foliage(rng, w, h) if rng.random() < 0.6 else _building(rng, w, h)
    skyline = horizon - h * rng.uniform(0.05, 0.3) * (
        0.3 + smooth_noise(rng, w, 1, int(rng.integers(3, 12)))[0]
    )
    rows = np.arange(h)[:, None]
    img = np.where(((rows > skyline) & (rows < horizon + 2))[..., None], band, img)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    vx = w * rng.uniform(0.3, 0.7)
    road_mask = Image.new("L", (w, h))
    road = [
        (vx - 0.01 * w, horizon),
        (vx + 0.01 * w, horizon),
        (w * rng.uniform(0.9, 1.4), h),
        (w * rng.uniform(-0.4, 0.1), h),
    ]
    ImageDraw.Draw(road_mask).polygon(road, fill=255)
    canvas.paste(Image.fromarray(np.clip(_asphalt(rng, w, h), 0, 255).astype(np.uint8)), (0, 0), road_mask)
    d = ImageDraw.Draw(canvas)
    bottom_mid = (road[2][0] + road[3][0]) / 2
    for t0 in np.arange(0.05, 1, 0.18):
        t1 = t0 + 0.08
        d.line([(vx + (bottom_mid - vx) * t0, horizon + (h - horizon) * t0),
                (vx + (bottom_mid - vx) * t1, horizon + (h - horizon) * t1)], fill=(225, 225, 215),
               width=max(1, round(0.012 * w * t1)))  # fmt: skip
    for _ in range(int(rng.integers(0, 4))):
        t = rng.uniform(0.05, 0.6)
        cw, cy = 0.5 * w * t, horizon + (h - horizon) * t
        cx = vx + (bottom_mid - vx) * t + rng.uniform(-0.6, 0.6) * cw
        body = tuple(
            int(c) for c in _colour(rng, (120, 120, 130) if rng.random() < 0.8 else (175, 30, 35), 50)
        )
        d.rounded_rectangle((cx - cw / 2, cy - 0.5 * cw, cx + cw / 2, cy), radius=0.1 * cw, fill=body)
        d.rectangle((cx - 0.38 * cw, cy - 0.45 * cw, cx + 0.38 * cw, cy - 0.28 * cw), fill=(40, 50, 60))
    return canvas.convert("RGBA"), horizon


def compose_scene(
    rng: np.random.Generator, sign: Image.Image | None, width: int, height: int
) -> tuple[Image.Image, dict[str, Any]]:
    """A road scene with the sign small (3-8 % of the width) on a post at the roadside, plus unrelated signs."""
    canvas, horizon = _road_scene(rng, width, height)
    d = ImageDraw.Draw(canvas)
    others = [distractor(rng) for _ in range(int(rng.integers(0, 4)))]
    placed = [(image, False) for image, _ in others] + ([(sign, True)] if sign is not None else [])
    mask, attrs = np.zeros((height, width), np.float32), {}
    for item, is_sign in placed:
        size = (rng.uniform(0.03, 0.08) if rng.random() < 0.75 else rng.uniform(0.08, 0.2)) * width
        x = width * (rng.uniform(0.04, 0.3) if rng.random() < 0.5 else rng.uniform(0.7, 0.96))
        x, y = (
            np.clip(x, 0.6 * size, width - 0.6 * size),
            max(0.7 * size, horizon - height * rng.uniform(0.0, 0.2)),
        )
        rotation = float(rng.normal(0, 3))
        quad = _quad(rng, item.size[0] / item.size[1], rotation)
        quad = quad * size / np.ptp(quad[:, 0]) + (x, y)
        _post(d, rng, x, y, horizon + height * rng.uniform(0.03, 0.2), max(1.0, 0.08 * size))
        coverage = _paste(canvas, item, quad)
        if is_sign:
            mask = coverage
            x0, y0 = quad.min(axis=0)
            x1, y1 = quad.max(axis=0)
            attrs = {"sign_fraction": round(float((x1 - x0) / width), 4), "rotation": round(rotation, 2),
                     "sign_box": f"{x0:.0f},{y0:.0f},{x1:.0f},{y1:.0f}"}  # fmt: skip
    attrs = {"background": "road", "crop": "scene", "sign_fraction": 0.0, "rotation": 0.0, "sign_box": "",
             **attrs, "post": sign is not None, "occluded": "", "distractor": "+".join(kind for _, kind in others),
             "low_res": 0}  # fmt: skip
    image, camera = _camera(rng, canvas.convert("RGB"), mask, width, height, scene=True)
    return image, {**attrs, **camera}


def _camera(
    rng: Rng, image: Image.Image, mask: np.ndarray, width: int, height: int, scene: bool
) -> tuple[Image.Image, dict[str, Any]]:
    """Lighting, shadow, glare, colour, blur, noise, greyscale, JPEG, then resize to width x height."""
    w, h = image.size
    lighting = _pick(rng, {"day": 6, "overcast": 1.5, "dusk": 1, "night": 0.8, "backlit": 0.7})
    bg_gain, sign_gain = {"day": (1.0, 1.0), "overcast": (0.8, 0.85), "dusk": (0.55, 0.6), "night": (0.15, 0.8),
                          "backlit": (1.3, 0.45)}[lighting]  # fmt: skip
    # dash cameras often underexpose: a yellow diamond turns brown, a red octagon maroon
    exposure = float(2 ** (rng.uniform(-2.0, -0.8) if rng.random() < 0.3 else rng.uniform(-0.8, 0.6)))
    m = mask[..., None]
    img = np.asarray(image, np.float32) * (exposure * (bg_gain * (1 - m) + sign_gain * m))
    shadow = rng.random() < 0.2
    if shadow:
        angle, offset = rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.3)
        yy, xx = np.mgrid[0:h, 0:w] / max(w, h) - 0.5
        side = np.clip(((np.cos(angle) * xx + np.sin(angle) * yy) - offset) * rng.uniform(10, 40), 0, 1)
        img *= 1 - rng.uniform(0.3, 0.6) * side[..., None]
    cast = np.exp(rng.normal(0, 0.15 if rng.random() < 0.25 else 0.06, 3))
    cast *= {"dusk": (1.12, 0.97, 0.8), "night": (1.1, 0.95, 0.75), "overcast": (0.95, 1.0, 1.07)}.get(
        lighting, 1
    )
    img *= cast
    saturation = float(rng.uniform(0.35, 1.3))
    grey = img.mean(axis=-1, keepdims=True)
    img = grey + saturation * (img - grey)
    haze = float(rng.uniform(0.1, 0.4)) if rng.random() < 0.2 else 0.0
    img = img * (1 - haze) + _colour(rng, (200, 205, 215), 25) * haze
    glare = rng.random() < 0.1
    if glare:
        yy, xx = np.mgrid[0:h, 0:w]
        gx, gy, gr = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.6) * max(w, h)
        img += rng.uniform(40, 150) * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * gr**2))[..., None]
    gamma = float(rng.uniform(0.75, 1.35))
    img = 255 * (np.clip(img, 0, 255) / 255) ** gamma
    out = Image.fromarray(img.astype(np.uint8))
    blur_kind = _pick(rng, {"none": 1.5, "gaussian": 1.2, "motion": 0.4})
    blur = (
        float(rng.uniform(0.2, 0.6) + rng.uniform(0, 0.008 if scene else 0.025) * min(w, h))
        if blur_kind != "none"
        else 0.0
    )
    if blur_kind == "gaussian":
        out = out.filter(ImageFilter.GaussianBlur(blur))
    elif blur_kind == "motion":
        steps, angle = max(2, round(2 * blur + 1)), rng.uniform(0, np.pi)
        arr: np.ndarray = np.asarray(out, np.float32)
        shifts = [(round(k * np.sin(angle)), round(k * np.cos(angle))) for k in range(steps)]
        out = Image.fromarray(
            np.mean([np.roll(arr, s, axis=(0, 1)) for s in shifts], axis=0).astype(np.uint8)
        )
    greyscale = rng.random() < 0.25
    arr = np.asarray(out, np.float32)
    grey_red = 0.0
    if greyscale:
        mode = _pick(rng, {"red": 0.7, "luma": 0.1, "random": 0.2})  # greyscale cameras see red as light
        weights = {"red": None, "luma": np.array([0.299, 0.587, 0.114]), "random": rng.dirichlet((1, 1, 1))}[
            mode
        ]
        if weights is None:
            red = rng.uniform(0.55, 0.9)
            weights = np.array([red, *(1 - red) * rng.dirichlet((2, 1))])
        grey_red = float(weights[0])
        arr = (arr @ weights.astype(np.float32))[..., None]
    noise = (
        float(2 ** rng.uniform(0, 3.6) * (2 if lighting == "night" else 1)) if rng.random() < 0.85 else 0.0
    )
    arr = arr + rng.normal(0, noise, arr.shape) if noise else arr
    pattern = rng.random() < (0.4 if greyscale else 0.1)
    if pattern:  # the mesh that the LISA cameras' sensors leave on small crops
        yy, xx = np.mgrid[0:h, 0:w]
        arr = arr * (1 + rng.uniform(0.04, 0.14) * (((xx + yy) % 2) * 2 - 1))[..., None]
    out = Image.fromarray(np.clip(arr[..., 0] if greyscale else arr, 0, 255).astype(np.uint8))
    jpeg_quality = int(rng.integers(15, 95)) if rng.random() < 0.6 else 0
    if jpeg_quality:
        buffer = io.BytesIO()
        out.save(buffer, "JPEG", quality=jpeg_quality)
        out = Image.open(io.BytesIO(buffer.getvalue()))
        out.load()
    if out.size != (width, height):
        out = out.resize(
            (width, height),
            [Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC][
                rng.choice(3, p=[0.15, 0.5, 0.35])
            ],
        )
    attrs = {"lighting": lighting, "exposure": round(exposure, 4), "shadow": shadow, "glare": glare,
             "saturation": round(saturation, 4), "haze": round(haze, 4), "blur": round(blur, 4),
             "blur_kind": blur_kind, "noise": round(noise, 4), "greyscale": greyscale, "grey_red": round(grey_red, 4),
             "sensor_pattern": pattern, "jpeg_quality": jpeg_quality}  # fmt: skip
    return out.convert("RGB"), attrs
