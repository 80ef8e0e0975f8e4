from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceprint.imageio import RGBImage
from tests.store.test_bulk import write_images
from tests.test_cli import run


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, samples: dict[str, RGBImage]) -> dict[str, Path]:
    return write_images(tmp_path_factory.mktemp("privacy"), samples)


def test_privacy_commands(tmp_path: Path, images: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    store = ["--store", str(tmp_path / "g.db")]
    assert run(*store, "enroll", "eileen", str(images["astronaut"]), "--purpose", "p")[0] == 0
    assert (
        run(*store, "enroll", "grace", str(images["hopper"]), "--purpose", "p", "--expires", "2099-01-01")[0]
        == 0
    )
    code, out, _ = run(*store, "keys", "rotate-template-key")
    assert code == 0 and "re-protected 2 template(s)" in out
    code, out, _ = run(*store, "keys", "rotate-storage-key")
    assert code == 0 and "re-encrypted 2 template(s)" in out
    assert run(*store, "search", str(images["astronaut_copy"]), "--purpose", "p")[0] == 0

    out_file = tmp_path / "eileen.json"
    code, _, _ = run(*store, "subjects", "export", "eileen", "--out", str(out_file))
    exported = json.loads(out_file.read_text())
    assert code == 0 and exported["subject"]["subject"] == "eileen" and len(exported["templates"]) == 1
    code, out, _ = run(*store, "subjects", "export", "eileen")
    assert json.loads(out)["subject"]["subject"] == "eileen"
    assert run(*store, "subjects", "export", "nobody")[0] == 2

    monkeypatch.setenv("FACEPRINT_CONTROLLER", "ACME Ltd")
    code, out, _ = run(*store, "record")
    assert code == 0 and "controller: ACME Ltd" in out and "AES-256-GCM" in out
    code, out, _ = run(*store, "record", "--json")
    assert json.loads(out)["purposes"][0]["subjects"] == 2

    code, out, _ = run(*store, "consent", "withdraw", "eileen")
    assert code == 0 and "consent withdrawn" in out
    assert run(*store, "search", str(images["astronaut_copy"]), "--purpose", "p")[0] == 1

    monkeypatch.setenv("FACEPRINT_MAX_IDLE_DAYS", "0")
    code, out, err = run(*store, "retention", "sweep", "--dry-run")
    assert code == 0 and out == ""
    code, out, err = run(*store, "retention", "sweep")
    assert code == 0 and "erased 0 subject(s)" in err
    assert run(*store, "subjects")[1].startswith("grace")

    code, _, err = run(
        "--store", str(tmp_path / "g.db"), "subjects", env_key_file=str(tmp_path / "wrong.key")
    )
    assert code == 2 and "key file" in err
