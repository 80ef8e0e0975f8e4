"""Synthetic face masks drawn from the 5 landmarks, for the masked protocols and masked enrolment.

The 5-point model gives the eye corners and the base of the nose; a mask's outline is laid out in
the face's own frame: origin between the eye centres, ``x`` along the eye line and ``y`` down the
face, both in units of the eye-centre distance ``D``. The top edge sits on the nose bridge
(:attr:`MaskSpec.top`, a share of the eyes-to-nose-base distance), the sides near the cheeks
(:attr:`MaskSpec.width`), the bottom under the chin (:attr:`MaskSpec.chin`, in ``D``). Styles:
``surgical`` (light blue, pleats, ear loops), ``white``, ``cloth`` (black) and ``patterned``
(a coloured print). The fill is shaded by the photo's own brightness under the mask, so a
lit side stays lit. Everything is seeded: the same file and seed give the same mask.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

from .errors import InvalidInput
from .imageio import RGBImage

__all__ = ["MASK_STYLES", "MaskSpec", "draw_mask", "mask_for", "mask_outline", "random_mask"]

MASK_STYLES = ("surgical", "white", "cloth", "patterned")
_COLOURS = {
    "surgical": (128, 178, 214),
    "white": (236, 236, 232),
    "cloth": (34, 34, 38),
}
_PRINTS = ((190, 40, 60), (40, 90, 160), (60, 120, 70), (220, 170, 60), (120, 60, 130))
_SUPERSAMPLE = 3
_WHOLE = 2_000_000  # photos up to this many pixels are drawn on whole


@dataclass(frozen=True)
class MaskSpec:
    """One mask: its style, where it sits, and (for ``patterned``) its print colours."""

    style: str = "surgical"
    #: Top edge on the nose bridge, as a share of the eyes-to-nose-base distance (0.35 high ... 0.75 low).
    top: float = 0.5
    #: Bottom edge below the eyes, in eye-centre distances (1.75 at the chin ... 2.2 under it).
    chin: float = 1.95
    #: Half the width at the cheeks, in eye-centre distances.
    width: float = 1.05
    base: tuple[int, int, int] = (128, 178, 214)
    ink: tuple[int, int, int] = (255, 255, 255)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.style not in MASK_STYLES:
            raise InvalidInput(f"unknown mask style {self.style!r}; choose one of: {', '.join(MASK_STYLES)}")


def random_mask(rng: np.random.Generator, style: str | None = None) -> MaskSpec:
    """A mask of ``style`` (default: any) with its height, chin and fit drawn from ``rng``."""
    chosen = style or str(rng.choice(MASK_STYLES))
    base = _COLOURS.get(chosen, (0, 0, 0))
    ink = (255, 255, 255)
    if chosen == "patterned":
        a, b = rng.choice(len(_PRINTS), size=2, replace=False)
        base, ink = _PRINTS[int(a)], _PRINTS[int(b)]
        if rng.random() < 0.5:
            ink = (245, 245, 240)
    jitter = rng.integers(-10, 11, size=3)
    base = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter, strict=True))  # type: ignore[assignment]
    return MaskSpec(
        style=chosen,
        top=float(rng.uniform(0.35, 0.7)),
        chin=float(rng.uniform(1.75, 2.2)),
        width=float(rng.uniform(0.95, 1.2)),
        base=base,
        ink=ink,
        seed=int(rng.integers(0, 2**31)),
    )


def mask_for(key: str, seed: int = 0, style: str | None = None) -> MaskSpec:
    """The mask for ``key`` (e.g. a file name) under ``seed``: reproducible across runs and processes."""
    return random_mask(np.random.default_rng([zlib.crc32(key.encode("utf-8")), seed]), style)


def _frame(
    landmarks: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float, float]:
    """Origin (between the eye centres), unit axes across and down the face, ``D``, nose depth."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (5, 2):
        raise InvalidInput(f"expected (5, 2) landmarks, got shape {pts.shape}")
    a, b = pts[0:2].mean(axis=0), pts[2:4].mean(axis=0)
    if a[0] > b[0]:
        a, b = b, a
    eyes = float(np.linalg.norm(b - a))
    if eyes < 2.0:
        raise InvalidInput("the eyes are too close together to place a mask")
    across = (b - a) / eyes
    down = np.array([-across[1], across[0]])
    origin = (a + b) / 2
    if float(np.dot(pts[4] - origin, down)) < 0:
        down = -down
    depth = max(float(np.dot(pts[4] - origin, down)), 0.3 * eyes)
    return origin, across, down, eyes, depth


