"""Contact sheets: a grid of one person's face crops, cut from the photos on demand (never stored)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

from ..config import Settings
from ..errors import FaceprintError, InvalidInput
from ..imageio import decode, read_encoded
from .records import LibraryFace

__all__ = ["contact_sheet"]

_MISSING = (96, 96, 96)


def _crop(face: LibraryFace, digest: str | None, settings: Settings, tile: int) -> Image.Image:
    """The face's box with a margin, from the first of its paths that still holds the same bytes."""
    for path in face.paths:
        try:
            data, name = read_encoded(path, max_bytes=settings.max_bytes)
            if digest is not None and hashlib.sha256(data).hexdigest() != digest:
                continue  # the file changed since it was indexed: its box may not fit
            rgb = decode(data, name=name, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)
        except FaceprintError:
            continue
        box = face.box
        side = max(box.width, box.height) * 1.3
        cx, cy = box.center
        region = (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
        return Image.fromarray(rgb).crop(region).resize((tile, tile), Image.Resampling.LANCZOS)
    return Image.new("RGB", (tile, tile), _MISSING)


def contact_sheet(
    faces: Sequence[LibraryFace],
    digests: Mapping[int, str],
    out: Path,
    *,
    settings: Settings,
    tile: int = 128,
    columns: int = 8,
) -> int:
    """Write ``faces`` as a ``columns``-wide grid of ``tile``-pixel crops to ``out`` (JPEG or PNG)."""
    if tile < 16 or columns < 1:
        raise InvalidInput("tile must be at least 16 pixels and columns at least 1")
    cols = min(columns, len(faces))
    rows = (len(faces) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * tile, rows * tile), (255, 255, 255))
    for i, face in enumerate(faces):
        sheet.paste(
            _crop(face, digests.get(face.photo_id), settings, tile), ((i % cols) * tile, (i // cols) * tile)
        )
    fmt = "PNG" if out.suffix.lower() == ".png" else "JPEG"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    except OSError as exc:
        raise InvalidInput(f"{out}: cannot write the contact sheet ({exc.strerror or exc})") from None
    return len(faces)
