"""JPEGs decoded straight into numpy give Pillow's pixels exactly: every EXIF orientation, every
reduction; what the fast path does not take (CMYK, corrupt streams) goes through Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from faceprint import jpeg
from faceprint.errors import InvalidImage
from faceprint.imageio import REDUCTIONS, Photo, RGBImage, decode


def jpeg_bytes(rgb: RGBImage, orientation: int = 1, mode: str = "RGB") -> bytes:
    im = Image.fromarray(rgb).convert(mode)
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def pillow_pixels(data: bytes, reduce: int) -> RGBImage:
    """What decode() gave before the fast path: Pillow's draft decode, EXIF transpose, RGB array."""
    im: Image.Image = Image.open(io.BytesIO(data))
    width, height = im.size
    want = (-(-width // reduce), -(-height // reduce))
    if reduce > 1:
        im.draft("RGB", want)
    im.load()
    if im.size != want:  # draft could not reduce that far: a box filter finishes it
        im = im.reduce(reduce // max(1, width // im.size[0]))
    return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


@pytest.fixture(scope="module", params=[(304, 440), (301, 437)], ids=["sides-of-8", "odd-sides"])
def photo(samples: dict[str, RGBImage], request: pytest.FixtureRequest) -> RGBImage:
    """The astronaut cut to sides every reduction divides (the fast path), or odd ones (Pillow's)."""
    height, width = request.param
    return np.ascontiguousarray(samples["astronaut"][:height, :width])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_and_reduction_gives_pillows_pixels(photo: RGBImage, orientation: int) -> None:
    data = jpeg_bytes(photo, orientation)
    for reduce in REDUCTIONS:
        expected = pillow_pixels(data, reduce)
        got = decode(data, reduce=reduce)
        assert got.shape == expected.shape and got.flags.c_contiguous
        assert np.array_equal(got, expected), (orientation, reduce)
    turned = orientation in (5, 6, 7, 8)
    assert Photo(data).size == (
        (photo.shape[0], photo.shape[1]) if turned else (photo.shape[1], photo.shape[0])
    )


def test_gray_and_cmyk_jpegs_decode_as_before(photo: RGBImage) -> None:
    gray = jpeg_bytes(photo, mode="L")
    assert jpeg.decode(gray, photo.shape[1], photo.shape[0], 1, 1) is not None  # the fast path takes it
    fast = jpeg.decode(jpeg_bytes(photo), photo.shape[1], photo.shape[0], 2, 1)
    assert (fast is not None) == (photo.shape[0] % 2 == 0 and photo.shape[1] % 2 == 0)
    assert np.array_equal(decode(gray), pillow_pixels(gray, 1))
    cmyk = jpeg_bytes(photo, mode="CMYK")
    assert np.array_equal(decode(cmyk), pillow_pixels(cmyk, 1))  # Pillow's path


def test_a_truncated_jpeg_is_refused_not_half_decoded(photo: RGBImage) -> None:
    data = jpeg_bytes(photo)
    cut = data[: len(data) * 2 // 3]
    assert jpeg.decode(cut, photo.shape[1], photo.shape[0], 1, 1) is None  # strict: a warning is a failure
    with pytest.raises(InvalidImage, match="truncated"):
        decode(cut)
