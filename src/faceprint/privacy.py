"""Keys and template protection: AES-256-GCM at rest, a keyed orthogonal transform, key rotation.

Two secrets protect a store, both kept in a **key file** outside the database (default: beside it,
``<store>.key``, mode 0600; ``FACEPRINT_KEY_FILE`` moves it, e.g. to a secrets mount):

- *storage keys* (AES-256-GCM) encrypt every template at rest and the vector index files. Each
  ciphertext names the key id it was sealed with, so rotation can re-encrypt row by row while both
  keys are in the file, then drop the old one.
- the *template key* seeds a random orthogonal matrix ``Q`` (128 x 128). Templates are stored and
  searched as ``Q x``: cosine similarities between templates of one store are unchanged
  (``(Qx).(Qy) = x.y``), while templates of two stores with different keys are unrelated, and a
  protected template stolen before a rotation no longer matches after it (ISO/IEC 24745's
  unlinkability and revocability).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
from numpy.typing import NDArray

from .errors import StoreError

__all__ = [
    "Cipher",
    "KeyFile",
    "Keyring",
    "SealedReader",
    "SealedWriter",
    "TemplateTransform",
    "fsync_directory",
    "keys_by_id",
    "open_sealed",
    "seal",
]

_MAGIC = b"FPS1"  # faceprint sealed, version 1
_NONCE = 12


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _key_id(key: bytes) -> str:
    """A short public name of a key: not the key, not derivable into it."""
    return hashlib.sha256(b"faceprint key id" + key).hexdigest()[:16]


def keys_by_id(keys: tuple[bytes, ...] | list[bytes]) -> dict[str, bytes]:
    """``{key id: key}``: what :func:`open_sealed` looks a ciphertext's key up in."""
    return {_key_id(k): k for k in keys}


