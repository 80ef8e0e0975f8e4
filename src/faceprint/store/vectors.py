"""Which vector engine a store searches (``Settings.vectors``), and an erasure's step into it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import StoreUnavailable
from .database import Database
from .index_cache import IndexCache, VectorCache
from .protection import Protector

__all__ = ["open_vector_cache", "sync_after_erasure"]


def open_vector_cache(db: Database, vectors: str, directory: Path, protector: Protector) -> VectorCache:
    """The in-memory index (files in ``directory``), or the Milvus collection ``vectors`` names."""
    if not vectors:
        return IndexCache(db, directory, protector)
    from .milvus_cache import MilvusCache
    from .milvus_config import MilvusConfig

    return MilvusCache(db, MilvusConfig.parse(vectors), protector)


def sync_after_erasure(name: str, sync: Callable[[], None], purge: Callable[[], bool]) -> None:
    """``sync`` the vectors after ``name``'s erasure committed; a vector engine that is down is
    caught up before any search is answered, and the error says what was done."""
    try:
        sync()
    except StoreUnavailable as exc:
        purge()
        raise StoreUnavailable(
            f"{name!r} is erased from the database, not yet from the vector engine ({exc}); "
            "its vectors leave it before any search is answered"
        ) from None
