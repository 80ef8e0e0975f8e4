"""``faceprint index DIR --ray ADDRESS`` on a real two-node Ray cluster on loopback (scripts/ray.sh).

The same faces and templates as the local pool, work on both nodes, the same typed per-photo
errors, kill -9 of the CLI half-way and a resume without duplicates or losses, and an address
where no cluster answers: a one-line error and exit 2. Every run is the real command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import faceprint
from faceprint.imageio import RGBImage
from tests.conftest import SHARED, encode
from tests.library.test_resume import faces_per_photo, photos_done
from tests.ray import RayCluster

pytestmark = pytest.mark.slow


def index_cli(store: Path, folder: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "faceprint", "--store", str(store), "index", str(folder), *args]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, samples: dict[str, RGBImage]) -> Path:
    """The package's photos, ../shared/data/faces when present, a corrupt and a truncated file."""
    root = tmp_path_factory.mktemp("ray-photos")
    (root / "astronaut.png").write_bytes(encode(samples["astronaut"], "PNG"))
    hopper = encode(samples["hopper"], "JPEG", quality=90)
    (root / "hopper.jpg").write_bytes(hopper)
    (root / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "truncated.jpg").write_bytes(hopper[: len(hopper) // 3])
    faces = SHARED / "faces"
    if faces.is_dir():
        (root / "faces").mkdir()
        for path in sorted(faces.iterdir()):
            if path.suffix in (".jpg", ".png"):
                shutil.copyfile(path, root / "faces" / path.name)
    return root


def face_rows(store: Path) -> list[tuple[Any, ...]]:
    """Every face as (photo digest, box, landmarks, score, quality, reasons), in a stable order."""
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT p.digest, f.box, f.landmarks, f.score, f.quality, f.reasons FROM faces f "
            "JOIN photos p ON p.id = f.photo_id ORDER BY p.digest, f.box"
        ).fetchall()
    return [(d, json.loads(b), json.loads(lm), s, q, r) for d, b, lm, s, q, r in rows]


def gram(store: Path) -> np.ndarray:
    """Template similarities in face_rows' order: the keyed transform is orthogonal, so two stores
    with different keys have the same similarities exactly when they hold the same templates."""
    with faceprint.open_library(store) as library, library.store.db.read() as conn:
        order = [
            int(r[0])
            for r in conn.execute(
                "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id ORDER BY p.digest, f.box"
            )
        ]
        ids, vectors = library.vectors()
    position = {int(i): k for k, i in enumerate(ids)}
    ordered = vectors[[position[i] for i in order]]
    return np.asarray(ordered @ ordered.T)


def test_ray_gives_the_local_faces_on_both_nodes(
    ray_cluster: RayCluster, photos: Path, tmp_path: Path, engine: faceprint.Engine
) -> None:
    store = tmp_path / "ray.db"
    done = subprocess.run(
        index_cli(store, photos, "--ray", ray_cluster.address, "--json"),
        capture_output=True,
        text=True,
        timeout=300,
        env=ray_cluster.env,
    )
    assert done.returncode == 1, done.stderr  # two unreadable files: exit 1, as locally
    report = json.loads(done.stdout)

    # the work ran on both nodes: two node ids, the head's and the second node's addresses
    nodes = report["nodes"]
    assert {n["address"] for n in nodes} == {"127.0.0.2", "127.0.0.3"}, nodes
    assert len({n["node"] for n in nodes}) == 2 and all(
        re.fullmatch(r"[0-9a-f]{56}", n["node"]) for n in nodes
    )
    assert sum(n["tasks"] for n in nodes) == report["indexed"] + report["failed"]

    with faceprint.open_library(tmp_path / "local.db", engine=engine) as local:
        expected = local.index(photos, workers=0)
    for key in ("files", "indexed", "faces", "unchanged", "known", "duplicates"):
        assert report[key] == getattr(expected, key), key
    # the same typed error for each bad photo as the local pool gives
    failures = sorted((f["path"], f["code"], f["message"]) for f in report["failures"])
    assert failures == sorted((f.path, f.code, f.message) for f in expected.failures)
    assert sorted(Path(f[0]).name for f in failures) == ["broken.jpg", "truncated.jpg"]
    assert {f[1] for f in failures} == {"invalid_image"}

    # the same faces (boxes, landmarks, scores, quality) and templates; onnxruntime runs one thread
    # per Ray worker and one per core here, so sums may differ in their last bits
    ray_faces, local_faces = face_rows(store), face_rows(tmp_path / "local.db")
    assert len(ray_faces) == len(local_faces) == expected.faces
    for mine, theirs in zip(ray_faces, local_faces, strict=True):
        assert mine[0] == theirs[0] and mine[5] == theirs[5]  # photo, quality reasons
        assert np.allclose(mine[1], theirs[1], atol=0.02) and np.allclose(mine[2], theirs[2], atol=0.02)
        assert mine[3] == pytest.approx(theirs[3], abs=1e-4) and mine[4] == pytest.approx(theirs[4], abs=1e-4)
    assert np.abs(gram(store) - gram(tmp_path / "local.db")).max() < 1e-4

    # nothing about the photos in the cluster's logs: no folder, no file name
    for path in ray_cluster.directory.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            text = path.read_bytes()
            assert str(photos).encode() not in text and b"broken.jpg" not in text, path


def variants(root: Path, samples: dict[str, RGBImage], count: int) -> int:
    """``count`` distinct one-face photos (the astronaut and Grace Hopper at JPEG qualities)."""
    root.mkdir()
    for i in range(count):
        name = ("astronaut", "hopper")[i % 2]
        (root / f"{name}_{i:02d}.jpg").write_bytes(encode(samples[name], "JPEG", quality=40 + i))
    return count


def test_kill_9_of_the_cli_half_way_then_resume_on_ray(
    ray_cluster: RayCluster, tmp_path: Path, samples: dict[str, RGBImage]
) -> None:
    root = tmp_path / "photos"
    total = variants(root, samples, 30)
    store = tmp_path / "lib.db"
    cmd = index_cli(store, root, "--ray", ray_cluster.address)
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ray_cluster.env
    )
    try:
        deadline = time.monotonic() + 180
        while photos_done(store) < total // 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    before = photos_done(store)
    assert 0 < before < total, (before, total)

    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=300, env=ray_cluster.env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["indexed"] == total - before  # nothing done twice
    assert report["unchanged"] == before
    assert len(report["nodes"]) == 2  # the cluster is whole after the killed run's workers went
    counts = faces_per_photo(store)
    assert len(counts) == total and set(counts.values()) == {1}  # nothing lost, no face twice


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("127.0.0.2:1", "no Ray cluster answers at 127.0.0.2:1"),
        ("localhost", "a Ray address is HOST:PORT"),
    ],
)
def test_no_cluster_at_the_address_is_one_line_and_exit_2(
    tmp_path: Path, samples: dict[str, RGBImage], address: str, message: str
) -> None:
    root = tmp_path / "photos"
    variants(root, samples, 2)
    store = tmp_path / "lib.db"
    done = subprocess.run(
        index_cli(store, root, "--ray", address), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"faceprint: error: {message}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert photos_done(store) == 0  # nothing read, nothing written


def actor_pids(cluster: RayCluster) -> list[int]:
    """The pids of the analysis actors of ``cluster`` busy with a photo: ``ray::_Worker.run``
    processes in the sessions of the nodes scripts/ray.sh started (never another cluster's)."""
    sessions = {int(p) for p in (cluster.directory / "pids").read_text().split()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3])  # state ppid pgrp sid
        except (OSError, ValueError, IndexError):
            continue
        if cmdline.startswith(b"ray::_Worker.run") and session in sessions:  # running a task now
            found.append(int(entry.name))
    return found


