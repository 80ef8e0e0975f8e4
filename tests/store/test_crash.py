"""kill -9 during bulk enrolment: the database stays intact, subjects are whole or absent, a re-run finishes."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faceprint
from faceprint.imageio import RGBImage
from faceprint.store import Sample

SUBJECTS = 150

WORKER = """
import sys
import numpy as np
import faceprint
from faceprint.faces import Template
from faceprint import open_store
from faceprint.store import Sample

path, vectors_file, model, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
vectors = np.load(vectors_file)
with open_store(path, settings=faceprint.Settings()) as store:
    print("ready", flush=True)
    for i in range(count):
        name = f"s{i:04d}"
        samples = [Sample(Template(v, model), f"{name}-{j}") for j, v in enumerate(vectors)]
        store.enroll(name, samples, purpose="p")
print("done", flush=True)
"""


def start_worker(path: Path, vectors: Path, model: str, count: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path), str(vectors), model, str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def assert_consistent(path: Path, engine: faceprint.Engine, per_subject: int) -> int:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        counts = conn.execute(
            "SELECT s.name, count(t.id) FROM subjects s LEFT JOIN templates t ON t.subject_id = s.id GROUP BY s.id"
        ).fetchall()
    assert all(n == per_subject for _, n in counts), "a subject was half-enrolled"
    with faceprint.open_store(path, engine=engine) as store:
        check = store.check()
        assert check.ok, check
    return len(counts)


@pytest.fixture(scope="module")
def vectors_file(
    tmp_path_factory: pytest.TempPathFactory, package_samples: dict[str, Sample]
) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("vectors") / "v.npy"
    np.save(path, np.stack([s.template.vector for s in package_samples.values()]))
    return path, package_samples["astronaut"].template.model


def test_kill_9_during_bulk_enrolment_loses_nothing(
    tmp_path: Path, engine: faceprint.Engine, vectors_file: tuple[Path, str]
) -> None:
    vectors, model = vectors_file
    path = tmp_path / "g.db"
    rng = random.Random(4)
    per_subject = len(np.load(vectors))
    seen = []
    for _ in range(5):
        proc = start_worker(path, vectors, model, SUBJECTS)
        time.sleep(rng.uniform(0.05, 1.2))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        seen.append(assert_consistent(path, engine, per_subject))
    proc = start_worker(path, vectors, model, SUBJECTS)
    assert proc.wait(timeout=300) == 0
    assert assert_consistent(path, engine, per_subject) == SUBJECTS
    assert seen == sorted(seen)  # progress is never lost between kills
    with faceprint.open_store(path, engine=engine) as store:
        enrolled = [e for e in store.audit() if e.operation == "enroll"]
        assert len(enrolled) == SUBJECTS  # nothing was enrolled twice


def test_kill_9_during_cli_csv_enrolment_then_rerun_completes(
    tmp_path: Path, engine: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    images = {}
    for name in ("astronaut", "hopper"):
        images[name] = tmp_path / f"{name}.png"
        Image.fromarray(samples[name]).save(images[name])
    rows = ["subject,image"] + [
        f"p{i:02d},{images[n].name}" for i in range(24) for n in ("astronaut", "hopper")
    ]
    (tmp_path / "people.csv").write_text("\n".join(rows) + "\n")
    path = tmp_path / "g.db"
    command = [
        sys.executable,
        "-m",
        "faceprint",
        "--store",
        str(path),
        "enroll",
        "--from-csv",
        str(tmp_path / "people.csv"),
        "--purpose",
        "p",
        "--largest-face",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once a few subjects are in
        time.sleep(0.2)
        if path.exists():
            try:
                with sqlite3.connect(path, timeout=1) as conn:
                    if conn.execute("SELECT count(*) FROM subjects").fetchone()[0] >= 3:
                        break
            except sqlite3.OperationalError:
                continue
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = assert_consistent(path, engine, 2)
    assert 3 <= partial < 24
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rest = 24 - partial  # nothing is done twice: finished subjects are skipped, the rest enrolled once
    assert (
        f"enrolled {2 * rest} face(s) into {rest} subject(s); {2 * partial} already enrolled" in done.stdout
    )
    assert assert_consistent(path, engine, 2) == 24
