"""Public-domain photos shipped with faceprint (``faceprint/data/photos``, see its README.md).

They calibrate the default detector's int8 graph, are the demo's subjects and the face
``faceprint models check`` embeds; the same files scikit-image and matplotlib ship, so nothing
of theirs is needed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

from .errors import InvalidInput
from .imageio import RGBImage

__all__ = ["SAMPLES", "sample_path", "sample_photo"]

#: Name -> file in ``faceprint/data/photos``.
SAMPLES: Final = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "grace_hopper": "grace_hopper.jpg",
}


def sample_path(name: str) -> Path:
    """The file of sample photo ``name`` (one of :data:`SAMPLES`)."""
    if name not in SAMPLES:
        raise InvalidInput(f"no sample photo {name!r} (there are {', '.join(SAMPLES)})")
    return Path(str(resources.files("faceprint").joinpath("data", "photos", SAMPLES[name])))


def sample_photo(name: str) -> RGBImage:
    """Sample photo ``name`` as an RGB array (the pixels scikit-image's and matplotlib's loaders give)."""
    with Image.open(sample_path(name)) as image:
        return np.ascontiguousarray(np.asarray(image.convert("RGB")))
