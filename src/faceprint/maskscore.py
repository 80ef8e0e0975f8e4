"""Does a face wear a mask? A training-free test on the aligned face chip, no model weights.

On dlib's 150 px chip (padding 0.25, :func:`faceprint.align.face_chip`) the eyes, nose and chin
sit at fixed places, so the test compares fixed regions: the face's own skin, taken from the
bridge of the nose between the eyes and the forehead (above any mask), against three regions a
mask covers and a bare face shows as skin: both cheeks beside the mouth and the chin. Two
signs of a mask, either enough:

- **colour**: every lower region's median colour (Cb, Cr) is far from the face's own skin colour
  (a blue, black, white or printed mask; a grey or white beard, which is achromatic *and*
  textured, counts half);
- **smoothness**: the lower face has almost no texture (the median gradient of its luminance,
  relative to the skin's brightness), and is brighter or darker than the skin (a plain mask on
  a grey photo).

The constants were set by hand on 600 LFW faces with and without synthetic masks
(:mod:`faceprint.masks`) and checked on other faces (docs/masks.md); nothing is learnt from data.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .align import face_chip
from .imageio import RGBImage

__all__ = ["CHIP_PADDING", "CHIP_SIZE", "MASKED_AT", "chip_mask_score", "mask_chip", "mask_score"]

#: A face with :func:`mask_score` at least this is reported as masked.
MASKED_AT = 0.5
#: The chip the mask test reads: dlib's, which the embedder cuts too (so one cut serves both).
CHIP_SIZE, CHIP_PADDING = 150, 0.25
#: (top, bottom, left, right) rows/columns of the chip: skin above any mask, and regions a mask covers.
_SKIN = ((38, 56, 64, 86), (22, 34, 55, 95))
_LOWER = ((92, 122, 38, 56), (92, 122, 94, 112), (124, 138, 62, 88))
_COLOUR = 16.0  # chroma distance (YCbCr units) from the skin that alone says "masked"
_ACHROMATIC = 10.0  # a lower region this close to grey, and textured, is a beard as likely as a mask
_SMOOTH, _SMOOTH_WIDTH = 0.022, 0.01  # median relative gradient below which the lower face is smooth
_BRIGHTNESS = 0.3  # |log| brightness ratio of the lower face to the skin adding to smoothness


def _ycc(chip: NDArray[np.float64]) -> NDArray[np.float64]:
    r, g, b = chip[..., 0], chip[..., 1], chip[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.stack([y, cb, cr], axis=-1)


def chip_mask_score(chip: RGBImage) -> float:
    """The mask score in [0, 1) of a 150 px dlib face chip; :data:`MASKED_AT` and above: masked."""
    q = _ycc(np.asarray(chip, dtype=np.float64))
    skin = np.concatenate([q[t:b, left:right].reshape(-1, 3) for t, b, left, right in _SKIN])
    ref = np.median(skin, axis=0)
    bright = max(float(ref[0]), 1.0)
    colour, shade, texture, grey = [], [], [], []
    for t, b, left, right in _LOWER:
        region = q[t:b, left:right]
        med = np.median(region.reshape(-1, 3), axis=0)
        colour.append(float(np.linalg.norm(med[1:] - ref[1:])))
        shade.append(abs(float(np.log(max(float(med[0]), 1.0) / bright))))
        y = region[..., 0]
        grad = np.hypot(np.diff(y, axis=0)[:, :-1], np.diff(y, axis=1)[:-1])
        texture.append(float(np.median(grad)) / bright)
        grey.append(float(np.linalg.norm(med[1:] - 128.0)))
    gradient = float(np.median(texture))
    textured = float(np.clip((gradient - 0.02) / 0.03, 0.0, 1.0))
    by_colour = min(colour) / _COLOUR * (1.0 - 0.5 * textured if max(grey) < _ACHROMATIC else 1.0)
    smooth = float(np.clip((_SMOOTH - gradient) / _SMOOTH_WIDTH, 0.0, 1.0))
    by_smoothness = smooth * (0.5 + min(shade) / _BRIGHTNESS)
    raw = max(by_colour, by_smoothness)  # 1 = the edge between bare and masked
    return raw / (1.0 + raw)


def mask_chip(image: RGBImage, landmarks: NDArray[np.float64]) -> RGBImage:
    """The chip :func:`chip_mask_score` reads: dlib's (150 px, padding 0.25), the embedder's own."""
    return face_chip(image, landmarks, size=CHIP_SIZE, padding=CHIP_PADDING)


def mask_score(image: RGBImage, landmarks: NDArray[np.float64]) -> float:
    """The mask score of the face with these 5 landmarks in ``image`` (see :func:`chip_mask_score`)."""
    return chip_mask_score(mask_chip(image, landmarks))
