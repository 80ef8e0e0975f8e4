"""API keys of the HTTP service: created once, shown once, stored as a scrypt hash, revocable.

A key looks like ``fpk_<key id>_<secret>``. The key id is public (it finds the row); the secret
is 32 random bytes. Only ``scrypt(secret, salt)`` is stored, so a copy of the database does not
give anyone a working key. Checking a key costs one scrypt (tens of milliseconds, on purpose);
:class:`ApiKeys` remembers the keys it has verified (as a SHA-256, never the key) so a busy
client pays it once, while revocation still takes effect at the next request (the row is read
every time).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from ..errors import InvalidInput, NotFound
from .database import Connection
from .records import isoformat

if TYPE_CHECKING:
    from .gallery import Store

__all__ = ["SCOPES", "ApiKey", "ApiKeys"]

#: What a key may do. ``admin`` implies every other scope (and metrics).
SCOPES: Final = (
    "detect",
    "verify",
    "enroll",
    "search",
    "erase",
    "audit",
    "library:read",
    "library:write",
    "admin",
)
_PREFIX: Final = "fpk"
# scrypt cost: 2^14 x 8 x 1 = 16 MiB of memory and ~40 ms per check on our machine (OWASP's minimum
# for scrypt is N=2^17 for passwords; keys are 256 random bits, so brute force is not the threat).
_SCRYPT: Final = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
_MAX_NAME: Final = 100


@dataclass(frozen=True)
class ApiKey:
    """An API key's public record: never the key, never its hash."""

    key_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        """May this key do ``scope``? (``admin`` may do everything.) Revoked keys may do nothing."""
        return self.revoked_at is None and (scope in self.scopes or "admin" in self.scopes)

    def to_json(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "created_at": isoformat(self.created_at),
            "revoked_at": isoformat(self.revoked_at),
        }


def parse_scopes(scopes: str | Iterable[str]) -> frozenset[str]:
    """``"detect,search"`` or an iterable of scope names, checked against :data:`SCOPES`."""
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    found = frozenset(s.strip() for s in items if s.strip())
    unknown = sorted(found - set(SCOPES))
    if unknown:
        raise InvalidInput(f"unknown scopes {unknown}; choose from {', '.join(SCOPES)}")
    if not found:
        raise InvalidInput(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return found


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


class ApiKeys:
    """The API keys of one store. Thread-safe. Get it as :attr:`Store.keys`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._verified: dict[str, bytes] = {}  # key id -> SHA-256 of a key that passed scrypt
        self._lock = threading.Lock()

    def create(
        self, name: str, scopes: str | Iterable[str], *, actor: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key: its record and the key itself, which is not stored and cannot be shown again."""
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > _MAX_NAME or any(ord(c) < 32 for c in name):
            raise InvalidInput(f"a key name must be 1 to {_MAX_NAME} printable characters")
        wanted = parse_scopes(scopes)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        now = self._store.now()
        hashed = _hash(secret, salt)

        def create(conn: Connection) -> None:
            if conn.execute(
                "SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone():
                raise InvalidInput(f"an active key named {name!r} exists; revoke it first")
            conn.execute(
                "INSERT INTO api_keys (key_id, name, scopes, salt, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, json.dumps(sorted(wanted)), salt, hashed, isoformat(now)),
            )
            self._store.write_audit(conn, actor or self._store.actor, "key-create", None, [], None, name)

        self._store.db.transact(create, feed=False)  # retried after a transient failure
        return ApiKey(key_id, name, wanted, now), f"{_PREFIX}_{key_id}_{secret}"

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """The keys by name (records only)."""
        sql = "SELECT key_id, name, scopes, created_at, revoked_at FROM api_keys"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        with self._store.db.read() as conn:
            rows = conn.execute(sql + " ORDER BY name, id").fetchall()
        return [_record(row) for row in rows]

    def revoke(self, name: str, *, actor: str | None = None) -> ApiKey:
        """Revoke the active key called ``name``; it stops working at its next request."""
        now = isoformat(self._store.now())

        def revoke(conn: Connection) -> tuple[Any, Any]:
            row = conn.execute(
                "SELECT key_id FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no active key named {name!r}")
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", (now, row[0]))
            self._store.write_audit(conn, actor or self._store.actor, "key-revoke", None, [], None, name)
            found = conn.execute(
                "SELECT key_id, name, scopes, created_at, revoked_at FROM api_keys WHERE key_id = ?",
                (row[0],),
            ).fetchone()
            return row, found

        row, found = self._store.db.transact(revoke, feed=False)  # retried after a transient failure
        with self._lock:
            self._verified.pop(str(row[0]), None)
        return _record(found)

    def authenticate(self, key: str) -> ApiKey | None:
        """The active key's record if ``key`` is a valid, unrevoked key; ``None`` otherwise."""
        parts = key.split("_", 2) if isinstance(key, str) else []
        if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2] or len(key) > 200:
            return None
        key_id, secret = parts[1], parts[2]
        with self._store.db.read() as conn:
            row = conn.execute(
                "SELECT key_id, name, scopes, created_at, revoked_at, salt, hash FROM api_keys WHERE key_id = ?",
                (key_id,),
            ).fetchone()
        if row is None or row[4] is not None:
            return None
        digest = hashlib.sha256(key.encode()).digest()
        with self._lock:
            known = self._verified.get(key_id)
        if known is None or not hmac.compare_digest(known, digest):
            if not hmac.compare_digest(_hash(secret, bytes(row[5])), bytes(row[6])):
                return None
            with self._lock:
                self._verified[key_id] = digest
        return _record(row[:5])


def _record(row: tuple[object, ...]) -> ApiKey:
    revoked = row[4]
    return ApiKey(
        key_id=str(row[0]),
        name=str(row[1]),
        scopes=frozenset(json.loads(str(row[2]))),
        created_at=datetime.fromisoformat(str(row[3])),
        revoked_at=None if revoked is None else datetime.fromisoformat(str(revoked)),
    )
