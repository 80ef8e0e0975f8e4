from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from faceprint.errors import ImageTooLarge, InvalidImage
from faceprint.imageio import Photo, decode, load_image
from tests.conftest import encode, png_bomb

_Y, _X = np.mgrid[0:40, 0:60]
RGB = np.dstack([_X * 4, _Y * 6, (_X + _Y) * 2]).astype(np.uint8)  # smooth, so JPEG keeps it close


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP"])
def test_lossless_formats_round_trip(fmt: str) -> None:
    params = {"lossless": True} if fmt == "WEBP" else {}
    out = decode(encode(RGB, fmt, **params))
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)
    np.testing.assert_array_equal(out, RGB)


def test_jpeg_decodes_close_to_original() -> None:
    out = decode(encode(RGB, "JPEG", quality=95))
    assert out.shape == (40, 60, 3)
    assert np.abs(out.astype(int) - RGB.astype(int)).mean() < 3


def test_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (20, 10), color) for color in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = decode(buf.getvalue())
    assert out.shape == (10, 20, 3)
    assert out[5, 5, 0] > 200 and out[5, 5, 2] < 50


def test_exif_orientation_is_applied() -> None:
    im = Image.fromarray(RGB)  # 60 wide, 40 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    out = decode(buf.getvalue())
    assert out.shape == (60, 40, 3)


def test_grayscale_palette_and_cmyk_become_rgb() -> None:
    gray = Image.fromarray(RGB[:, :, 0])
    for im in (gray, gray.convert("P"), Image.fromarray(RGB).convert("CMYK"), gray.convert("1")):
        fmt = "JPEG" if im.mode == "CMYK" else "PNG"
        buf = io.BytesIO()
        im.save(buf, format=fmt)
        out = decode(buf.getvalue())
        assert out.shape == (40, 60, 3) and out.dtype == np.uint8, im.mode
    np.testing.assert_array_equal(decode(encode(RGB[:, :, 0], "PNG"))[:, :, 1], RGB[:, :, 0])


def test_alpha_is_composited_over_white() -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # opaque red left half, transparent right half
    out = decode(encode(rgba, "PNG"))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 7]) == (255, 255, 255)


