"""Phone-sized test photos composed in code from a seed: LFW faces pasted on varied backgrounds.

Nothing is committed but this code: the same seed and the same LFW folder give the same photo, the
same ground-truth boxes and the same identities. Used by the tests (small numbers of photos) and by
``bench/bench_detect.py`` and ``bench/bench_library.py`` (hundreds).

A face's ground-truth box is LFW's canonical face box (the median of dlib's HOG boxes over the
deep-funneled images, which are aligned, so the box barely moves: std 5-7 px) scaled and moved
with the pasted face. Its *size* is that box's width in the composed photo.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["LFW_FACE_BOX", "ComposedPhoto", "compose_photo", "compose_portrait", "lfw_files"]

#: dlib's HOG face box in a 250x250 deep-funneled LFW image (median over 299 images; left, top,
#: right, bottom, right/bottom exclusive). The face is about 109 px wide.
LFW_FACE_BOX = (67.0, 80.0, 176.0, 188.0)
_LFW_SIDE = 250
#: Strips of a 250x250 LFW image that miss its face box: top, bottom, left and right of it.
_STRIPS = ((0, 0, 250, 70), (0, 195, 250, 250), (0, 0, 60, 250), (185, 0, 250, 250))


@dataclass(frozen=True)
class ComposedPhoto:
    """A composed photo: its JPEG bytes, pixel size, the true face boxes and who each face is."""

    jpeg: bytes
    width: int
    height: int
    boxes: tuple[tuple[float, float, float, float], ...]
    people: tuple[str, ...]
    sources: tuple[str, ...]
    #: The pasted LFW squares, one per face (left, top, right, bottom). An LFW photo may show other
    #: people behind its subject: a detection inside a tile that is not the tile's face may be real.
    tiles: tuple[tuple[float, float, float, float], ...] = ()

    @property
    def sizes(self) -> tuple[float, ...]:
        return tuple(b[2] - b[0] for b in self.boxes)

    def rgb(self) -> NDArray[np.uint8]:
        return np.asarray(Image.open(io.BytesIO(self.jpeg)).convert("RGB"))


def lfw_files(lfw: Path) -> list[Path]:
    """Every LFW image under ``lfw`` (``Person/Person_0001.jpg``), sorted."""
    return sorted(lfw.glob("*/*.jpg"))


def _background(rng: np.random.Generator, width: int, height: int, files: list[Path]) -> Image.Image:
    """One of four kinds: a blurred, enlarged LFW photo (faces blurred away), a gradient with sensor
    noise, coloured shapes (sharp edges, texture a detector can mistake), or stripes and checks."""
    kind = int(rng.integers(4))
    if kind == 0:
        # Only a strip outside the face box (hair, clothes, scenery): the whole photo, blurred and
        # enlarged, kept a face-shaped blob that every detector found (a face of ~1400 px).
        src = Image.open(files[int(rng.integers(len(files)))]).convert("RGB")
        strip = _STRIPS[int(rng.integers(len(_STRIPS)))]
        small = src.crop(strip).resize((48, 36), Image.Resampling.BILINEAR)
        return small.resize((width, height), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(40))
    w, h = width // 8, height // 8  # drawn small, then enlarged: cheap and still has edges
    if kind == 1:
        c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0, 1, w)[None, :, None] * 0.6 + np.linspace(0, 1, h)[:, None, None] * 0.4
        arr = c0 * (1 - t) + c1 * t + rng.normal(0, 6, (h, w, 3))
        im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    else:
        im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(int(rng.integers(20, 60))):
            x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
            x1, y1 = x0 + int(rng.integers(5, w // 2)), y0 + int(rng.integers(5, h // 2))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            if kind == 2:
                (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
            else:
                draw.rectangle((x0, y0, x1, y0 + int(rng.integers(2, 8))), fill=colour)
    return im.resize((width, height), Image.Resampling.BILINEAR)


def _mask(side: int) -> Image.Image:
    """An elliptical alpha mask with a feathered edge, so a pasted face has no square seam."""
    m = Image.new("L", (side, side), 0)
    inset = side * 0.1
    ImageDraw.Draw(m).ellipse((inset, inset * 0.6, side - inset, side - inset * 0.3), fill=255)
    return m.filter(ImageFilter.GaussianBlur(max(1.0, side * 0.04)))


def compose_photo(
    lfw: Path,
    seed: int,
    *,
    width: int = 4032,
    height: int = 3024,
    faces: tuple[int, int] = (1, 10),
    sizes: tuple[float, float] = (40.0, 800.0),
    files: list[Path] | None = None,
    quality: int = 90,
) -> ComposedPhoto:
    """A ``width`` x ``height`` JPEG with between ``faces[0]`` and ``faces[1]`` LFW faces of different
    people, their sizes drawn log-uniformly from ``sizes`` (face-box width in pixels), not overlapping.
    """
    rng = np.random.default_rng(seed)
    files = files if files is not None else lfw_files(lfw)
    canvas = _background(rng, width, height, files)
    want = int(rng.integers(faces[0], faces[1] + 1))
    placed: list[tuple[float, float, float, float]] = []  # pasted tiles, to keep faces apart
    boxes: list[tuple[float, float, float, float]] = []
    people: list[str] = []
    sources: list[str] = []
    for _ in range(want * 20):
        if len(boxes) == want:
            break
        size = math.exp(rng.uniform(math.log(sizes[0]), math.log(sizes[1])))
        scale = size / (LFW_FACE_BOX[2] - LFW_FACE_BOX[0])
        side = round(_LFW_SIDE * scale)
        if side >= min(width, height):
            continue
        x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
        tile = (float(x), float(y), float(x + side), float(y + side))
        if any(tile[0] < p[2] and p[0] < tile[2] and tile[1] < p[3] and p[1] < tile[3] for p in placed):
            continue
        path = files[int(rng.integers(len(files)))]
        person = path.parent.name
        if person in people:
            continue
        face = Image.open(path).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
        canvas.paste(face, (x, y), _mask(side))
        placed.append(tile)
        k = side / _LFW_SIDE
        left, top, right, bottom = LFW_FACE_BOX
        boxes.append((x + left * k, y + top * k, x + right * k, y + bottom * k))
        people.append(person)
        sources.append(f"{person}/{path.name}")
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=quality)
    return ComposedPhoto(
        buf.getvalue(), width, height, tuple(boxes), tuple(people), tuple(sources), tuple(placed)
    )


def compose_portrait(
    photo: Path,
    seed: int,
    *,
    files: list[Path],
    sides: tuple[int, int] = (300, 640),
    sizes: tuple[float, float] = (40.0, 160.0),
    offset: float = 0.2,
    quality: int = 90,
) -> ComposedPhoto:
    """One LFW photo placed, whole, in a bigger un-centred photo: a stand-in for an original photo.

    The canvas's long side is drawn from ``sides`` (4:3 or 3:4), the face-box width log-uniformly
    from ``sizes``, and the face's centre lands up to ``offset`` of the canvas's size away from its
    centre. The LFW tile is pasted without a mask, so people beside the subject in the original
    crop stay in the photo (face choice is exercised), with a feathered edge (no sharp seam); parts
    of the tile past the canvas are cut off.
    """
    rng = np.random.default_rng(seed)
    long_side = int(rng.integers(sides[0], sides[1] + 1))
    short_side = long_side * 3 // 4
    width, height = (long_side, short_side) if rng.random() < 0.5 else (short_side, long_side)
    canvas = _background(rng, width, height, files)
    size = math.exp(rng.uniform(math.log(sizes[0]), math.log(sizes[1])))
    k = size / (LFW_FACE_BOX[2] - LFW_FACE_BOX[0])
    side = max(8, round(_LFW_SIDE * k))
    k = side / _LFW_SIDE
    left, top, right, bottom = LFW_FACE_BOX
    cx = width * (0.5 + rng.uniform(-offset, offset))
    cy = height * (0.5 + rng.uniform(-offset, offset))
    x = round(cx - (left + right) / 2 * k)
    y = round(cy - (top + bottom) / 2 * k)
    tile = Image.open(photo).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    feather = Image.new("L", (side, side), 0)
    inset = max(1, side // 20)
    ImageDraw.Draw(feather).rectangle((inset, inset, side - inset, side - inset), fill=255)
    canvas.paste(tile, (x, y), feather.filter(ImageFilter.GaussianBlur(max(1.0, inset / 2))))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=quality)
    box = (x + left * k, y + top * k, x + right * k, y + bottom * k)
    person = photo.parent.name
    return ComposedPhoto(buf.getvalue(), width, height, (box,), (person,), (f"{person}/{photo.name}",))
