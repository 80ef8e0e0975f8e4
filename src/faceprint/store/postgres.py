"""PostgreSQL access for the gallery: a connection pool, bounded waits, retries, LISTEN/NOTIFY.

The database is shared by every replica of the service. What SQLite gets from its file lock,
PostgreSQL gets from a transaction-scoped advisory lock: writes that append to the ``changes``
feed take it first, so there is one such writer at a time across all replicas and the feed's
sequence numbers commit in order (a reader that has seen ``seq`` N never later finds a smaller
one appear). Writes that only audit (every search writes an audit row) skip it and run
concurrently; :meth:`PostgresDatabase.transact` re-runs them after a deadlock or serialization
failure. Reads run in ``REPEATABLE READ READ ONLY`` transactions: one snapshot per block.

Every pooled connection has a statement timeout and an idle-in-transaction timeout (a client
that dies inside a transaction never holds the feed lock for long), and waiting for a
connection is bounded: when the server is down an operation fails within seconds with
:class:`~faceprint.errors.StoreUnavailable`, and the transaction it was in is rolled back by
the server — nothing half-written. The pool checks a connection before lending it, so the
first operations after the server is back reconnect by themselves.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from typing import Any, Final, Literal, TypeVar

import psycopg
import psycopg.errors
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from ..errors import StoreError, StoreUnavailable
from .schema import apply_migrations, schema_parts

__all__ = ["CHANNEL", "PostgresDatabase", "redact"]

T = TypeVar("T")
log = logging.getLogger("faceprint.store")

#: The LISTEN/NOTIFY channel the ``changes`` trigger notifies (see schema.py).
CHANNEL: Final = "faceprint_changes"
#: The advisory lock that serialises writers of the ``changes`` feed (any constant key; "fp" + 8).
_FEED_LOCK: Final = 0x6670_0008
#: How long an operation waits for a pooled connection before StoreUnavailable.
_CONNECT_WAIT: Final = 3.0
_STATEMENT_TIMEOUT_MS: Final = 30_000
_IDLE_IN_TRANSACTION_MS: Final = 60_000
#: A connection given back this recently (seconds) is lent again without the pool's check query.
_FRESH: Final = 1.0
#: Attempts of a transaction that failed transiently (deadlock, serialization, connection lost).
_ATTEMPTS: Final = 4
_RETRYABLE: Final = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.LockNotAvailable,
)
#: libpq keepalives: a silently broken connection is noticed in seconds, not hours.
_KEEPALIVES: Final = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://(unparsable URL)"
    user = params.get("user")
    host = params.get("host") or "localhost"
    port = params.get("port")
    db = params.get("dbname") or ""
    return f"postgresql://{f'{user}@' if user else ''}{host}{f':{port}' if port else ''}/{db}"


class _Retryable(StoreUnavailable):
    """A transient failure inside a transaction: :meth:`PostgresDatabase.transact` runs it again."""


class _Connection:
    """A pooled connection inside a transaction, taking the gallery's ``?`` placeholders."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        if not parameters:
            return self.raw.execute(sql.encode())
        return self.raw.execute(_placeholders(sql), tuple(parameters))

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> None:
        rows = [tuple(p) for p in seq_of_parameters]
        if rows:
            with self.raw.cursor() as cursor:
                cursor.executemany(_placeholders(sql), rows)


_SQL_CACHE: dict[str, str] = {}


def _placeholders(sql: str) -> str:
    """``?`` -> ``%s`` (the gallery's SQL has no ``?`` or ``%`` of its own in literals)."""
    converted = _SQL_CACHE.get(sql)
    if converted is None:
        converted = _SQL_CACHE[sql] = sql.replace("%", "%%").replace("?", "%s")
    return converted


def _translate(exc: psycopg.Error, location: str, what: str) -> StoreError:
    if isinstance(exc, _RETRYABLE):
        return _Retryable(f"{location}: {what}: {exc.__class__.__name__} (try again)")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return StoreUnavailable(f"{location}: {what}: the database did not answer in time")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        return _Retryable(f"{location}: {what}: the database is unavailable ({first})")
    return StoreError(f"{location}: {what}: {str(exc).strip().splitlines()[0] if str(exc) else exc}")