def test_16_bit_png_is_scaled_to_8_bit() -> None:
    values = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, format="PNG")
    out = decode(buf.getvalue())
    assert out.shape == (1, 3, 3)
    assert list(out[0, :, 0]) == [0, 128, 255]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"this is a text file, not a JPEG\n", "not a recognised image"),
        (encode(RGB, "JPEG")[:300], "corrupt or truncated"),
        (encode(RGB, "PNG")[:-30], "corrupt or truncated"),
    ],
)
def test_bad_bytes_raise_invalid_image(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        decode(data, name="x.jpg")


def test_unsupported_container_is_refused() -> None:
    buf = io.BytesIO()
    Image.fromarray(RGB).save(buf, format="PPM")
    with pytest.raises(InvalidImage, match="not a recognised image"):
        decode(buf.getvalue())


def test_tiff_and_heic_decode_under_the_same_limits() -> None:
    assert np.array_equal(decode(encode(RGB, "TIFF")), RGB)  # lossless
    heic = encode(RGB, "HEIF", quality=95)
    decoded = decode(heic, name="phone.heic")
    assert decoded.shape == RGB.shape and np.abs(decoded.astype(int) - RGB).mean() < 12
    with pytest.raises(ImageTooLarge, match="pixels exceeds"):
        decode(heic, max_pixels=RGB.shape[0] * RGB.shape[1] - 1)
    with pytest.raises(InvalidImage, match=r"corrupt or truncated|not a recognised"):
        decode(heic[: len(heic) // 2])


def test_pixel_limit_checked_from_header_before_decoding() -> None:
    data = png_bomb(9000, 5000)  # 45 M pixels, ~50 KB compressed
    assert len(data) < 200_000
    with pytest.raises(ImageTooLarge, match="45,000,000 pixels exceeds"):
        decode(data)
    assert decode(encode(RGB, "PNG"), max_pixels=40 * 60).shape == (40, 60, 3)
    with pytest.raises(ImageTooLarge):
        decode(encode(RGB, "PNG"), max_pixels=40 * 60 - 1)


def test_decompression_bomb_file_is_rejected(bomb_png) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImageTooLarge, match=r"huge\.png"):
        load_image(bomb_png)


def test_byte_limit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = encode(RGB, "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(data)
    with pytest.raises(ImageTooLarge, match="bytes exceeds"):
        load_image(path, max_bytes=len(data) - 1)
    with pytest.raises(ImageTooLarge):
        load_image(data, max_bytes=10)


def test_paths_errors_name_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidImage, match=r"missing\.jpg: no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(InvalidImage, match="is a directory"):
        load_image(tmp_path)


def test_arrays() -> None:
    assert load_image(RGB) is RGB  # already RGB uint8 and contiguous: no copy
    assert load_image(RGB[:, :, 0]).shape == (40, 60, 3)
    rgba = np.dstack([RGB, np.full((40, 60), 255, np.uint8)])
    np.testing.assert_array_equal(load_image(rgba), RGB)
    with pytest.raises(InvalidImage, match="uint8"):
        load_image(RGB.astype(np.float32))
    with pytest.raises(InvalidImage, match="shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InvalidImage, match="no pixels"):
        load_image(np.zeros((0, 4, 3), np.uint8))


def test_bytes_like_inputs_decode_alike() -> None:
    data = encode(RGB, "PNG")
    for source in (data, bytearray(data), memoryview(data)):
        np.testing.assert_array_equal(load_image(source), RGB)


# -- decoding at reduced sizes (Photo) ------------------------------------------------------------

_BIG_Y, _BIG_X = np.mgrid[0:1200, 0:1600]
BIG = np.dstack([_BIG_X % 256, _BIG_Y % 256, (_BIG_X // 7 + _BIG_Y // 5) % 256]).astype(np.uint8)


@pytest.mark.parametrize("reduce", [1, 2, 4, 8])
def test_jpeg_decodes_at_a_reduced_size(reduce: int) -> None:
    out = decode(encode(BIG, "JPEG", quality=92), reduce=reduce)
    assert out.shape == (1200 // reduce, 1600 // reduce, 3)
    expected = np.asarray(Image.fromarray(BIG).reduce(reduce)).astype(int)
    assert np.abs(out.astype(int) - expected).mean() < 12  # DCT scaling: close to a box filter


def test_other_formats_reduce_by_a_box_filter_and_round_sides_up() -> None:
    odd = BIG[:1001, :1333]
    out = decode(encode(odd, "PNG"), reduce=4)
    assert out.shape == (251, 334, 3)
    np.testing.assert_array_equal(out, np.asarray(Image.fromarray(odd).reduce(4)))
    with pytest.raises(InvalidImage, match="reduction must be one of"):
        decode(encode(odd, "PNG"), reduce=3)


def test_photo_reads_the_header_first_and_decodes_on_demand() -> None:
    data = encode(BIG, "JPEG", quality=90)
    photo = Photo(data, name="holiday.jpg")
    assert (photo.width, photo.height, photo.format) == (1600, 1200, "JPEG")
    assert photo.reduction_for(400) == 4 and photo.reduction_for(1600) == 1 and photo.reduction_for(5000) == 1
    small = photo.at(4)
    assert small.shape == (300, 400, 3) and photo.at(4) is small  # decoded once
    assert photo.full().shape == (1200, 1600, 3)
    truncated = Photo(data[: len(data) // 3], name="cut.jpg")  # the header is intact
    with pytest.raises(InvalidImage, match=r"cut\.jpg: corrupt or truncated"):
        truncated.at(2)


def test_photo_applies_the_limits_before_any_pixel_is_decoded(bomb_png) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImageTooLarge, match="pixels exceeds the limit"):
        Photo(encode(BIG, "JPEG"), max_pixels=1_000_000)
    with pytest.raises(ImageTooLarge):
        Photo(bomb_png)
    with pytest.raises(InvalidImage, match="not a recognised image"):
        Photo(b"this is not an image, just text")


def test_photo_size_follows_the_exif_orientation() -> None:
    im = Image.fromarray(BIG[:600, :800])
    exif = im.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: stored 800x600, shown 600x800
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes())
    photo = Photo(buf.getvalue())
    assert photo.size == (600, 800)
    assert photo.at(2).shape == (400, 300, 3) and photo.full().shape == (800, 600, 3)


def test_photo_wraps_arrays_and_reduces_them() -> None:
    photo = Photo(BIG)
    assert photo.format == "array" and photo.full() is not None and photo.at(2).shape == (600, 800, 3)
