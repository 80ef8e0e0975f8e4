"""Request budgets shared by every replica of a PostgreSQL store: one token bucket per API key.

N service replicas with a bucket each would allow N times the rate limit. On PostgreSQL the
buckets live in the database instead: one ``INSERT ... ON CONFLICT DO UPDATE`` per request refills
the key's bucket by the database's clock (no skew between hosts), takes the request's cost when
it is there, and says whether it did — one round trip, a row lock held for that statement only.
The table is ``UNLOGGED`` (no WAL: a crash empties it, which only refills every budget) and is
created on first use; it holds key ids and numbers, never a secret or a face.
"""

from __future__ import annotations

from .database import Connection, Database

__all__ = ["SharedBuckets"]

_TABLE = (
    "CREATE UNLOGGED TABLE IF NOT EXISTS rate_buckets ("
    "key_id TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, "
    "updated DOUBLE PRECISION NOT NULL, granted BOOLEAN NOT NULL)"
)
_NOW = "extract(epoch FROM statement_timestamp())"
_REFILLED = f"LEAST(?, b.tokens + GREATEST(0, {_NOW} - b.updated) * ?)"  # capacity, rate
_TAKE = (
    "INSERT INTO rate_buckets AS b (key_id, tokens, updated, granted) "
    f"VALUES (?, CASE WHEN ? >= ? THEN ? - ? ELSE ? END, {_NOW}, ? >= ?) "
    "ON CONFLICT (key_id) DO UPDATE SET "
    f"tokens = {_REFILLED} - CASE WHEN {_REFILLED} >= ? THEN ? ELSE 0 END, "
    f"granted = {_REFILLED} >= ?, updated = {_NOW} "
    "RETURNING granted, tokens"
)


class SharedBuckets:
    """The buckets of one PostgreSQL database (its table created on the first request)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._ready = False

    def take(self, key_id: str, cost: float, rate: float, capacity: float) -> float:
        """0 if ``key_id`` may spend ``cost`` now (refilled at ``rate`` a second up to ``capacity``),
        else the seconds to wait."""
        if not self._ready:
            self.db.transact(lambda conn: conn.execute(_TABLE), feed=False)
            self._ready = True
        c, r = capacity, rate
        params = (key_id, c, cost, c, cost, c, c, cost, c, r, c, r, cost, cost, c, r, cost)

        def work(conn: Connection) -> tuple[bool, float]:
            row = conn.execute(_TAKE, params).fetchone()
            return bool(row[0]), float(row[1])

        granted, tokens = self.db.transact(work, feed=False)
        return 0.0 if granted else max(cost - tokens, 0.0) / rate