def test_a_worker_killed_mid_run_costs_no_photo(
    ray_cluster: RayCluster, tmp_path: Path, samples: dict[str, RGBImage]
) -> None:
    """Ray restarts the actor and runs its photos again there: the run completes, every photo once."""
    root = tmp_path / "photos"
    total = variants(root, samples, 30)
    store = tmp_path / "lib.db"
    cmd = index_cli(store, root, "--ray", ray_cluster.address, "--json")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ray_cluster.env
    )
    try:
        deadline = time.monotonic() + 180
        while photos_done(store) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        victims = actor_pids(ray_cluster)
        while not victims and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            victims = actor_pids(ray_cluster)
        assert victims and proc.poll() is None
        os.kill(victims[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, (out, err)
    report = json.loads(out)  # stdout holds the report alone: Ray's own notice of the death is withheld
    assert report["indexed"] == total and report["failures"] == []
    counts = faces_per_photo(store)
    assert len(counts) == total and set(counts.values()) == {1}


def test_a_client_without_the_clusters_token_is_refused(
    ray_cluster: RayCluster, tmp_path: Path, samples: dict[str, RGBImage]
) -> None:
    """scripts/ray.sh turns Ray's token authentication on (its ports listen on every interface)."""
    root = tmp_path / "photos"
    variants(root, samples, 2)
    store = tmp_path / "lib.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    done = subprocess.run(
        index_cli(store, root, "--ray", ray_cluster.address),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"faceprint: error: cannot join the Ray cluster at {ray_cluster.address}" in done.stderr
    assert photos_done(store) == 0
