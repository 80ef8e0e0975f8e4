"""The photo-library commands through the CLI: index, people, show, name, merge, split, not, erase."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.imageio import RGBImage
from tests.conftest import encode
from tests.test_cli import run


def test_index_people_and_corrections(tmp_path: Path, samples: dict[str, RGBImage]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    hopper = samples["hopper"]
    (photos / "hopper.jpg").write_bytes(encode(hopper, "JPEG", quality=92))
    (photos / "hopper-mirrored.png").write_bytes(encode(np.ascontiguousarray(hopper[:, ::-1]), "PNG"))
    (photos / "hopper-small.webp").write_bytes(encode(hopper[::2, ::2].copy(), "WEBP", quality=90))
    (photos / "broken.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40)
    store = ["--store", str(tmp_path / "lib.db")]

    code, out, err = run(*store, "index", str(photos), "--purpose", "family photos", "--workers", "0")
    assert code == 1  # one unreadable file: listed, the rest indexed
    assert "broken.heic" in err and err.count("\n") == 1 and "Traceback" not in err
    assert "3 photo(s) indexed with 3 face(s)" in out and "1 unreadable" in out
    code, out, _ = run(*store, "index", str(photos), "--json", "--workers", "0")
    report = json.loads(out)
    assert (report["indexed"], report["unchanged"], report["failed"]) == (0, 3, 1)

    code, out, _ = run(*store, "people", "cluster", "--json")
    assert code == 0 and json.loads(out)["new_people"] == 1
    code, out, _ = run(*store, "people", "--json")
    (person,) = [json.loads(line) for line in out.splitlines()]
    assert person["faces"] == 3 and person["name"] is None
    pid = str(person["id"])

    sheet = tmp_path / "grace.jpg"
    code, out, _ = run(*store, "people", "show", pid, "--contact-sheet", str(sheet))
    assert code == 0 and "contact sheet of 3 face(s)" in out
    with Image.open(sheet) as im:
        assert im.size == (3 * 128, 128)
    code, out, _ = run(*store, "people", "show", pid, "--json")
    faces = [json.loads(line)["id"] for line in out.splitlines()]

    assert run(*store, "people", "name", pid, "Grace")[0] == 0
    code, out, _ = run(*store, "people", "split", "Grace", str(faces[-1]))
    assert code == 0 and "new person" in out
    new_id = out.split("#")[1].split()[0]
    assert run(*store, "people", "merge", "Grace", new_id)[0] == 0
    assert run(*store, "people", "not", str(faces[-1]), "Grace")[0] == 0
    code, out, _ = run(*store, "people")
    assert "Grace: 2 face(s)" in out
    code, out, _ = run(*store, "people", "cluster")
    assert code == 0
    code, out, _ = run(*store, "people", "show", "Grace", "--json")
    assert faces[-1] not in [json.loads(line)["id"] for line in out.splitlines()]  # the correction held

    code, _, err = run(*store, "people", "show", "Nobody")
    assert code == 2 and err.strip() == "faceprint: error: no person 'Nobody' in this library"
    code, _, err = run(*store, "index", str(tmp_path / "missing"))
    assert code == 2 and err.startswith("faceprint: error:")
    code, out, _ = run(*store, "people", "erase", "Grace")
    assert code == 0 and "2 face(s)" in out
    code, out, _ = run(*store, "audit", "--json")
    operations = [json.loads(line)["operation"] for line in out.splitlines()]
    assert "library-erase" in operations and "library-index" in operations
    purposes = {json.loads(line)["purpose"] for line in out.splitlines()}
    assert "family photos" in purposes
