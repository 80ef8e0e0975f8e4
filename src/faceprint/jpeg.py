"""JPEG pixels straight into a numpy array, through libjpeg-turbo (simplejpeg, MIT).

Pillow decodes JPEG with the same libjpeg-turbo and the same settings (accurate integer DCT, fancy
upsampling), so the pixels are identical; but Pillow decodes into its own image memory (4 bytes a
pixel) and numpy then copies them out through ``tobytes`` twice. On a 12 MP photo that conversion
costs more than the decode itself. Here the decoder writes RGB rows into the array directly, at
the same DCT reductions Pillow's draft mode uses. :func:`decode` returns None for what it does not
take (CMYK; a reduction that does not divide the sides, where Pillow decodes larger and
box-filters): the caller then decodes with Pillow, whose checks and errors
stay the only ones. Strict mode turns libjpeg's warnings (a truncated or corrupt stream) into
failures, which also fall back to Pillow and its typed error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simplejpeg
from numpy.typing import NDArray

__all__ = ["decode", "orient"]


def decode(data: bytes, width: int, height: int, reduce: int, orientation: int) -> NDArray[np.uint8] | None:
    """The RGB pixels of a ``width`` x ``height`` JPEG at 1/``reduce`` (sides rounded up) with the
    EXIF ``orientation`` applied, or None to leave it to Pillow."""
    if width % reduce or height % reduce:
        return None  # Pillow's draft then decodes larger and box-filters: keep its pixels exactly
    want = (height // reduce, width // reduce)
    try:
        rgb = simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_height=want[0], min_width=want[1], strict=True
        )
    except ValueError:
        return None
    if rgb.shape[:2] != want:
        return None
    return orient(rgb, orientation)


#: EXIF orientation -> the view that turns the pixels upright (as ``PIL.ImageOps.exif_transpose``).
_UPRIGHT: dict[int, Callable[[NDArray[np.uint8]], NDArray[np.uint8]]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def orient(rgb: NDArray[np.uint8], orientation: int) -> NDArray[np.uint8]:
    """``rgb`` turned upright for an EXIF orientation (1-8), as ``PIL.ImageOps.exif_transpose`` does."""
    turned = _UPRIGHT.get(orientation)
    return rgb if turned is None else np.ascontiguousarray(turned(rgb))
