"""SQLite access for the gallery: pragmas asserted at open, one writer, per-thread readers.

Every connection runs in WAL mode with ``synchronous=FULL`` (a committed enrolment survives a
power cut), ``secure_delete=ON`` (erased rows are overwritten with zeros, not just unlinked) and
foreign keys on. Writes take SQLite's write lock up front (``BEGIN IMMEDIATE``) under an
in-process lock, so there is one writer at a time across threads and processes; reads run in
their own snapshot and never block it. SQLite errors are translated into
:class:`~faceprint.errors.StoreError` here.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Literal, TypeVar

from ..errors import StoreError
from .schema import migrate

__all__ = ["Database"]

T = TypeVar("T")

#: pragma -> the value SQLite must report back after it is set.
_PRAGMAS: Final = {
    "journal_mode": ("WAL", "wal"),
    "synchronous": ("FULL", 2),
    "secure_delete": ("ON", 1),
    "foreign_keys": ("ON", 1),
}


class Database:
    """One SQLite database file, shared by the threads of one process."""

    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.location = str(path)
        self._busy_ms = int(busy_timeout * 1000)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._registry_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of {path}: {exc.strerror}") from None
        with self.write() as conn:
            self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        try:
            migrate(conn)
        except StoreError as exc:
            raise StoreError(str(exc).replace("this store", f"the store {self.path}", 1)) from None

    def schema_version(self) -> int:
        with self.read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreError("the store is closed")
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            for name, (value, expected) in _PRAGMAS.items():
                conn.execute(f"PRAGMA {name} = {value}")
                actual = conn.execute(f"PRAGMA {name}").fetchone()[0]
                if actual != expected:
                    raise StoreError(f"{self.path}: SQLite refused PRAGMA {name}={value} (got {actual!r})")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        self._local.conn = conn
        with self._registry_lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def write(self, *, feed: bool = True, pipelined: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        Every SQLite write is the only writer, and there is no network between its statements
        (``feed`` and ``pipelined`` are for PostgreSQL, where they matter).
        """
        with self._write_lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot start a write: {exc}") from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{self.path}: write failed, nothing was changed: {exc}") from None
                raise

    def transact(
        self, work: Callable[[sqlite3.Connection], T], *, feed: bool = True, pipelined: bool = False
    ) -> T:
        """``work`` in a write transaction (SQLite waits for its lock: nothing transient to retry)."""
        with self.write(feed=feed) as conn:
            return work(conn)

    @contextmanager
    def read(self, *, pipelined: bool = False) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for the whole block.

        Inside this thread's write transaction it reads that transaction's state instead.
        """
        conn = self._connection()
        if conn.in_transaction:
            yield conn
            return
        try:
            conn.execute("BEGIN")
            yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed: {exc}") from None
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def purge(self) -> bool:
        """After an erasure (rows overwritten by ``secure_delete``): empty the write-ahead log."""
        return self.checkpoint()

    def listen(self, callback: Callable[[], None]) -> None:
        """Nothing to listen to: the gallery reads the feed before every search."""

    def checkpoint(self, *, attempts: int = 20) -> bool:
        """Copy the WAL into the database and truncate it to zero bytes; ``False`` if readers kept it."""
        conn = self._connection()
        for _ in range(attempts):
            try:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: checkpoint failed: {exc}") from None
            if busy == 0:
                return True
            time.sleep(0.05)
        return False

    def integrity(self) -> str:
        with self.read() as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        return "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:5])

    def close(self) -> None:
        self._closed = True
        with self._registry_lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):  # closing never matters for data safety
                    conn.close()
            self._connections.clear()
        self._local = threading.local()
