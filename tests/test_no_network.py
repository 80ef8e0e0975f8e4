"""faceprint makes no outbound connection: the whole CLI flow runs with sockets blocked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from faceprint.imageio import RGBImage
from tests.store.test_bulk import write_images

HARNESS = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:2] or args[:1])[:80])
    raise OSError("network blocked by the test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
log, argv = sys.argv[1], sys.argv[2:]
if argv == ["control"]:
    import urllib.request
    try:
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)
    except Exception:
        pass
    code = 0
else:
    from faceprint.cli import main
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
json.dump(attempts, open(log, "w"))
sys.exit(code)
"""


def blocked(tmp_path: Path, *argv: str) -> tuple[int, list[str]]:
    log = tmp_path / "attempts.json"
    done = subprocess.run(
        [sys.executable, "-c", HARNESS, str(log), *argv], capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(log.read_text())


def test_the_blocker_catches_a_connection(tmp_path: Path) -> None:
    code, attempts = blocked(tmp_path, "control")
    assert code == 0 and attempts  # the harness does see outbound attempts


@pytest.mark.parametrize("detector", ["hog"])
def test_enrol_search_export_erase_with_sockets_blocked(
    tmp_path: Path, samples: dict[str, RGBImage], detector: str
) -> None:
    images = write_images(tmp_path, samples)
    store = ["--store", str(tmp_path / "g.db")]
    steps = [
        [*store, "enroll", "eileen", str(images["astronaut"]), "--purpose", "p", "--detector", detector],
        [*store, "search", str(images["astronaut_copy"]), "--purpose", "p", "--detector", detector],
        [*store, "subjects", "export", "eileen"],
        [*store, "keys", "rotate-template-key"],
        [*store, "record"],
        [*store, "consent", "withdraw", "eileen"],
        [*store, "retention", "sweep"],
        [*store, "demo"],
    ]
    for argv in steps:
        code, attempts = blocked(tmp_path, *argv)
        assert code == 0, argv
        assert attempts == [], (argv, attempts)


def test_photo_library_with_sockets_blocked(tmp_path: Path, samples: dict[str, RGBImage]) -> None:
    (tmp_path / "photos").mkdir()
    write_images(tmp_path / "photos", samples)
    store = ["--store", str(tmp_path / "lib.db")]
    folder = str(tmp_path / "photos")
    steps = [
        [*store, "index", folder, "--workers", "0"],
        [*store, "people", "cluster"],
        [*store, "people", "--json"],
    ]
    for argv in steps:
        code, attempts = blocked(tmp_path, *argv)
        assert code == 0, argv
        assert attempts == [], (argv, attempts)
    code, attempts = blocked(
        tmp_path, *store, "people", "show", "1", "--contact-sheet", str(tmp_path / "s.jpg")
    )
    assert code in (0, 2) and attempts == []
