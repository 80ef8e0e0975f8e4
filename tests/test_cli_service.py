"""faceprint keys create|list|revoke (serve is exercised by tests/service against the same app)."""

from __future__ import annotations

import json
from pathlib import Path

import faceprint
from tests.test_cli import run


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    store = ["--store", str(tmp_path / "g.db")]
    code, out, err = run(*store, "keys", "create", "--name", "door-cam", "--scopes", "search,detect")
    assert code == 0 and "not shown again" in err
    secret = out.strip()
    with faceprint.open_store(tmp_path / "g.db") as opened:
        found = opened.keys.authenticate(secret)
        assert found is not None and found.scopes == {"search", "detect"}
    code, out, _ = run(*store, "keys", "list", "--json")
    assert json.loads(out)["name"] == "door-cam" and secret not in out
    assert run(*store, "keys", "create", "--name", "x", "--scopes", "root")[0] == 2
    assert run(*store, "keys", "revoke", "door-cam")[1].strip().endswith("revoked")
    assert run(*store, "keys", "list")[1] == ""
    assert "door-cam" in run(*store, "keys", "list", "--all")[1]
    assert run(*store, "keys", "revoke", "door-cam")[0] == 2


def test_a_library_key_and_serve_refusing_a_missing_library_folder(tmp_path: Path) -> None:
    store = ["--store", str(tmp_path / "g.db")]
    code, out, _ = run(*store, "keys", "create", "--name", "me", "--scopes", "library:read,library:write")
    assert code == 0
    with faceprint.open_store(tmp_path / "g.db") as opened:
        found = opened.keys.authenticate(out.strip())
        assert found is not None and found.scopes == {"library:read", "library:write"}
    code, _, err = run(*store, "serve", "--library", str(tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in err
