"""Readiness (``GET /v1/ready``): may a load balancer send this replica traffic?

Three checks, each a plain yes or no (no data, no names): the database answers a read, the key
file is there, and the vector index has applied every change of the feed (caught up on the way,
as a search would). ``/v1/health`` stays the liveness check: the process is up, whatever the
database does.
"""

from __future__ import annotations

from ..errors import FaceprintError
from ..store.gallery import Store

__all__ = ["readiness"]


def readiness(store: Store) -> dict[str, bool]:
    """``{"database": ..., "key_file": ..., "index": ...}``; ready when all three are true."""
    key_file = store.protector.key_file.exists()
    try:
        with store.db.read() as conn:
            head = int(conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])
    except FaceprintError:
        return {"database": False, "key_file": key_file, "index": False}
    try:
        index = store.synced_index() if store.model_id is not None else None
    except FaceprintError:
        return {"database": True, "key_file": key_file, "index": False}
    return {"database": True, "key_file": key_file, "index": index is None or index.seq >= head}
