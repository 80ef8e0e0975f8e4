"""A throwaway PostgreSQL server for the tests (scripts/postgres.sh), and a fresh database per test.

The server starts once per session, on first use, and is destroyed at the end; each test gets a
schema of its own on it. When PostgreSQL
cannot be installed here the tests that need it skip, unless ``FACEPRINT_TEST_POSTGRES=required``
(scripts/test.sh sets it after installing PostgreSQL: in CI they must run).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres.sh"
_names = itertools.count(1)


@dataclass(frozen=True)
class Cluster:
    """A running throwaway cluster: its directory and the URL of its database ``faceprint``."""

    directory: Path
    url: str

    def _run(self, verb: str) -> None:
        subprocess.run(["bash", str(SCRIPT), verb, str(self.directory)], check=True, capture_output=True)

    def stop(self) -> None:
        self._run("stop")

    def start(self) -> None:
        self._run("start")

    def new_database(self) -> str:
        """A new empty store location on this server: a schema of its own in database ``faceprint``.

        Cheaper than a database per test (no catalog copy to write, and to delete at the end), and
        as isolated for the store: every table, function and trigger lives in that schema (the URL
        sets ``search_path``). Tests run one at a time, so sharing NOTIFY channels and the advisory
        lock between schemas costs nothing.
        """
        import psycopg

        name = f"t{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}".encode())
        return f"{self.url}?options=-csearch_path%3D{name}"


def start_cluster(*, durable: bool = False) -> Cluster:
    """Install PostgreSQL if needed and start a cluster (skips the test when it cannot)."""
    required = os.environ.get("FACEPRINT_TEST_POSTGRES") == "required"
    directory = Path(tempfile.mkdtemp(prefix="faceprint-pg."))
    args = ["bash", str(SCRIPT), "init", str(directory)] + (["--durable"] if durable else [])
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        subprocess.run(["rm", "-rf", str(directory)], check=False)
        message = f"PostgreSQL could not be started: {done.stderr.strip()[-500:]}"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    return Cluster(directory, done.stdout.strip().splitlines()[-1])


def destroy_cluster(cluster: Cluster) -> None:
    subprocess.run(["bash", str(SCRIPT), "destroy", str(cluster.directory)], check=False, capture_output=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """The session's PostgreSQL server."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        destroy_cluster(cluster)
