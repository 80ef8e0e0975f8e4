"""``faceprint store migrate-model`` as a process: kill -9 midway leaves the store answering with
its old model and a re-run finishes the job (SQLite and PostgreSQL); errors change nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import faceprint
from faceprint.cli import cli
from faceprint.model_migration import PAUSE_ENV
from tests.migration import best, enrol_all, rows, template, write_csv

ARCFACE = "arcface-test-v1+mirror"


@pytest.fixture(scope="module")
def engine() -> faceprint.Engine:
    """SFace with mirror-averaged templates: the stores' first model (the test model's table is for
    mirror-averaged templates, and a migration keeps the store's kind)."""
    return faceprint.Engine(faceprint.Settings(mirror=True)).load()


@pytest.fixture(params=["sqlite", "postgres", "milvus"])
def location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new store (SQLite file, PostgreSQL database, the same with its vectors in Milvus); key
    files and caches under the test's folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if request.param == "sqlite":
        return str(tmp_path / "g.db")
    if request.param == "milvus":
        monkeypatch.setenv("FACEPRINT_VECTORS", request.getfixturevalue("milvus").url)
    return str(request.getfixturevalue("postgres").new_database())


def command(csv_file: Path, *extra: str) -> list[str]:
    return ["store", "migrate-model", "--to", "arcface-test", "--from-csv", str(csv_file), *extra]


def pending_subjects(store: faceprint.Store) -> int:
    return int(str(rows(store, "SELECT count(DISTINCT subject_id) FROM pending_templates")[0][0]))


@pytest.mark.slow
def test_kill_9_mid_migration_then_a_rerun_finishes(
    location: str,
    tmp_path: Path,
    engine: faceprint.Engine,
    arcface: faceprint.Engine,
    arcface_models: Path,
    people: dict[str, list[Path]],
) -> None:
    with faceprint.open_store(location, engine=engine) as store:
        enrol_all(store, people)
        old_ids = {int(str(r[0])) for r in rows(store, "SELECT id FROM templates")}
    csv_file = write_csv(tmp_path / "photos.csv", people)
    env = {**os.environ, "FACEPRINT_STORE": location, "FACEPRINT_MODELS_DIR": str(arcface_models)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceprint", *command(csv_file, "--batch", "1")],
        env={**env, PAUSE_ENV: "3"},  # a test hook: 3 s after each committed batch
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    with faceprint.open_store(location, engine=engine) as store:
        deadline = time.monotonic() + 180
        while pending_subjects(store) < 2:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the migration wrote nothing in time"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        written = pending_subjects(store)
        assert 2 <= written < len(people)
        # the store still answers, with the old model, rightly
        assert store.model_id == engine.model_id and store.check().ok
        for name, photos in people.items():
            assert best(store, template(engine, photos[0])) == name
    finished = subprocess.run(
        [sys.executable, "-m", "faceprint", *command(csv_file, "--json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["switched"] and report["resumed"] == written
    assert report["migrated"] == len(people) - written and report["old_model"] == engine.model_id
    with faceprint.open_store(location, engine=arcface) as store:
        assert store.model_id == ARCFACE and store.check().ok
        assert rows(store, "SELECT DISTINCT model_id FROM templates") == [(ARCFACE,)]
        assert not old_ids & {int(str(r[0])) for r in rows(store, "SELECT id FROM templates")}
        assert rows(store, "SELECT count(*) FROM pending_templates") == [(0,)]
        assert {s.name: s.templates for s in store.subjects()} == {n: len(p) for n, p in people.items()}
        for name, photos in people.items():
            assert best(store, template(arcface, photos[0])) == name
        operations = [e.operation for e in store.audit()]
        assert operations.count("migrate-model-start") == 1 and operations.count("migrate-model") == 1


def run(location: Path, models: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, list(args), env={"FACEPRINT_STORE": str(location), "FACEPRINT_MODELS_DIR": str(models)}
    )
    return result.exit_code, result.stdout, result.stderr


def test_errors_leave_the_store_untouched(
    tmp_path: Path,
    engine: faceprint.Engine,
    arcface_models: Path,
    people: dict[str, list[Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = tmp_path / "g.db"
    with faceprint.open_store(path, engine=engine) as store:
        enrol_all(store, {k: people[k] for k in ("paul_rudd", "chris_pratt")})

    def state() -> list[tuple[object, ...]]:
        with faceprint.open_store(path, engine=engine) as store:
            return rows(store, "SELECT key, value FROM meta ORDER BY key") + rows(
                store, "SELECT id, model_id, vector FROM templates ORDER BY id"
            )

    before = state()
    csv_file = write_csv(tmp_path / "photos.csv", people)
    code, _, err = run(
        path, arcface_models, "store", "migrate-model", "--to", "nope", "--from-csv", str(csv_file)
    )
    assert code == 2 and "no recogniser 'nope'" in err and "Traceback" not in err
    code, _, err = run(path, arcface_models, *command(tmp_path / "missing.csv"))
    assert code == 2 and "cannot read" in err
    # a registered model whose file went missing, and one without a calibration table
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("manifest.json", "model.onnx"):
        (broken / "arcface-test").mkdir(exist_ok=True)
        (broken / "arcface-test" / name).write_bytes((arcface_models / "arcface-test" / name).read_bytes())
    code, _, err = run(path, broken, *command(csv_file))
    assert code == 2 and "no calibration table" in err and "--uncalibrated" in err
    (broken / "arcface-test" / "model.onnx").unlink()
    code, _, err = run(path, broken, *command(csv_file))
    assert code == 2 and "faceprint: error:" in err and "Traceback" not in err
    assert state() == before

    # photos missing for a subject: written for the others, not switched (exit 1), counts only
    only_rudd = write_csv(tmp_path / "rudd.csv", {"paul_rudd": people["paul_rudd"]})
    code, out, err = run(path, arcface_models, *command(only_rudd, "--json"))
    assert code == 1 and "chris_pratt: not in the CSV" in err and "not switched: 1 subject(s)" in err
    assert str(people["paul_rudd"][0]) not in err + out  # no photo paths
    report = json.loads(out)
    assert not report["switched"] and report["failures"] == {"not_in_csv": 1} and report["migrated"] == 1
    with faceprint.open_store(path, engine=engine) as store:
        assert store.model_id == engine.model_id
        assert best(store, template(engine, people["chris_pratt"][0])) == "chris_pratt"
    code, out, err = run(path, arcface_models, *command(only_rudd, "--drop-missing"))
    assert code == 0, err
    assert "switched from sface-2021dec+mirror to arcface-test-v1+mirror (generation 2)" in out
    assert "1 subject(s) without one erased" in out and "0 subject(s) (0 template(s)) written" in out
    # and back to the shipped model by its name (mirroring follows the store's templates)
    code, out, err = run(
        path, arcface_models, "store", "migrate-model", "--to", "resnet", "--from-csv", str(only_rudd)
    )
    assert code == 0, err
    assert "switched from arcface-test-v1+mirror to dlib-resnet-v1+mirror (generation 3)" in out
    with faceprint.open_store(path, engine=engine) as store:
        assert [s.name for s in store.subjects()] == ["paul_rudd"]
        assert store.engine.model_id == "dlib-resnet-v1+mirror"  # the store's engine follows its templates
        assert best(store, template(store.engine, people["paul_rudd"][1])) == "paul_rudd"
