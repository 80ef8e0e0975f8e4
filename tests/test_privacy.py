from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import StoreError
from faceprint.privacy import (
    KeyFile,
    Keyring,
    SealedReader,
    SealedWriter,
    TemplateTransform,
    open_sealed,
    seal,
)
from faceprint.store import Sample


def test_transform_preserves_every_similarity(face_samples_or_package: dict[str, Sample]) -> None:
    vectors = np.stack([s.template.vector for s in face_samples_or_package.values()])
    transform = TemplateTransform.from_secret(b"k" * 32, vectors.shape[1])
    protected = transform.protect(vectors)
    assert np.abs(protected @ protected.T - vectors @ vectors.T).max() <= 1e-6
    assert np.abs(transform.unprotect(protected) - vectors).max() <= 1e-6
    assert not np.allclose(protected, vectors, atol=0.05)  # really transformed


def test_transform_is_orthogonal_deterministic_and_keyed() -> None:
    a = TemplateTransform.from_secret(b"a" * 32, 128)
    assert np.allclose(a.matrix @ a.matrix.T, np.eye(128), atol=1e-5)
    assert np.array_equal(a.matrix, TemplateTransform.from_secret(b"a" * 32, 128).matrix)
    b = TemplateTransform.from_secret(b"b" * 32, 128)
    assert a.key_id != b.key_id and not np.allclose(a.matrix, b.matrix)


def test_seal_authenticates_key_data_and_context() -> None:
    key, other = os.urandom(32), os.urandom(32)
    blob = seal(key, b"template bytes", b"store-1")
    assert b"template bytes" not in blob
    assert open_sealed({Keyring((key,), (key,)).storage_key_id: key}, blob, b"store-1") == b"template bytes"
    keys = Keyring((key,), (key,)).storage_keys
    with pytest.raises(StoreError, match="moved from another store"):
        open_sealed(keys, blob, b"store-2")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(StoreError, match="tampered"):
        open_sealed(keys, bytes(tampered), b"store-1")
    with pytest.raises(StoreError, match="not in the key file"):
        open_sealed(Keyring((other,), (other,)).storage_keys, blob, b"store-1")
    with pytest.raises(StoreError, match="not faceprint ciphertext"):
        open_sealed(keys, b"\x00" * 600, b"store-1")


def test_sealed_files_round_trip_and_refuse_truncation() -> None:
    keyring = Keyring.generate()
    data = os.urandom(20 << 20)  # three chunks
    raw = io.BytesIO()
    writer = SealedWriter(raw, keyring, b"aad")
    for start in range(0, len(data), 1 << 20):
        writer.write(data[start : start + (1 << 20)])
    writer.close()
    sealed = raw.getvalue()
    assert data[:4096] not in sealed
    reader = SealedReader(io.BytesIO(sealed), keyring, b"aad")
    assert reader.size == len(data)
    head = bytearray(100)
    assert reader.readinto(memoryview(head)) == 100 and bytes(head) == data[:100]
    assert reader.read() == data[100:]
    first_chunk = 4 + int.from_bytes(sealed[:4], "little")
    for broken in (sealed[:first_chunk], sealed[first_chunk:], sealed[:-1]):  # truncated, reordered, cut
        with pytest.raises(StoreError):
            reader = SealedReader(io.BytesIO(broken), keyring, b"aad")
            reader.read()


def test_key_file_is_private_atomic_and_created_once(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "store.key")
    first = keys.create(Keyring.generate())
    assert stat.S_IMODE((tmp_path / "store.key").stat().st_mode) == 0o600
    assert keys.create(Keyring.generate()) == first  # a racing creator gets the existing keys
    assert keys.read() == first
    assert [p.name for p in tmp_path.iterdir()] == ["store.key"]
    (tmp_path / "store.key").write_text("{not json")
    with pytest.raises(StoreError, match="cannot read the key file"):
        keys.read()
    (tmp_path / "store.key").write_text('{"format": "faceprint-keys-1", "storage": ["AAAA"], "template": []}')
    with pytest.raises(StoreError, match="32-byte"):
        keys.read()
    with pytest.raises(StoreError, match="missing"):
        KeyFile(tmp_path / "none.key").read()
