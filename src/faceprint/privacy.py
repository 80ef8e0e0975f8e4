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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import StoreError

__all__ = ["KeyFile", "Keyring", "TemplateTransform", "open_sealed", "seal"]

_MAGIC = b"FPS1"  # faceprint sealed, version 1
_NONCE = 12


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _key_id(key: bytes) -> str:
    """A short public name of a key: not the key, not derivable into it."""
    return hashlib.sha256(b"faceprint key id" + key).hexdigest()[:16]


@dataclass(frozen=True)
class TemplateTransform:
    """The keyed random orthogonal matrix that protects templates of one store."""

    key_id: str
    matrix: NDArray[np.float32] = field(repr=False)

    @classmethod
    def from_secret(cls, secret: bytes, dim: int) -> TemplateTransform:
        seed = int.from_bytes(hashlib.sha256(b"faceprint template transform" + secret).digest(), "big")
        gaussian = np.random.Generator(np.random.PCG64(seed)).standard_normal((dim, dim))
        q, r = np.linalg.qr(gaussian)
        q *= np.sign(np.diag(r))  # Haar-distributed: fix the signs QR leaves arbitrary
        matrix = q.astype(np.float32)
        matrix.setflags(write=False)
        return cls(key_id=_key_id(secret), matrix=matrix)

    def protect(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """``Q x`` for each row ``x``; rows are renormalised against float32 rounding."""
        out = np.asarray(vectors, dtype=np.float32) @ self.matrix.T
        return _unit(out)

    def unprotect(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """``Q^T y``: back to the engine's space (only for re-protection under a new key)."""
        out = np.asarray(vectors, dtype=np.float32) @ self.matrix
        return _unit(out)


def _unit(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
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
        return {
            "format": "faceprint-keys-1",
            "storage": [_b64(k) for k in self.storage],
            "template": [_b64(k) for k in self.template],
        }

    @classmethod
    def from_json(cls, data: Any) -> Keyring:
        try:
            if data["format"] != "faceprint-keys-1":
                raise ValueError(data["format"])
            storage = tuple(base64.b64decode(k, validate=True) for k in data["storage"])
            template = tuple(base64.b64decode(k, validate=True) for k in data["template"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"the key file is not a faceprint key file ({exc})") from None
        if not storage or not template or any(len(k) != 32 for k in storage + template):
            raise StoreError("the key file must hold 32-byte storage and template keys")
        return cls(storage=storage, template=template)


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

    def write(self, keyring: Keyring) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(keyring.to_json(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StoreError(f"cannot write the key file {self.path}: {exc.strerror}") from None