def mask_outline(landmarks: NDArray[np.float64], spec: MaskSpec, points: int = 48) -> NDArray[np.float64]:
    """The mask's outline in image pixels, a closed polygon of (x, y) points."""
    origin, across, down, eyes, depth = _frame(landmarks)
    top = spec.top * depth / eyes  # in D
    w, chin = spec.width, spec.chin
    outline: list[tuple[float, float]] = []
    # top edge: a shallow arch peaking over the nose bridge, dropping towards the cheeks
    for x in np.linspace(-w, w, points // 2):
        outline.append((x, top + 0.22 * (x / w) ** 2))
    # right side then round the chin to the left side: an ellipse-like lower half
    side = top + 0.22
    for t in np.linspace(0.0, math.pi, points // 2)[1:-1]:
        x = w * math.cos(t) * (0.78 + 0.22 * math.cos(t) ** 2)
        y = side + (chin - side) * math.sin(t) ** 0.8
        outline.append((x, y))
    local = np.array(outline) * eyes
    return origin + local[:, :1] * across + local[:, 1:] * down


def draw_mask(image: RGBImage, landmarks: NDArray[np.float64], spec: MaskSpec) -> RGBImage:
    """``image`` with ``spec``'s mask drawn over the face whose 5 landmarks are given (a new array)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInput(f"expected an RGB image, got shape {image.shape}")
    outline = mask_outline(landmarks, spec)
    _, across, down, eyes, _ = _frame(landmarks)
    # in a large photo (over 2 MP: a phone photo, not a face crop such as LFW's, which is drawn
    # whole and so exactly as the measured protocols drew it) much larger than the mask, work on
    # the mask's surroundings only: its box, grown by an eye distance for the ear loops and the blur
    x0, y0 = (max(0, math.floor(v - eyes)) for v in outline.min(axis=0))
    x1 = min(image.shape[1], math.ceil(outline[:, 0].max() + eyes))
    y1 = min(image.shape[0], math.ceil(outline[:, 1].max() + eyes))
    if (
        image.shape[0] * image.shape[1] <= _WHOLE
        or (x1 - x0) * (y1 - y0) * 4 > image.shape[0] * image.shape[1]
    ):
        x0, y0, x1, y1 = 0, 0, image.shape[1], image.shape[0]
    out = image.copy()
    if x1 - x0 < 2 or y1 - y0 < 2:
        return out
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    local = outline - (x0, y0)
    height, width = crop.shape[:2]
    k = _SUPERSAMPLE
    shape = Image.new("L", (width * k, height * k), 0)
    ImageDraw.Draw(shape).polygon([(float(x) * k, float(y) * k) for x, y in local], fill=255)
    alpha = np.asarray(shape.resize((width, height), Image.Resampling.BOX), dtype=np.float64) / 255.0
    if not alpha.any():
        return out
    fill = _fill(crop, alpha, spec, local, across, down, eyes)
    drawn = crop.astype(np.float64) * (1 - alpha[..., None]) + fill * alpha[..., None]
    drawn = _ear_loops(drawn, local, spec, eyes)
    out[y0:y1, x0:x1] = np.clip(drawn + 0.5, 0, 255).astype(np.uint8)
    return out


def _fill(
    image: RGBImage,
    alpha: NDArray[np.float64],
    spec: MaskSpec,
    outline: NDArray[np.float64],
    across: NDArray[np.float64],
    down: NDArray[np.float64],
    eyes: float,
) -> NDArray[np.float64]:
    """The mask's colour at every pixel: base colour or print, pleats, shaded by the photo's light."""
    height, width = image.shape[:2]
    rng = np.random.default_rng(spec.seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    centre = outline.mean(axis=0)
    u = ((xx - centre[0]) * across[0] + (yy - centre[1]) * across[1]) / eyes  # across, in D
    v = ((xx - centre[0]) * down[0] + (yy - centre[1]) * down[1]) / eyes  # down, in D
    colour = np.empty((height, width, 3))
    colour[:] = spec.base
    if spec.style == "patterned":
        period = rng.uniform(0.18, 0.3)
        if rng.random() < 0.5:  # dots
            du, dv = (u / period) % 1.0 - 0.5, (v / period) % 1.0 - 0.5
            ink = (du**2 + dv**2) < 0.06
        else:  # stripes at an angle
            angle = rng.uniform(0, math.pi)
            ink = ((u * math.cos(angle) + v * math.sin(angle)) / period) % 1.0 < 0.4
        colour[ink] = spec.ink
    if spec.style == "surgical":  # three horizontal pleats
        for offset in (-0.25, 0.0, 0.25):
            colour *= 1.0 - 0.18 * np.exp(-(((v - offset) / 0.025) ** 2))[..., None]
    if spec.style == "cloth":
        colour += rng.normal(0, 4.0, size=(height, width, 1))
    # light: the photo's own brightness under the mask, smoothed, relative to its mean there
    gray = np.asarray(Image.fromarray(image).convert("L"), dtype=np.float64)
    radius = max(1.0, eyes * 0.25)
    smooth = np.asarray(
        Image.fromarray(gray.astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius)), dtype=np.float64
    )
    inside = alpha > 0.5
    mean = float(smooth[inside].mean()) if inside.any() else 128.0
    light = np.clip(0.55 + 0.45 * smooth / max(mean, 1.0), 0.6, 1.25)
    curve = 1.0 - 0.12 * np.clip(np.abs(u) / 1.1, 0, 1) ** 2  # the mask turns away at the sides
    shaded: NDArray[np.float64] = colour * (light * curve)[..., None]
    return shaded


def _ear_loops(
    out: NDArray[np.float64], outline: NDArray[np.float64], spec: MaskSpec, eyes: float
) -> NDArray[np.float64]:
    """Thin loops from the mask's upper corners towards the ears (surgical and white masks)."""
    if spec.style not in ("surgical", "white"):
        return out
    height, width = out.shape[:2]
    n = len(outline)
    left, right = outline[0], outline[n // 2 - 1]
    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    thickness = max(1, round(eyes * 0.04))
    for corner, sign in ((left, -1.0), (right, 1.0)):
        far = corner + np.array([sign * 0.35 * eyes, -0.1 * eyes])
        draw.line([tuple(corner), tuple(far)], fill=200, width=thickness)
    a = np.asarray(layer, dtype=np.float64)[..., None] / 255.0
    loop = np.array([240.0, 240.0, 240.0])
    return out * (1 - a) + loop * a