class PostgresDatabase:
    """The gallery's tables in one PostgreSQL database, shared by every process that opens it."""

    dialect: Literal["postgres"] = "postgres"

    def __init__(self, url: str, *, max_connections: int = 8, connect_wait: float = _CONNECT_WAIT) -> None:
        self.url = url
        self.location = redact(url)
        self._connect_wait = connect_wait
        self._local = threading.local()
        self._returned: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self._listener: _Listener | None = None
        #: The server process of each of this pool's open connections (a closed one drops out, so a
        #: pid the server gives to another client later is not mistaken for ours): notifications
        #: from them are this process's own writes, which the writer catches its index up with itself.
        self._own: weakref.WeakKeyDictionary[psycopg.Connection[Any], int] = weakref.WeakKeyDictionary()
        self._own_lock = threading.Lock()  # the pool's threads add, the listener's reads
        try:
            self._conninfo = make_conninfo(url, **{k: str(v) for k, v in _KEEPALIVES.items()})
        except psycopg.Error as exc:
            raise StoreError(f"not a usable PostgreSQL URL ({self.location}): {exc}") from None
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(connect_wait))},
            configure=self._configure,
            check=self._check,
            # Give up a failing reconnection after 5 s: the next request then tries at once,
            # instead of waiting out the pool's growing backoff once the server is back.
            reconnect_timeout=5.0,
            open=False,
            name="faceprint",
        )
        self._pool.open(wait=False)
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- connections and transactions ----------------------------------------------------------

    def _take(self) -> psycopg.Connection[Any]:
        if self._pool.closed:
            raise StoreError("the store is closed")
        try:
            return self._pool.getconn(timeout=self._connect_wait)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"{self.location}: the database is unavailable (no connection within "
                f"{self._connect_wait:g} s: {str(exc).strip().splitlines()[0] if str(exc) else 'timeout'})"
            ) from None

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            f"SET statement_timeout = {_STATEMENT_TIMEOUT_MS}; "
            f"SET idle_in_transaction_session_timeout = {_IDLE_IN_TRANSACTION_MS}".encode()
        )
        with self._own_lock:
            self._own[conn] = conn.info.backend_pid

    def _is_own(self, pid: int) -> bool:
        with self._own_lock:
            return pid in self._own.values()

    def _check(self, raw: psycopg.Connection[Any]) -> None:
        """The pool's check before lending a connection: a query to the server, unless the
        connection came back healthy within the last :data:`_FRESH` seconds (a round trip saved on
        every operation of a busy process; a connection the server dropped since then fails its
        first statement, which a write retries on a new connection)."""
        if time.monotonic() - self._returned.pop(raw, -_FRESH) < _FRESH and not raw.broken:
            return
        ConnectionPool.check_connection(raw)

    def _give_back(self, raw: psycopg.Connection[Any]) -> None:
        if raw.info.transaction_status != pq.TransactionStatus.IDLE:
            with suppress(psycopg.Error):
                raw.execute("ROLLBACK")
        if raw.info.transaction_status == pq.TransactionStatus.IDLE:
            self._returned[raw] = time.monotonic()
        with suppress(psycopg.Error):
            self._pool.putconn(raw)

    @contextmanager
    def write(self, *, feed: bool = True, pipelined: bool = False) -> Iterator[_Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        ``feed``: take the feed lock first (the block may append to ``changes``). ``pipelined``:
        in psycopg's pipeline mode, where statements go out without waiting for the answers of
        those before them and the client waits only where it reads a result (the ``BEGIN``, the
        lock, the inserts and the ``COMMIT`` of an enrolment cost one round trip, not one each).
        Only for blocks of single statements with parameters (not the schema's DDL scripts).
        """
        raw = self._take()
        try:
            with raw.pipeline() if pipelined else nullcontext():
                try:
                    raw.execute("BEGIN")
                    if feed:
                        raw.execute("SELECT pg_advisory_xact_lock(%s)", (_FEED_LOCK,))
                except psycopg.Error as exc:
                    raise _translate(exc, self.location, "cannot start a write") from None
                conn = _Connection(raw)
                self._local.conn = conn
                try:
                    yield conn
                    raw.execute("COMMIT")
                except psycopg.Error as exc:
                    raise _translate(exc, self.location, "write failed, nothing was changed") from None
        except psycopg.Error as exc:  # a pipeline reports its last statements' errors as it ends
            raise _translate(exc, self.location, "write failed, nothing was changed") from None
        finally:
            self._local.conn = None
            self._give_back(raw)

    def transact(self, work: Callable[[_Connection], T], *, feed: bool = True, pipelined: bool = False) -> T:
        """``work`` in a write transaction, run again with backoff after a transient failure."""
        for attempt in range(_ATTEMPTS):
            try:
                with self.write(feed=feed, pipelined=pipelined) as conn:
                    return work(conn)
            except _Retryable:
                if attempt == _ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt * (1 + random.random()))
        raise AssertionError("unreachable")

    @contextmanager
    def read(self, *, pipelined: bool = False) -> Iterator[_Connection]:
        """A read transaction: one consistent snapshot (inside this thread's write: that write's).

        ``pipelined``: in pipeline mode, as for :meth:`write` (the ``BEGIN`` goes out with the
        first query)."""
        current: _Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        raw = self._take()
        try:
            with raw.pipeline() if pipelined else nullcontext():
                raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield _Connection(raw)
                raw.execute("COMMIT")
        except psycopg.Error as exc:
            raise _translate(exc, self.location, "read failed") from None
        finally:
            self._give_back(raw)

    # -- schema --------------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Apply the missing migration steps (under the feed lock: one process migrates, others wait)."""
        with self.write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS faceprint_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM faceprint_schema").fetchone()
            if row is None:
                conn.execute("INSERT INTO faceprint_schema (version) VALUES (0)")
            version = 0 if row is None else int(row[0])
            apply_migrations(
                conn,
                self.dialect,
                version,
                lambda v: conn.execute("UPDATE faceprint_schema SET version = ?", (v,)),
                f"the database {self.location}",
            )

    def schema_version(self) -> int:
        with self.read() as conn:
            row = conn.execute("SELECT version FROM faceprint_schema").fetchone()
        return 0 if row is None else int(row[0])

    # -- maintenance ---------------------------------------------------------------------------

    def purge(self) -> bool:
        """VACUUM the tables an erasure deleted from, so their dead rows leave the table pages.

        What it cannot reach is the operator's: WAL segments until recycled, replicas' and
        backups' copies (docs/store.md). The rows were sealed with the storage key; rotating it
        leaves any such copy unreadable.
        """
        raw = self._take()
        try:
            owned = [table for part in schema_parts() for table in part.tables]  # e.g. the library's
            raw.execute(f"VACUUM {', '.join(['templates', 'subjects', 'subject_keys', *owned])}")
            return True
        except psycopg.Error as exc:
            log.warning("VACUUM after an erasure failed: %s", exc.__class__.__name__)
            return False
        finally:
            self._give_back(raw)

    def integrity(self) -> str:
        with self.read() as conn:
            conn.execute("SELECT count(*) FROM templates").fetchone()
        return "ok"

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every commit of another process that appended to the feed (and
        after reconnecting). This process's own writes are not announced back to it: the store
        catches its index up after each of its writes, and every search catches up first, so a
        second catch-up in the listening thread would only contend for the index's lock."""
        if self._listener is None:
            self._listener = _Listener(self._conninfo, callback, self._is_own)
            self._listener.start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self._pool.close(timeout=5.0)


class _Listener(threading.Thread):
    """LISTENs on :data:`CHANNEL` on its own connection; reconnects with backoff when it breaks.

    The callback runs once after each (re)connection too: whatever happened while the
    connection was down is caught up from the feed, never assumed.
    """

    def __init__(self, conninfo: str, callback: Callable[[], None], own: Callable[[int], bool]) -> None:
        super().__init__(name="faceprint-listen", daemon=True)
        self._conninfo = conninfo
        self._callback = callback
        self._own = own  # whether a notifying server pid is one of this process's connections
        self._stopping = threading.Event()

    def run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {CHANNEL}".encode())
                    self._notify()
                    delay = 0.1
                    while not self._stopping.is_set():
                        for notice in conn.notifies(timeout=0.5, stop_after=1):
                            if not self._own(notice.pid):
                                self._notify()
            except psycopg.Error:
                self._stopping.wait(delay)
                delay = min(delay * 2, 2.0)

    def _notify(self) -> None:
        try:
            self._callback()
        except StoreError as exc:  # the database went away between the notice and the catch-up
            log.info("catching up from the change feed failed: %s", exc.code)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=3.0)
