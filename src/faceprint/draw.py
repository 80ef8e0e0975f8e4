"""Drawing detections on an image, for people to look at."""

from __future__ import annotations

import os
from collections.abc import Sequence

from PIL import Image, ImageDraw

from .errors import InvalidInput
from .faces import Face
from .imageio import RGBImage

__all__ = ["draw_faces", "save_image"]


def draw_faces(rgb: RGBImage, faces: Sequence[Face]) -> Image.Image:
    """A copy of ``rgb`` with each face's box, its index (0 = largest) and its 5 landmarks."""
    im = Image.fromarray(rgb).convert("RGB")
    pen = ImageDraw.Draw(im)
    width = max(2, round(max(im.size) / 300))
    for i, face in enumerate(faces):
        b = face.box
        pen.rectangle((b.left, b.top, b.right - 1, b.bottom - 1), outline=(0, 255, 0), width=width)
        pen.text((b.left + width, b.top + width), str(i), fill=(0, 255, 0))
        r = max(2, width)
        for x, y in face.landmarks:
            pen.ellipse((x - r, y - r, x + r, y + r), fill=(255, 0, 0))
    return im


def save_image(im: Image.Image, path: str | os.PathLike[str]) -> None:
    """Save ``im``; the format follows the file extension. Errors become :class:`InvalidInput`."""
    try:
        im.save(os.fspath(path))
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"{os.fspath(path)}: cannot write image ({exc})") from None