@dataclass(frozen=True)
class TemplateTransform:
    """The keyed random orthogonal matrix that protects templates of one store."""

    key_id: str
    matrix: NDArray[np.float64] = field(repr=False)

    @classmethod
    def from_secret(cls, secret: bytes, dim: int) -> TemplateTransform:
        seed = int.from_bytes(hashlib.sha256(b"faceprint template transform" + secret).digest(), "big")
        gaussian = np.random.Generator(np.random.PCG64(seed)).standard_normal((dim, dim))
        q, r = np.linalg.qr(gaussian)
        q *= np.sign(np.diag(r))  # Haar-distributed: fix the signs QR leaves arbitrary
        q.setflags(write=False)
        return cls(key_id=_key_id(secret), matrix=q)

    def protect(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """``Q x`` for each row ``x``, computed in float64 and renormalised, so similarities between
        protected templates equal the originals' to float32 rounding (about 1e-7)."""
        return _unit(np.asarray(vectors, dtype=np.float64) @ self.matrix.T)

    def unprotect(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """``Q^T y``: back to the engine's space (only for re-protection under a new key)."""
        return _unit(np.asarray(vectors, dtype=np.float64) @ self.matrix)


def _unit(vectors: NDArray[np.float64]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)
    return out


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM: ``magic | key id | nonce | ciphertext+tag``; ``aad`` is authenticated, not stored."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE)
    return _MAGIC + bytes.fromhex(_key_id(key)) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def sealed_key_id(blob: bytes) -> str:
    if len(blob) < 4 + 8 + _NONCE + 16 or not blob.startswith(_MAGIC):
        raise StoreError(
            "a stored record is not faceprint ciphertext (damaged, or written without encryption)"
        )
    return blob[4:12].hex()


def open_sealed(keys: dict[str, bytes], blob: bytes, aad: bytes) -> bytes:
    """Decrypt ``blob`` with whichever of ``keys`` sealed it; :class:`StoreError` if none or tampered."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = keys.get(sealed_key_id(blob))
    if key is None:
        raise StoreError("this store was encrypted with a key that is not in the key file (wrong key file?)")
    try:
        return AESGCM(key).decrypt(blob[12 : 12 + _NONCE], blob[12 + _NONCE :], aad)
    except InvalidTag:
        raise StoreError(
            "a stored record failed authentication (tampered, or moved from another store)"
        ) from None


@dataclass(frozen=True)
class Keyring:
    """The secrets of one store: storage keys by id (the current one first) and template keys."""

    storage: tuple[bytes, ...]  # current first; older ones only while a rotation is under way
    template: tuple[bytes, ...]
    #: Key-wrapping keys of the per-subject data keys (``store.subject_keys``), by no order: the
    #: database names which one wraps each bucket of subjects. Erasure replaces its bucket's key
    #: and removes the old one from the file (crypto-shredding).
    wrapping: tuple[bytes, ...] = ()

    @property
    def wrapping_keys(self) -> dict[str, bytes]:
        return keys_by_id(self.wrapping)

    def with_wrapping(self, wrapping: tuple[bytes, ...]) -> Keyring:
        return Keyring(storage=self.storage, template=self.template, wrapping=tuple(dict.fromkeys(wrapping)))

    @property
    def storage_keys(self) -> dict[str, bytes]:
        return {_key_id(k): k for k in self.storage}

    @property
    def storage_key_id(self) -> str:
        return _key_id(self.storage[0])

    def transform(self, dim: int, *, which: int = 0) -> TemplateTransform:
        return TemplateTransform.from_secret(self.template[which], dim)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return seal(self.storage[0], plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        return open_sealed(self.storage_keys, blob, aad)

    @classmethod
    def generate(cls) -> Keyring:
        return cls(storage=(secrets.token_bytes(32),), template=(secrets.token_bytes(32),))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": "faceprint-keys-1",
            "storage": [_b64(k) for k in self.storage],
            "template": [_b64(k) for k in self.template],
        }
        if self.wrapping:
            data["wrapping"] = [_b64(k) for k in self.wrapping]
        return data

    @classmethod
    def from_json(cls, data: Any) -> Keyring:
        try:
            if data["format"] != "faceprint-keys-1":
                raise ValueError(data["format"])
            storage = tuple(base64.b64decode(k, validate=True) for k in data["storage"])
            template = tuple(base64.b64decode(k, validate=True) for k in data["template"])
            wrapping = tuple(base64.b64decode(k, validate=True) for k in data.get("wrapping", []))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(f"the key file is not a faceprint key file ({exc})") from None
        if not storage or not template or any(len(k) != 32 for k in storage + template + wrapping):
            raise StoreError("the key file must hold 32-byte storage and template keys")
        return cls(storage=storage, template=template, wrapping=wrapping)


@dataclass(frozen=True)
class KeyFile:
    """Where a store's keyring lives; written atomically with mode 0600."""

    path: Path

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> Keyring:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(
                f"key file {self.path} is missing; without it the store cannot be read"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot read the key file {self.path}: {exc}") from None
        return Keyring.from_json(data)

    def create(self, keyring: Keyring) -> Keyring:
        """Write ``keyring`` as a new key file, unless one exists: then that one is returned.

        Written to a temporary file and linked into place, so a racing process or a crash never
        leaves a half-written key file.
        """
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.new")
        self._write_file(tmp, keyring)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return self.read()
        except OSError as exc:
            raise StoreError(f"cannot create the key file {self.path}: {exc.strerror}") from None
        finally:
            tmp.unlink(missing_ok=True)
        fsync_directory(self.path.parent)
        return keyring

    def update(self, change: Callable[[Keyring], Keyring]) -> Keyring:
        """Read the key file, apply ``change`` and write the result (callers hold the store's write
        lock, so that two writers never lose each other's keys)."""
        keyring = change(self.read())
        self.write(keyring)
        return keyring

    def write(self, keyring: Keyring) -> None:
        """Replace the key file atomically."""
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        self._write_file(tmp, keyring)
        try:
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StoreError(f"cannot write the key file {self.path}: {exc.strerror}") from None
        fsync_directory(self.path.parent)

    def _write_file(self, tmp: Path, keyring: Keyring) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(keyring.to_json(), fh)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write the key file {self.path}: {exc.strerror}") from None


def fsync_directory(directory: Path) -> None:
    """Make a rename or link inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Cipher(Protocol):
    """What sealed files need from a keyring."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, blob: bytes, aad: bytes) -> bytes: ...


_CHUNK = 8 << 20  # plaintext bytes per sealed chunk
_OVERHEAD = len(_MAGIC) + 8 + _NONCE + 16


def _chunk_aad(aad: bytes, number: int, final: bool) -> bytes:
    return aad + struct.pack("<QB", number, final)  # no reordering, no truncation


class SealedWriter:
    """A write-only file object that seals what is written in 8 MiB AES-GCM chunks."""

    def __init__(self, fh: BinaryIO, cipher: Cipher, aad: bytes) -> None:
        self._fh, self._cipher, self._aad = fh, cipher, aad
        self._buffer = bytearray()
        self._number = 0

    def write(self, data: bytes | memoryview) -> int:
        self._buffer += data
        while len(self._buffer) > _CHUNK:
            self._emit(bytes(self._buffer[:_CHUNK]), final=False)
            del self._buffer[:_CHUNK]
        return len(data)

    def _emit(self, plaintext: bytes, *, final: bool) -> None:
        sealed = self._cipher.seal(plaintext, _chunk_aad(self._aad, self._number, final))
        self._fh.write(struct.pack("<I", len(sealed)) + sealed)
        self._number += 1

    def close(self) -> None:
        """Seal the last chunk (possibly empty) with the end mark; the caller flushes and syncs."""
        self._emit(bytes(self._buffer), final=True)
        self._buffer = bytearray()


class SealedReader:
    """A read-only file object over a file written by :class:`SealedWriter`, decrypted chunk by chunk.

    Raises :class:`StoreError` when a chunk fails authentication, is missing or out of order.
    """

    def __init__(self, fh: BinaryIO, cipher: Cipher, aad: bytes) -> None:
        self._fh, self._cipher, self._aad = fh, cipher, aad
        self._offsets: list[tuple[int, int]] = []
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        position = 0
        while position < end:
            fh.seek(position)
            head = fh.read(4)
            if len(head) != 4:
                raise StoreError("a sealed file is truncated")
            (length,) = struct.unpack("<I", head)
            if length < _OVERHEAD or position + 4 + length > end:
                raise StoreError("a sealed file is truncated or corrupt")
            self._offsets.append((position + 4, length))
            position += 4 + length
        self.size = sum(length - _OVERHEAD for _, length in self._offsets)
        self._next = 0
        self._current = memoryview(b"")

    def _load(self) -> bool:
        if self._next >= len(self._offsets):
            return False
        offset, length = self._offsets[self._next]
        self._fh.seek(offset)
        final = self._next == len(self._offsets) - 1
        self._current = memoryview(
            self._cipher.open(self._fh.read(length), _chunk_aad(self._aad, self._next, final))
        )
        self._next += 1
        return True

    def readinto(self, buffer: memoryview) -> int:
        done = 0
        while done < len(buffer):
            if not self._current and not self._load():
                break
            take = min(len(buffer) - done, len(self._current))
            buffer[done : done + take] = self._current[:take]
            self._current = self._current[take:]
            done += take
        return done

    def read(self) -> bytes:
        parts = [bytes(self._current)]
        while self._load():
            parts.append(bytes(self._current))
        self._current = memoryview(b"")
        return b"".join(parts)
