"""Photo folders and a running service for the library routes' tests (API and browser).

The folder: the 13 licensed photos of ``../shared/data/faces`` and a slice of LFW (4 photos of
each of three people), copied so that tests may add, move and delete files.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx

import faceprint
from tests.conftest import shared_dir
from tests.service.conftest import Server, start_server

LFW_SLICE = ("Colin_Powell", "Tony_Blair", "Gerhard_Schroeder")


def photo_folder(root: Path, per_person: int = 4) -> Path:
    """``root``: the faces photos, and ``per_person`` LFW photos of each person of the slice."""
    faces = shared_dir("faces")
    lfw = shared_dir("lfw")
    (root / "faces").mkdir(parents=True)
    for path in sorted(faces.iterdir()):
        if path.suffix in (".jpg", ".png"):
            shutil.copyfile(path, root / "faces" / path.name)
    for person in LFW_SLICE:
        (root / "lfw" / person).mkdir(parents=True)
        for path in sorted((lfw / person).glob("*.jpg"))[:per_person]:
            shutil.copyfile(path, root / "lfw" / person / path.name)
    return root


def library_server(base: Path) -> tuple[Server, Path]:
    """A service whose library may index ``base / "photos"`` (filled by :func:`photo_folder`)."""
    photos = photo_folder(base / "photos")
    settings = faceprint.Settings(rate_limit=0, library_roots=str(photos))
    return start_server(base / "library.db", settings), photos


def wait_for_job(client: httpx.Client, timeout: float = 600) -> dict[str, Any]:
    """Poll the index job until it is no longer running; its final state."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get("/v1/library/index").json()
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
