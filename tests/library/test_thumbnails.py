"""Thumbnails cut from the photo on disk: the face's square, EXIF orientation, the LRU bound, and
PhotoGone once the file moved or changed. On the package's sample photos (no ../shared needed)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faceprint
from faceprint.errors import InvalidInput, PhotoGone
from faceprint.faces import Box
from faceprint.imageio import RGBImage
from faceprint.library.browse import FaceSource
from faceprint.library.thumbnails import MARGIN, Thumbnailer


def source(path: Path, box: Box | None, size: tuple[int, int]) -> FaceSource:
    st = path.stat()
    return FaceSource(1, 1, box, size[0], size[1], ((str(path), st.st_size, st.st_mtime_ns),))


def decoded(data: bytes) -> RGBImage:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_the_face_square_from_an_upright_and_an_exif_turned_jpeg(
    tmp_path: Path, samples: dict[str, RGBImage]
) -> None:
    rgb = samples["hopper"]
    height, width = rgb.shape[:2]
    upright = tmp_path / "upright.jpg"
    Image.fromarray(rgb).save(upright, quality=95)
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned 90 degrees clockwise; shown upright by turning it back
    turned = tmp_path / "turned.jpg"
    Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_270).save(turned, quality=95, exif=exif.tobytes())
    box = Box(width * 0.3, height * 0.2, width * 0.6, height * 0.5)
    thumbs = Thumbnailer(faceprint.Settings())
    a = decoded(thumbs.face(source(upright, box, (width, height)), 96))
    b = decoded(thumbs.face(source(turned, box, (width, height)), 96))
    assert a.shape == b.shape == (96, 96, 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 6  # the same square, within JPEG noise
    # and it is the box's square with its margin, from the photo
    side = max(box.width, box.height) * MARGIN
    cx, cy = box.center
    want = Image.fromarray(rgb).crop(
        (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
    )
    assert (
        np.abs(a.astype(int) - np.asarray(want.resize((96, 96))).astype(int)).mean() < 14
    )  # draft-decoded, resized
    preview = Image.open(io.BytesIO(thumbs.preview(source(turned, None, (width, height)), 256)))
    assert max(preview.size) == 256 and (preview.size[0] > preview.size[1]) == (width > height)


def test_the_cache_is_bounded_and_a_changed_or_moved_photo_is_gone(
    tmp_path: Path, samples: dict[str, RGBImage]
) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray(samples["astronaut"]).save(path, quality=95)
    height, width = samples["astronaut"].shape[:2]
    thumbs = Thumbnailer(faceprint.Settings(), cache_bytes=40_000)
    for i in range(12):
        box = Box(10 + 10 * i, 10, 110 + 10 * i, 110)
        thumbs.face(source(path, box, (width, height)), 128)
        entries, held = thumbs.cached
        assert held <= 40_000
    assert 1 <= entries < 12
    old = source(path, Box(10, 10, 110, 110), (width, height))
    with pytest.raises(InvalidInput):
        thumbs.face(old, 4)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # changed since it was indexed
    with pytest.raises(PhotoGone):
        thumbs.face(old, 128)
    path.unlink()
    with pytest.raises(PhotoGone):
        thumbs.preview(old)
