"""Failover: two ``faceprint serve`` processes on loopback sharing one PostgreSQL database.

Real processes, real server: enrolments and erasures on one replica are seen by searches on
the other (the propagation delay is measured); a replica killed with SIGKILL mid-enrolment
leaves nothing half-written and catches up when restarted; while PostgreSQL is down requests
fail with 503 and the JSON error body, and succeed again once it is back, without restarting.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

import faceprint
from faceprint.imageio import RGBImage
from tests.postgres import Cluster, destroy_cluster, start_cluster

pytestmark = pytest.mark.slow


def small_jpeg(rgb: RGBImage, side: int = 320) -> bytes:
    image = Image.fromarray(rgb)
    image.thumbnail((side, side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    """One ``faceprint serve`` process (and its worker processes, in its own process group)."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "faceprint", "serve", "--port", str(self.port), "--workers", "1"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, f"{self.name} exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"{self.name} did not start"
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL to the server and its workers (its own process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Pair:
    cluster: Cluster
    a: Replica
    b: Replica
    key: str

    def client(self, replica: Replica) -> httpx.Client:
        return httpx.Client(base_url=replica.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60)


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-test"))  # this process's index files
    cluster = start_cluster()
    replicas: list[Replica] = []
    try:
        key_file = tmp_path / "shared.key"  # one key file for every replica (a secrets mount)
        settings = faceprint.Settings(store=cluster.url, key_file=str(key_file), rate_limit=0)
        with faceprint.open_store(settings=settings) as store:
            _, key = store.keys.create("failover-test", "admin")
        for name in ("a", "b"):
            env = {
                **os.environ,
                "FACEPRINT_STORE": cluster.url,
                "FACEPRINT_KEY_FILE": str(key_file),
                "FACEPRINT_RATE_LIMIT": "0",
                "XDG_CACHE_HOME": str(tmp_path / f"cache-{name}"),  # as on two hosts
                "XDG_DATA_HOME": str(tmp_path / f"data-{name}"),
            }
            replicas.append(Replica(name, free_port(), env, tmp_path / f"{name}.log"))
        for replica in replicas:
            replica.start()
        yield Pair(cluster, replicas[0], replicas[1], key)
    finally:
        for replica in replicas:
            replica.stop()
        destroy_cluster(cluster)


def enrol(client: httpx.Client, name: str, jpegs: list[bytes]) -> httpx.Response:
    created = client.post("/v1/subjects", json={"subject": name, "purpose": "door"})
    assert created.status_code == 201, created.text
    files = [("images", (f"{i}.jpg", data)) for i, data in enumerate(jpegs)]
    return client.post(f"/v1/subjects/{name}/faces", files=files)


def matched(client: httpx.Client, jpeg: bytes) -> set[str]:
    response = client.post(
        "/v1/search", files={"image": ("p.jpg", jpeg)}, data={"purpose": "door", "top_k": "100"}
    )
    assert response.status_code == 200, response.text
    return {m["subject"] for face in response.json()["faces"] for m in face["matches"]}


#: How many searches each change took to show on the other replica (1: the first one saw it).
TRIES: list[int] = []


def until(condition: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds from now until ``condition()`` first holds (a search each time: its latency included)."""
    start = time.perf_counter()
    tries = 1
    while not condition():
        assert time.perf_counter() - start < timeout, f"not within {timeout} s"
        tries += 1
    TRIES.append(tries)
    return time.perf_counter() - start


def test_two_replicas_share_one_database_and_survive_failures(
    pair: Pair, samples: dict[str, RGBImage]
) -> None:
    hopper = small_jpeg(samples["hopper"])
    with pair.client(pair.a) as a, pair.client(pair.b) as b:
        # -- propagation: enrol on A -> search on B; erase on B -> search on A ----------------
        seen: list[float] = []
        gone: list[float] = []
        for i in range(8):
            name = f"grace-{i}"
            assert enrol(a, name, [hopper]).status_code == 200
            seen.append(until(lambda name=name: name in matched(b, hopper)))  # type: ignore[misc]
            assert b.delete(f"/v1/subjects/{name}").status_code == 200
            gone.append(until(lambda name=name: name not in matched(a, hopper)))  # type: ignore[misc]
        delays = sorted(seen + gone)
        p50, p99 = statistics.median(delays), delays[min(len(delays) - 1, int(0.99 * len(delays)))]
        print(
            f"\npropagation delay over {len(delays)} changes: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )
        assert p99 <= 1.0

        # -- kill -9 one replica mid-enrolment, restart it: nothing half-written, it catches up --
        assert a.post("/v1/subjects", json={"subject": "eileen", "purpose": "door"}).status_code == 201
        sizes = (300, 340, 380, 420)  # four different photos (sources) of one face
        files = [
            ("images", (f"{i}.jpg", small_jpeg(samples["astronaut"], side))) for i, side in enumerate(sizes)
        ]

        def post() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server dies under it
                a.post("/v1/subjects/eileen/faces", files=files)

        request = threading.Thread(target=post)
        request.start()
        time.sleep(0.3)
        pair.a.kill()
        request.join(timeout=60)
        count = b.get("/v1/subjects/eileen").json()["templates"]
        assert count in (0, 4), f"half an enrolment was written: {count} of 4 templates"
        assert enrol(b, "while-a-was-down", [hopper]).status_code == 200
        pair.a.start()
        assert "while-a-was-down" in matched(a, hopper)  # caught up from the feed

        # -- PostgreSQL down: 503 + JSON on both replicas; back: 200 without restarting ---------
        pair.cluster.stop()
        for client in (a, b):
            response = client.post("/v1/search", files={"image": ("p.jpg", hopper)}, data={"purpose": "door"})
            assert response.status_code == 503 and response.headers["retry-after"]
            assert response.json()["error"]["code"] == "store_unavailable"
            assert client.get("/v1/health").status_code == 200  # liveness: the process is up
            ready = client.get("/v1/ready")  # readiness: the database is not
            assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
        pair.cluster.start()
        back = time.monotonic()
        for client in (a, b):
            while (ready := client.get("/v1/ready")).status_code != 200:
                assert ready.status_code == 503 and time.monotonic() - back < 5.0, ready.text
                time.sleep(0.1)
        print(f"\n/v1/ready 200 on both replicas {time.monotonic() - back:.2f} s after PostgreSQL's return")
        for client in (a, b):
            deadline = time.monotonic() + 30
            while True:
                response = client.post(
                    "/v1/search", files={"image": ("p.jpg", hopper)}, data={"purpose": "door"}
                )
                if response.status_code == 200:
                    break
                assert response.status_code == 503 and time.monotonic() < deadline, response.text
                time.sleep(0.2)
        assert pair.a.process is not None and pair.a.process.poll() is None
        assert pair.b.process is not None and pair.b.process.poll() is None
        settings = faceprint.Settings(store=pair.cluster.url, key_file=pair.a.env["FACEPRINT_KEY_FILE"])
        with faceprint.open_store(settings=settings) as store:
            assert store.check().ok
