"""Safe image decoding: bytes or a path in, an RGB ``uint8`` array out.

Limits are checked before pixels are decoded: the byte size before reading, the pixel count from
the header before decompressing (decompression bombs never allocate their pixels). EXIF
orientation is applied; grayscale, palette, alpha, CMYK and 16-bit images become 8-bit RGB.
Every failure is an :class:`~faceprint.errors.InvalidImage` naming the source.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import threading
import warnings
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from . import jpeg
from .errors import ImageTooLarge, InvalidImage

__all__ = [
    "FORMATS",
    "REDUCTIONS",
    "ImageSource",
    "Photo",
    "RGBImage",
    "decode",
    "describe",
    "load_image",
    "load_image_and_digest",
    "read_encoded",
]

RGBImage: TypeAlias = NDArray[np.uint8]
ImageSource: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | NDArray[np.generic]

#: Container formats faceprint decodes (Pillow's names; JPEG includes the MPO variant cameras write;
#: HEIF covers HEIC, through pillow-heif's opener, registered once below).
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "HEIF")

_DEFAULT_MAX_BYTES = 50 * 1024 * 1024
_DEFAULT_MAX_PIXELS = 40_000_000
_EXIF_ERRORS = (OSError, ValueError, KeyError, TypeError, SyntaxError, struct.error, ZeroDivisionError)


def describe(source: ImageSource) -> str:
    """A short human name for an image source, used in messages (never the pixels)."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, np.ndarray):
        return f"<array {'x'.join(map(str, source.shape))} {source.dtype}>"
    return f"<{len(source)} bytes>"


def load_image(
    source: ImageSource,
    *,
    max_bytes: int = _DEFAULT_MAX_BYTES,
    max_pixels: int = _DEFAULT_MAX_PIXELS,
) -> RGBImage:
    """Load an image from a path, encoded bytes or an array, as a C-contiguous RGB ``uint8`` array.

    Arrays may be ``uint8`` gray (H, W), RGB (H, W, 3) or RGBA (H, W, 4); they are not copied when
    already RGB and contiguous.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels=max_pixels)
    data, name = read_encoded(source, max_bytes=max_bytes)
    return decode(data, name=name, max_bytes=max_bytes, max_pixels=max_pixels)


def read_encoded(source: ImageSource, *, max_bytes: int = _DEFAULT_MAX_BYTES) -> tuple[bytes, str]:
    """The encoded bytes of a path or bytes source (byte limit checked before reading) and its name."""
    name = describe(source)
    if isinstance(source, str | os.PathLike):
        return _read_file(Path(source), max_bytes=max_bytes), name
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name
    raise InvalidImage(f"{name}: expected a path, bytes or a numpy array, not {type(source).__name__}")


def load_image_and_digest(
    source: ImageSource,
    *,
    max_bytes: int = _DEFAULT_MAX_BYTES,
    max_pixels: int = _DEFAULT_MAX_PIXELS,
) -> tuple[RGBImage, str]:
    """:func:`load_image` plus the hex SHA-256 of the encoded bytes (of the pixels, for an array).

    The file is read once. The digest identifies a photo already processed (resumable runs)
    without keeping the photo.
    """
    if isinstance(source, np.ndarray):
        rgb = _from_array(source, max_pixels=max_pixels)
        header = f"{rgb.shape}".encode()
        return rgb, hashlib.sha256(header + rgb.tobytes()).hexdigest()
    data, name = read_encoded(source, max_bytes=max_bytes)
    rgb = decode(data, name=name, max_bytes=max_bytes, max_pixels=max_pixels)
    return rgb, hashlib.sha256(data).hexdigest()


def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif). libheif's own security limits stay on; the pixel limit
    below is checked from the header before decoding, as for every format, and Pillow's
    decompression-bomb check applies too. Thumbnails, depth and auxiliary images are never read."""
    from pillow_heif import options, register_heif_opener

    options.DISABLE_SECURITY_LIMITS = False
    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


_register_heif()


def decode(
    data: bytes,
    *,
    name: str = "<bytes>",
    max_bytes: int = _DEFAULT_MAX_BYTES,
    max_pixels: int = _DEFAULT_MAX_PIXELS,
    reduce: int = 1,
) -> RGBImage:
    """Decode encoded image bytes (see :data:`FORMATS`) to RGB ``uint8``, enforcing the limits.

    ``reduce`` (1, 2, 4 or 8) decodes at that fraction of the size: a JPEG through its DCT
    scaling (draft mode: a 12 MP photo at 1/4 costs a seventh of a full decode and allocates a
    sixteenth of the pixels), other formats by a box filter after decoding. Sides are rounded up.
    """
    return _decode(data, name=name, max_bytes=max_bytes, max_pixels=max_pixels, reduce=reduce)[0]


