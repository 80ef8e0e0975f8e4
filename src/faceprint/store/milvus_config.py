"""Where the Milvus server is and how a store's collection is indexed (``FACEPRINT_VECTORS``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from ..errors import InvalidInput

__all__ = ["INDEXES", "MilvusConfig", "purpose_key"]

#: Index types and their build and search parameters (docs/scale.md compares them).
INDEXES: Final[dict[str, tuple[dict[str, Any], Callable[[int], dict[str, Any]]]]] = {
    "HNSW": ({"M": 16, "efConstruction": 200}, lambda k: {"ef": max(k, 128)}),
    "IVF_SQ8": ({"nlist": 1024}, lambda k: {"nprobe": 32}),
    "FLAT": ({}, lambda k: {}),
}


def purpose_key(purpose: str) -> int:
    """The purpose's partition key: the first 52 bits of its SHA-256 (never negative).

    52 bits: Milvus 2.3 reads integer literals of a filter through a double (exact to 2**53).
    Two purposes sharing a key only share a partition: the database checks every hit's purpose.
    """
    return int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:8], "big") >> 12


@dataclass(frozen=True)
class MilvusConfig:
    """Where the server is and how collections are indexed: ``milvus://HOST:PORT[?index=HNSW&timeout=10]``."""

    host: str
    port: int
    index: str = "HNSW"
    #: Seconds any one call may take before the server counts as gone.
    timeout: float = 10.0

    @classmethod
    def parse(cls, url: str) -> MilvusConfig:
        parts = urlsplit(url)
        if parts.scheme != "milvus" or not parts.hostname:
            raise InvalidInput(f"FACEPRINT_VECTORS must look like milvus://HOST:PORT, not {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        index = query.pop("index", "HNSW").upper()
        if index not in INDEXES:
            raise InvalidInput(f"unknown Milvus index {index!r}; choose one of: {', '.join(INDEXES)}")
        try:
            timeout = float(query.pop("timeout", "10"))
        except ValueError:
            raise InvalidInput(f"the timeout in {url!r} must be a number of seconds") from None
        if not timeout > 0:
            raise InvalidInput("the Milvus timeout must be positive")
        if query:
            raise InvalidInput(f"unknown FACEPRINT_VECTORS options: {sorted(query)}")
        try:
            port = parts.port or 19530
        except ValueError:
            raise InvalidInput(f"bad port in {url!r}") from None
        return cls(parts.hostname, port, index, timeout)

    @property
    def url(self) -> str:
        return f"milvus://{self.host}:{self.port}"
