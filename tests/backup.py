"""Attacking a backup with the current key file (the erasure-reaches-backups tests of the gallery
and of the photo library): every sealed blob found anywhere in the backup's bytes (live rows,
dead tuples, WAL, free pages) is decrypted with every key the key file holds and every data key
that unwraps from the backup, whoever owned it (a gallery subject, a library face)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import StoreError
from faceprint.privacy import KeyFile, keys_by_id, open_sealed

DIM = 128
_MAGIC = b"FPS1"
_HEADER = 4 + 8 + 12 + 16  # magic, key id, nonce, tag


def sealed_blobs(root: Path, length: int) -> set[bytes]:
    """Every ``length``-byte window starting with the sealing magic, in every file under ``root``."""
    found: set[bytes] = set()
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        at = data.find(_MAGIC)
        while at >= 0:
            found.add(data[at : at + length])
            at = data.find(_MAGIC, at + 1)
    return found


def attack(
    backup: Path,
    key_file: Path,
    store_id: str,
    *,
    owners: Sequence[str] = ("subject", "face"),
    max_owner: int = 64,
) -> list[NDArray[np.float32]]:
    """The protected templates (``Q x``) that the current key file recovers from the backup's bytes:
    data keys wrapped for any of ``owners`` with ids 1 to ``max_owner`` are tried too."""
    keyring = KeyFile(key_file).read()
    keys = keyring.storage_keys | keyring.wrapping_keys
    data_keys: dict[str, bytes] = {}
    for blob in sealed_blobs(backup, _HEADER + 32):  # wrapped data keys
        for owner in owners:
            for owner_id in range(1, max_owner):
                try:
                    data_key = open_sealed(keys, blob, f"{store_id}:{owner}-key:{owner_id}".encode())
                except StoreError:
                    continue
                data_keys |= keys_by_id([data_key])
    keys |= data_keys
    recovered = []
    for blob in sealed_blobs(backup, _HEADER + 4 * DIM):  # templates
        try:
            recovered.append(np.frombuffer(open_sealed(keys, blob, store_id.encode()), dtype="<f4"))
        except StoreError:
            continue
    return recovered


def recovered_count(recovered: list[NDArray[np.float32]], protected: NDArray[np.float32]) -> int:
    """How many rows of ``protected`` (templates in the store's space) are among ``recovered``."""
    return sum(any(float(v @ p) > 0.999 for v in recovered) for p in protected)
