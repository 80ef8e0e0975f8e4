"""A real faceprint service on loopback (uvicorn in a thread, worker processes), with a temp store."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

import faceprint
from faceprint.imageio import RGBImage
from faceprint.service import create_app
from faceprint.store import SCOPES
from tests.conftest import encode

#: Small limits so that "too large" is cheap to send.
MAX_BYTES = 3_000_000


@dataclass
class Server:
    url: str
    store_path: Path | str
    keys: dict[str, str]  # scope (or "admin") -> key with only that scope
    uvicorn: uvicorn.Server
    thread: threading.Thread
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, scope: str | None = "admin", **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[scope]}"} if scope else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=120, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client


def start_server(
    store_path: Path | str,
    settings: faceprint.Settings,
    *,
    workers: int = 1,
    scopes: tuple[str, ...] = SCOPES,
    keys: dict[str, str] | None = None,
) -> Server:
    """A service on ``store_path`` in a thread, with an API key per scope (new ones unless ``keys``)."""
    if keys is None:
        with faceprint.open_store(store_path, settings=settings) as store:
            keys = {scope: store.keys.create(f"{scope}-key", scope)[1] for scope in scopes}
    app = create_app(settings, store_path, workers=workers)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    return Server(f"http://127.0.0.1:{port}", store_path, keys, server, thread)


def stop_server(server: Server) -> None:
    for client in server.clients:
        client.close()
    server.uvicorn.should_exit = True
    server.thread.join(timeout=60)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("service") / "gallery.db"
    running = start_server(path, faceprint.Settings(max_bytes=MAX_BYTES, rate_limit=0))
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def jpegs(samples: dict[str, RGBImage]) -> dict[str, bytes]:
    return {name: encode(rgb, "JPEG", quality=92) for name, rgb in samples.items()}
