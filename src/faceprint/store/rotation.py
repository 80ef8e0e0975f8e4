"""Key rotation: every template (the gallery's and every registered table's) re-sealed under new keys."""

from __future__ import annotations

from ..errors import InvalidInput
from ..privacy import Keyring
from .database import Connection, Database
from .generations import template_space_in
from .index_cache import VectorCache
from .repository import Audit
from .subject_keys import key_tables

__all__ = ["rotate_keys"]


def rotate_keys(
    db: Database, cache: VectorCache, dim: int, audit: Audit, actor: str, *, storage: bool, template: bool
) -> int:
    """Replace the storage key and/or the template key; returns the rows rewritten.

    Crash-safe: the new key is added to the key file first, all rows are re-sealed (and
    re-transformed) and the key ids in the database switched in one transaction, the index is
    rebuilt, and only then is the old key removed from the key file.
    """
    if not storage and not template:
        raise InvalidInput("say which key to rotate: storage, template or both")
    with cache.lock:
        old = cache.protector
        new = old.rotated(storage=storage, template=template)
        operation = "rotate-" + (
            "storage-and-template-keys"
            if storage and template
            else "storage-key"
            if storage
            else "template-key"
        )

        def reprotect(conn: Connection) -> int:
            # first the new keys beside the old (under the write lock: erasures change the file too)
            old.key_file.update(
                lambda k: Keyring(
                    storage=tuple(dict.fromkeys(new.keyring.storage + old.keyring.storage)),
                    template=tuple(dict.fromkeys(new.keyring.template + old.keyring.template)),
                    wrapping=k.wrapping,
                )
            )
            fresh = template_space_in(conn).dim or dim  # a model migration may have changed it
            count = old.reprotect(conn, new, fresh or 1)
            if storage:  # every data key (subjects', library faces') re-wrapped under new wrapping keys
                for table in key_tables():
                    old.subjects.for_table(table).rekey_all(conn)
            audit(conn, actor, operation, None, [], count)
            return count

        # retried after a transient failure: the database is on the old keys or the new, never between
        count = db.transact(reprotect)
        cache.protector = new
        cache.rebuild(dim)
        db.transact(
            lambda _: old.key_file.update(
                lambda k: Keyring(
                    storage=new.keyring.storage, template=new.keyring.template, wrapping=k.wrapping
                )
            )
        )
        new.subjects.prune(db)  # the replaced wrapping keys leave the key file
    db.purge()
    return count
