"""A throwaway two-node Ray cluster on loopback for the tests (scripts/ray.sh), once per session.

The head runs on 127.0.0.2 and the second node on 127.0.0.3, one CPU each, in a fresh temp dir,
with token authentication (clients get its variables: :attr:`RayCluster.env`); it is stopped by
the pids the script recorded. When Ray is not installed the tests that need it
skip, unless ``FACEPRINT_TEST_RAY=required`` (scripts/test.sh sets it: it installs the ray extra).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ray.sh"


@dataclass(frozen=True)
class RayCluster:
    """A running cluster: its temp dir (Ray's logs are under it) and the head's HOST:PORT."""

    directory: Path
    address: str

    @property
    def env(self) -> dict[str, str]:
        """The environment of a client of this cluster: this one with the cluster's token."""
        token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.directory / "auth_token")}
        return {**os.environ, **token}


def _unavailable(message: str) -> None:
    if os.environ.get("FACEPRINT_TEST_RAY") == "required":
        pytest.fail(message)
    pytest.skip(message)


def start_ray(nodes: int = 2, cpus: int = 1) -> RayCluster:
    if importlib.util.find_spec("ray") is None:
        _unavailable("Ray is not installed (pip install 'faceprint[ray]')")
    directory = Path(tempfile.mkdtemp(prefix="faceprint-ray."))
    args = ["bash", str(SCRIPT), "start", str(directory), "--nodes", str(nodes), "--cpus", str(cpus)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        subprocess.run(["rm", "-rf", str(directory)], check=False)
        _unavailable(f"the Ray cluster could not be started: {done.stderr.strip()[-500:]}")
    return RayCluster(directory, done.stdout.strip().splitlines()[-1])


def stop_ray(cluster: RayCluster) -> None:
    subprocess.run(["bash", str(SCRIPT), "stop", str(cluster.directory)], check=False, capture_output=True)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """The session's two-node Ray cluster."""
    cluster = start_ray()
    try:
        yield cluster
    finally:
        stop_ray(cluster)