def _decode(
    data: bytes, *, name: str, max_bytes: int, max_pixels: int, reduce: int = 1, header_only: bool = False
) -> tuple[RGBImage, tuple[int, int], str]:
    """The decoded pixels (empty with ``header_only``), the full (width, height) after EXIF
    orientation, and the container format."""
    if reduce not in REDUCTIONS:
        raise InvalidImage(f"{name}: reduction must be one of {REDUCTIONS}, not {reduce}")
    if len(data) == 0:
        raise InvalidImage(f"{name}: empty file")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{name}: {len(data):,} bytes exceeds the limit of {max_bytes:,} bytes")
    Image.init()  # register every plugin, so ``formats`` can name WebP and MPO
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = im.size
            if width <= 0 or height <= 0:
                raise InvalidImage(f"{name}: image has no pixels ({width}x{height})")
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of "
                    f"{max_pixels:,} pixels"
                )
            im.seek(0)  # first frame of animated GIF/WebP
            fmt = str(im.format)
            size = _oriented_size(im, width, height)
            if header_only:
                return np.zeros((0, 0, 3), dtype=np.uint8), size, fmt
            if fmt in ("JPEG", "MPO") and im.mode in ("RGB", "L"):  # CMYK and the rest: Pillow
                fast = jpeg.decode(data, width, height, reduce, _orientation(im))
                if fast is not None:
                    return fast, size, fmt
            if reduce > 1 and fmt in ("JPEG", "MPO"):
                im.draft("RGB", (-(-width // reduce), -(-height // reduce)))
            im.load()
            if reduce > 1 and im.size != (-(-width // reduce), -(-height // reduce)):
                reduced: Image.Image = im.reduce(reduce // max(1, width // im.size[0]))
                im = reduced  # type: ignore[assignment]
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"{name}: rejected as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise InvalidImage(f"{name}: not a recognised image (supported: {', '.join(FORMATS)})") from None
    except (OSError, ValueError, SyntaxError, struct.error, EOFError, MemoryError) as exc:
        reason = str(exc) or type(exc).__name__
        raise InvalidImage(f"{name}: corrupt or truncated image ({reason})") from None
    return _to_rgb(_apply_orientation(im), name=name), size, fmt


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1-8; 1, upright, when absent or unreadable)."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except _EXIF_ERRORS:
        return 1
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


def _oriented_size(im: Image.Image, width: int, height: int) -> tuple[int, int]:
    """(width, height) once the EXIF orientation is applied (5-8 turn the image by 90 degrees)."""
    return (height, width) if _orientation(im) in (5, 6, 7, 8) else (width, height)


#: The reductions :class:`Photo` and :func:`decode` offer (JPEG's DCT scaling factors).
REDUCTIONS = (1, 2, 4, 8)


class Photo:
    """An image decoded on demand, at the sizes the pipeline needs.

    The header is read (and the byte, pixel and format checks done) when the photo is made; pixels
    are decoded at a reduction (1, 2, 4, 8) only when asked, each at most once. Detection asks for
    a small version; landmarks and chips ask for the smallest one in which the faces are still
    large enough. Arrays are wrapped as they are (reductions by a box filter).
    """

    def __init__(
        self,
        source: ImageSource,
        *,
        max_bytes: int = _DEFAULT_MAX_BYTES,
        max_pixels: int = _DEFAULT_MAX_PIXELS,
        name: str | None = None,
    ) -> None:
        """``name`` replaces :func:`describe`'s in messages (the file a photo's bytes came from)."""
        self.name = name or describe(source)
        self._levels: dict[int, RGBImage] = {}
        self._pending: dict[int, Future[RGBImage]] = {}
        self._data: bytes | None = None
        self._limits = (max_bytes, max_pixels)
        if isinstance(source, np.ndarray):
            full = _from_array(source, max_pixels=max_pixels)
            self._levels[1] = full
            self.size = (int(full.shape[1]), int(full.shape[0]))
            self.format = "array"
        else:
            data, _ = read_encoded(source, max_bytes=max_bytes)
            _, self.size, self.format = _decode(
                data, name=self.name, max_bytes=max_bytes, max_pixels=max_pixels, header_only=True
            )
            self._data = data

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def reduction_for(self, longest: int) -> int:
        """The largest reduction whose longer side is still at least ``longest`` (1 if none is)."""
        side = max(self.size)
        fits = [r for r in REDUCTIONS if -(-side // r) >= longest]
        return max(fits) if fits else 1

    def at(self, reduce: int) -> RGBImage:
        """The pixels at 1/``reduce`` of the full size (sides rounded up), decoded once."""
        if reduce not in self._levels:
            pending = self._pending.pop(reduce, None)
            if pending is not None:
                self._levels[reduce] = pending.result()  # a decode started ahead (errors surface here)
            elif self._data is not None and (self.format in ("JPEG", "MPO") or reduce == 1):
                self._levels[reduce] = self._decode_level(reduce)
            else:
                full = Image.fromarray(self.at(1))
                self._levels[reduce] = np.ascontiguousarray(np.asarray(full.reduce(reduce)))
        return self._levels[reduce]

    def full(self) -> RGBImage:
        """The pixels at full size."""
        return self.at(1)

    def prefetch(self, reductions: Iterable[int]) -> None:
        """Decode these reductions now, side by side in threads (the decoders release the GIL), so
        that a full decode overlaps the smaller ones instead of following them."""
        missing = sorted(set(reductions) - set(self._levels) - set(self._pending))
        if self._data is not None and len(missing) + len(self._pending) > 1:
            for r in missing:
                self.start(r)
        for r in sorted(set(reductions)):
            self.at(r)

    def start(self, reduce: int) -> None:
        """Begin decoding this reduction in a background thread; :meth:`at` waits for it. Used to
        overlap a decode the faces will probably need with detection on a smaller one."""
        if self._data is None or reduce in self._levels or reduce in self._pending:
            return
        thread: Future[RGBImage] = Future()

        def run() -> None:
            try:
                thread.set_result(self._decode_level(reduce))
            except BaseException as exc:  # handed to the caller of at()
                thread.set_exception(exc)

        self._pending[reduce] = thread
        threading.Thread(target=run, name="faceprint-decode", daemon=True).start()

    def _decode_level(self, reduce: int) -> RGBImage:
        assert self._data is not None
        max_bytes, max_pixels = self._limits
        return decode(self._data, name=self.name, max_bytes=max_bytes, max_pixels=max_pixels, reduce=reduce)


def _read_file(path: Path, *, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise InvalidImage(f"{path}: is a directory, not an image")
        if size > max_bytes:
            raise ImageTooLarge(f"{path}: {size:,} bytes exceeds the limit of {max_bytes:,} bytes")
        with path.open("rb") as fh:
            return fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise InvalidImage(f"{path}: no such file") from None
    except PermissionError:
        raise InvalidImage(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise InvalidImage(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise InvalidImage(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _apply_orientation(im: Image.Image) -> Image.Image:
    try:
        if im.getexif().get(0x0112, 1) in (1, None):
            return im  # upright already: no copy of the pixels
        return ImageOps.exif_transpose(im)
    except _EXIF_ERRORS:
        return im  # a corrupt EXIF block must not make a good image unusable


def _to_rgb(im: Image.Image, *, name: str) -> RGBImage:
    mode = im.mode
    try:
        if mode.startswith("I") or mode == "F":
            arr = np.asarray(im)
            if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255):
                arr = arr.astype(np.float64) / 257.0
            gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
            return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
        if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, rgba)
        rgb = im if im.mode == "RGB" else im.convert("RGB")
        return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    except (OSError, ValueError) as exc:
        raise InvalidImage(f"{name}: cannot convert {mode} image to RGB ({exc})") from None


def _from_array(arr: NDArray[np.generic], *, max_pixels: int) -> RGBImage:
    name = describe(arr)
    if arr.dtype != np.uint8:
        raise InvalidImage(f"{name}: arrays must be uint8 (convert with np.clip(...).astype(np.uint8))")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    elif arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidImage(f"{name}: expected shape (H, W), (H, W, 3) or (H, W, 4)")
    height, width = arr.shape[:2]
    if height == 0 or width == 0:
        raise InvalidImage(f"{name}: image has no pixels")
    if height * width > max_pixels:
        raise ImageTooLarge(f"{name}: {height * width:,} pixels exceeds the limit of {max_pixels:,} pixels")
    return np.ascontiguousarray(arr, dtype=np.uint8)
