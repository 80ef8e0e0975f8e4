"""What the gallery needs from a database, and how a store location picks one.

Two implementations: :class:`~faceprint.store.sqlite.Database` (a file, one host) and
:class:`~faceprint.store.postgres.PostgresDatabase` (a server shared by several processes and
hosts). The gallery writes its SQL once, with ``?`` placeholders and the subset both speak
(``RETURNING`` included); the few differences are :attr:`Database.dialect` checks. Both give
the same guarantees: one writer at a time for writes that append to the ``changes`` feed (so
its sequence commits in order), every read in one snapshot, and database errors raised as
:class:`~faceprint.errors.StoreError` (:class:`~faceprint.errors.StoreUnavailable` when the
server cannot be reached) with nothing written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from ..extras import missing_extra

__all__ = ["Connection", "Cursor", "Database", "Dialect", "is_url", "open_database"]

T = TypeVar("T")
Dialect = Literal["sqlite", "postgres"]
_URL_SCHEMES = ("postgresql://", "postgres://")


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection inside a transaction: ``?`` placeholders on either dialect."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any: ...


class Database(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    @property
    def location(self) -> str:
        """Where the data is, for messages (a path, or a URL without its password)."""

    def write(self, *, feed: bool = True, pipelined: bool = False) -> AbstractContextManager[Connection]:
        """A write transaction, committed when the block ends and rolled back if it raises.

        ``feed``: the block may append to ``changes`` and must be the only such writer.
        ``pipelined``: its statements may be sent without waiting for each answer (PostgreSQL's
        pipeline mode); only for blocks of single, parameterised statements.
        """

    def transact(self, work: Callable[[Connection], T], *, feed: bool = True, pipelined: bool = False) -> T:
        """``work`` in a write transaction, run again (with backoff) after a transient failure."""

    def read(self, *, pipelined: bool = False) -> AbstractContextManager[Connection]:
        """A read-only transaction: one consistent snapshot for the whole block (``pipelined``: as
        for :meth:`write`)."""

    def schema_version(self) -> int: ...

    def purge(self) -> bool:
        """After an erasure: remove deleted rows' old bytes where the database keeps them."""

    def integrity(self) -> str: ...

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from another thread) after other processes append to the feed."""

    def close(self) -> None: ...


def is_url(location: str | os.PathLike[str]) -> bool:
    """Is ``location`` a PostgreSQL URL (``postgresql://...``) rather than a SQLite file?"""
    return isinstance(location, str) and location.startswith(_URL_SCHEMES)


def open_database(location: str | os.PathLike[str]) -> Database:
    """The database at ``location``: a PostgreSQL URL, or a SQLite file path."""
    if is_url(location):
        try:
            from .postgres import PostgresDatabase  # psycopg is only needed for PostgreSQL
        except ImportError as exc:
            raise missing_extra("postgres", "a PostgreSQL store", exc) from None

        return PostgresDatabase(str(location))
    from .sqlite import Database as SQLiteDatabase

    return SQLiteDatabase(Path(location))
