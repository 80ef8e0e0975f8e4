"""How usable a detected face is for recognition: size, sharpness, pose and exposure, with reasons.

Each factor is a score in [0, 1] (1 = no problem); the overall score is their product. A factor
below one half names its reason; the engine adds the reason ``masked`` for a face that appears
to wear a mask (:mod:`faceprint.maskscore`). Photo libraries index every face but only faces with
:attr:`Quality.ok` seed people (see :mod:`faceprint.cluster`): small, blurred, turned-away or badly
exposed faces give unreliable templates that chain different people together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .faces import Face
from .imageio import RGBImage

__all__ = ["Quality", "assess"]

#: Eye distance (pixels) at and above which size is no problem; half of it scores 0.5 ... 0 at 0.
_GOOD_EYES = 40.0
#: Variance of the Laplacian of the 32x32 gray face crop, relative to the crop's own variance
#: (contrast-invariant), at and above which the face is sharp. Measured: sharp faces of the test
#: photos and LFW 0.53-2.8; Gaussian blur of sigma 4 px on a 250 px face 0.45, sigma 8 px 0.09.
_SHARP = 0.6
#: Horizontal offset of the nose from the eyes' midpoint, in eye distances, that scores 0 (profile).
_PROFILE = 0.6
_CROP = 32


@dataclass(frozen=True)
class Quality:
    """A face's quality: the overall ``score`` and each factor in [0, 1], and why it is low."""

    score: float
    size: float
    sharpness: float
    pose: float
    exposure: float
    reasons: tuple[str, ...]
    #: Raw measurements: eye distance in pixels, relative Laplacian variance, yaw ratio, brightness.
    eye_distance: float = 0.0
    laplacian: float = 0.0
    yaw: float = 0.0
    brightness: float = 0.0

    @property
    def ok(self) -> bool:
        """Good enough to seed a person (score at least 0.5 and no factor below one half)."""
        return self.score >= 0.5 and not self.reasons

    def to_json(self) -> dict[str, object]:
        return {
            "score": round(self.score, 4),
            "size": round(self.size, 4),
            "sharpness": round(self.sharpness, 4),
            "pose": round(self.pose, 4),
            "exposure": round(self.exposure, 4),
            "reasons": list(self.reasons),
        }


def assess(rgb: RGBImage, face: Face, *, scale: float = 1.0) -> Quality:
    """The quality of ``face`` (its box and 5 landmarks) in the image ``rgb`` it was detected in.

    ``scale`` is the number of original pixels per pixel of ``rgb`` when ``rgb`` is a reduced
    decode of the photo (box and landmarks then in ``rgb``'s pixels): size is judged in original
    pixels, sharpness on the face as ``rgb`` shows it.
    """
    points = np.asarray(face.landmarks, dtype=np.float64)
    eye_a, eye_b, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    eyes = float(np.linalg.norm(eye_a - eye_b)) * scale
    size = float(np.clip(eyes / _GOOD_EYES, 0.0, 1.0))

    # pose: the nose's sideways offset from the eyes' midpoint, along the eye line (yaw)
    local_eyes = eyes / scale
    if local_eyes > 1e-6:
        axis = (eye_b - eye_a) / local_eyes
        yaw = float(abs(np.dot(nose - (eye_a + eye_b) / 2, axis)) / local_eyes)
    else:
        yaw = 1.0
    pose = float(np.clip(1.0 - yaw / _PROFILE, 0.0, 1.0))

    gray = _gray_crop(rgb, face)
    brightness = float(gray.mean()) if gray.size else 0.0
    laplacian = _laplacian_variance(gray) / max(float(gray.var()) if gray.size else 0.0, 1.0)
    sharpness = float(np.clip(laplacian / _SHARP, 0.0, 1.0))
    clipped = float(np.mean((gray <= 8) | (gray >= 247))) if gray.size else 1.0
    exposure = float(np.clip(min(brightness / 50.0, (255.0 - brightness) / 50.0, 1.0) - clipped, 0.0, 1.0))

    reasons = tuple(
        reason
        for reason, value in (
            ("small", size),
            ("blurred", sharpness),
            ("turned", pose),
            ("exposure", exposure),
        )
        if value < 0.5
    )
    return Quality(
        score=size * sharpness * pose * exposure,
        size=size,
        sharpness=sharpness,
        pose=pose,
        exposure=exposure,
        reasons=reasons,
        eye_distance=eyes,
        laplacian=laplacian,
        yaw=yaw,
        brightness=brightness,
    )


def _gray_crop(rgb: RGBImage, face: Face) -> NDArray[np.float64]:
    """The face box, clipped to the image, as a 32x32 gray crop (area-averaged, so the sharpness
    measure sees the face at one scale whatever its size)."""
    height, width = rgb.shape[:2]
    box = face.box
    left, top = max(0, int(box.left)), max(0, int(box.top))
    right, bottom = min(width, int(np.ceil(box.right))), min(height, int(np.ceil(box.bottom)))
    if right - left < 2 or bottom - top < 2:
        return np.zeros((0, 0))
    crop = Image.fromarray(rgb[top:bottom, left:right]).convert("L")
    return np.asarray(crop.resize((_CROP, _CROP), Image.Resampling.BOX), dtype=np.float64)


def _laplacian_variance(gray: NDArray[np.float64]) -> float:
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    lap = gray[1:-1, :-2] + gray[1:-1, 2:] + gray[:-2, 1:-1] + gray[2:, 1:-1] - 4.0 * gray[1:-1, 1:-1]
    return float(lap.var())
