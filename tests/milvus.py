"""A throwaway Milvus standalone server for the tests (scripts/milvus.sh), started once per session.

The server runs on loopback with a fresh data directory and is killed by its pid at the end. Each
store gets collections of its own (named by its random store id), so tests share the server.
When the server package cannot be installed here the tests that need it skip, unless
``FACEPRINT_TEST_MILVUS=required`` (scripts/test.sh sets it after installing the ``milvus``
extra: in CI they must run).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "milvus.sh"


@dataclass(frozen=True)
class Server:
    """A running throwaway server: its directory, its pid and its URL for ``FACEPRINT_VECTORS``."""

    directory: Path
    url: str

    @property
    def pid(self) -> int:
        return int((self.directory / "pid").read_text())

    def stop(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", str(self.directory)], check=True, capture_output=True)


def start_server() -> Server:
    """Start a server on a new data directory (skips the test when the package is missing)."""
    required = os.environ.get("FACEPRINT_TEST_MILVUS") == "required"
    try:
        import pymilvus  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("pymilvus is not installed (the milvus extra)")
        pytest.skip("pymilvus is not installed (the milvus extra)")
    directory = Path(tempfile.mkdtemp(prefix="faceprint-milvus."))
    done = subprocess.run(["bash", str(SCRIPT), "start", str(directory)], capture_output=True, text=True)
    if done.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "destroy", str(directory)], check=False, capture_output=True)
        message = f"Milvus could not be started: {done.stderr.strip()[-500:]}"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    return Server(directory, done.stdout.strip().splitlines()[-1])


def destroy_server(server: Server) -> None:
    subprocess.run(["bash", str(SCRIPT), "destroy", str(server.directory)], check=False, capture_output=True)


@pytest.fixture(scope="session")
def milvus() -> Iterator[Server]:
    """The session's Milvus server."""
    server = start_server()
    try:
        yield server
    finally:
        destroy_server(server)
