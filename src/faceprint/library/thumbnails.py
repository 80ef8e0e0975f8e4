"""Face thumbnails and photo previews, cut on request from the photo on disk (never stored).

A JPEG is decoded only at the DCT reduction (1/2, 1/4, 1/8: draft mode) that still gives the
thumbnail its pixels, with EXIF orientation applied (the frame the boxes were found in). A photo
whose file has moved or changed since it was indexed (size or mtime differ) is
:class:`~faceprint.errors.PhotoGone`: its boxes may no longer fit. Results are kept in a small
in-memory LRU cache bounded in bytes, keyed by the file's identity, so a changed file misses.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from ..config import Settings
from ..errors import FaceprintError, InvalidInput, PhotoGone
from ..imageio import REDUCTIONS, Photo, RGBImage
from .browse import FaceSource

__all__ = ["MARGIN", "Thumbnailer"]

#: The square cut around a face is this many times the box's longer side.
MARGIN = 1.5
_QUALITY = 85
_MAX_DECODE = 4_000_000  # pixels decoded for one face thumbnail, at most
_DECODED = 4  # decoded photos kept for their other faces (a 12 MP photo at 1/2: 9 MB)


@dataclass(frozen=True)
class _Found:
    path: str
    size: int
    mtime_ns: int


class Thumbnailer:
    """Cut JPEG face thumbnails and photo previews; thread-safe; at most ``cache_bytes`` cached."""

    def __init__(self, settings: Settings, *, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self.settings = settings
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._held = 0
        self._decoded: OrderedDict[tuple[object, ...], RGBImage] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cached(self) -> tuple[int, int]:
        """(entries, bytes) in the cache."""
        with self._lock:
            return len(self._cache), self._held

    def face(self, source: FaceSource, size: int = 160) -> bytes:
        """A ``size`` x ``size`` JPEG of the face with a margin around it."""
        if source.box is None:
            raise InvalidInput("not a face")
        _check_size(size, 16, 1024)
        found = _locate(source)
        key = ("face", source.id, size, found.path, found.size, found.mtime_ns)
        return self._cached(key, lambda: self._cut_face(source, found, size))

    def preview(self, source: FaceSource, size: int = 1280) -> bytes:
        """The whole photo as a JPEG whose longer side is at most ``size``."""
        _check_size(size, 64, 4096)
        found = _locate(source)
        key = ("photo", source.photo_id, size, found.path, found.size, found.mtime_ns)
        return self._cached(key, lambda: self._cut_photo(found, size))

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._decoded.clear()
            self._held = 0

    def _cached(self, key: tuple[object, ...], make: Callable[[], bytes]) -> bytes:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        data = make()
        if len(data) <= self.cache_bytes // 8:
            with self._lock:
                if key not in self._cache:
                    self._cache[key] = data
                    self._held += len(data)
                while self._held > self.cache_bytes and self._cache:
                    _, old = self._cache.popitem(last=False)
                    self._held -= len(old)
        return data

    def _open(self, found: _Found) -> Photo:
        s = self.settings
        try:
            return Photo(found.path, max_bytes=s.max_bytes, max_pixels=s.max_pixels, name="the photo")
        except FaceprintError:
            raise PhotoGone("the photo can no longer be read; re-index its folder") from None

    def _cut_face(self, source: FaceSource, found: _Found, size: int) -> bytes:
        assert source.box is not None
        photo = self._open(found)
        box = source.box
        side = max(box.width, box.height) * MARGIN
        # the largest reduction in which the cut still has ~size pixels (a little upscaling is
        # fine), and never more than ~4 MP decoded: a small face in a 12 MP photo is cut at 1/2
        reduce = max([*(r for r in REDUCTIONS if side / r >= size * 0.8), 1, _least(photo)])
        # the boxes are in the frame of the size recorded at indexing; the photo is that size
        scale = photo.width / source.width if source.width else 1.0
        cx, cy = box.center
        half = side / 2
        left, top = (cx - half) * scale / reduce, (cy - half) * scale / reduce
        right, bottom = (cx + half) * scale / reduce, (cy + half) * scale / reduce
        rgb = self._pixels(photo, found, reduce)
        image = Image.fromarray(rgb).crop((round(left), round(top), round(right), round(bottom)))
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return _jpeg(image)

    def _pixels(self, photo: Photo, found: _Found, reduce: int) -> RGBImage:
        """The photo decoded at ``reduce``; the last few are kept, for the other faces of a photo."""
        key = (found.path, found.size, found.mtime_ns, reduce)
        with self._lock:
            hit = self._decoded.get(key)
            if hit is not None:
                self._decoded.move_to_end(key)
                return hit
        rgb = photo.at(reduce)
        with self._lock:
            self._decoded[key] = rgb
            while len(self._decoded) > _DECODED:
                self._decoded.popitem(last=False)
        return rgb

    def _cut_photo(self, found: _Found, size: int) -> bytes:
        photo = self._open(found)
        longest = max(photo.size)
        reduce = max([r for r in REDUCTIONS if longest / r >= size] or [1])
        image = Image.fromarray(photo.at(reduce))
        image.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return _jpeg(image)


def _least(photo: Photo) -> int:
    """The smallest reduction that decodes at most :data:`_MAX_DECODE` pixels (JPEG only: other
    formats are decoded in full whatever the reduction)."""
    if photo.format not in ("JPEG", "MPO"):
        return 1
    pixels = photo.width * photo.height
    return next((r for r in REDUCTIONS if pixels / (r * r) <= _MAX_DECODE), REDUCTIONS[-1])


def _check_size(size: int, low: int, high: int) -> None:
    if not low <= size <= high:
        raise InvalidInput(f"size must be {low} to {high} pixels")


def _locate(source: FaceSource) -> _Found:
    """The first recorded path that still holds the indexed file (same size and mtime)."""
    for path, size, mtime_ns in source.paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_size == size and st.st_mtime_ns == mtime_ns:
            return _Found(path, size, mtime_ns)
    raise PhotoGone("the photo has moved or changed since it was indexed; re-index its folder")


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=_QUALITY)
    return buf.getvalue()
