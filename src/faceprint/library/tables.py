"""What the photo library registers with the store it lives in: how key rotation re-seals its faces.

Imported by the store before every key rotation (``store.protection.RESEAL_PROVIDERS``), so the
library's templates follow the new keys even when only the gallery was opened.
"""

from __future__ import annotations

from ..store.database import Connection
from ..store.protection import Protector, register_resealer

__all__ = ["reseal_faces"]


def reseal_faces(conn: Connection, old: Protector, new: Protector) -> int:
    """The library's face templates (the ``faces`` table), re-sealed like the gallery's."""
    count = 0
    for face_id, blob in conn.execute("SELECT id, vector FROM faces").fetchall():
        conn.execute("UPDATE faces SET vector = ? WHERE id = ?", (old.reseal(blob, new), face_id))
        count += 1
    return count


register_resealer("faces", reseal_faces)
