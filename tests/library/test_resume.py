"""kill -9 in the middle of 'faceprint index', then run it again: nothing lost, nothing done twice."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import faceprint
from tests.library.conftest import lfw_folder


def photos_done(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def faces_per_photo(store: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT p.digest, COUNT(f.id) FROM photos p LEFT JOIN faces f ON f.photo_id = p.id GROUP BY p.digest"
        ).fetchall()
    return {str(d): int(n) for d, n in rows}


def test_kill_9_half_way_then_resume(tmp_path: Path, engine: faceprint.Engine) -> None:
    root = lfw_folder(tmp_path / "photos", per_person=8)
    total = sum(1 for _ in root.rglob("*.jpg"))
    store = tmp_path / "lib.db"
    cmd = [sys.executable, "-m", "faceprint", "--store", str(store), "index", str(root), "--workers", "1"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while photos_done(store) < total // 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker it started, orphaned by the kill
    before = photos_done(store)
    assert 0 < before < total, (before, total)

    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["indexed"] == total - before  # nothing done twice
    assert report["unchanged"] == before
    assert photos_done(store) == total  # nothing lost

    # the same faces as one uninterrupted run
    with faceprint.open_library(tmp_path / "clean.db", engine=engine) as clean:
        clean.index(root, workers=0)
    assert faces_per_photo(store) == faces_per_photo(tmp_path / "clean.db")
