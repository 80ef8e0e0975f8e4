"""Changing a store's model: a ResNet store re-enrolled into the ArcFace-style test model from the
photos of ../shared/data/faces, the switch atomic, the old generation erased, consent and audit
kept, searches answered by the old model until the switch and by the new one after."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

import faceprint
from faceprint.errors import InvalidInput, ModelError, StoreError
from faceprint.model_migration import migrate_model
from faceprint.store import generations
from tests.migration import best, enrol_all, rows, rows_of, template


@pytest.fixture
def resnet_store(
    tmp_path: Path, engine: faceprint.Engine, people: dict[str, list[Path]]
) -> Iterator[faceprint.Gallery]:
    """A store of the shipped model's templates: every person of ../shared/data/faces."""
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        enrol_all(store, people)
        yield store


def test_migration_switches_the_model_and_erases_the_old_generation(
    resnet_store: faceprint.Gallery, arcface: faceprint.Engine, people: dict[str, list[Path]]
) -> None:
    store = resnet_store
    old_model, consents = store.model_id, [(s.name, s.consent) for s in store.subjects()]
    old_ids = {int(r[0]) for r in rows(store, "SELECT id FROM templates")}
    report = migrate_model(store, arcface, rows_of(people), batch_size=2)
    assert report.switched and report.failures == () and report.resumed == 0
    assert (report.old_model, report.model) == (old_model, "arcface-test-v1+mirror")
    assert report.migrated == len(people) == report.subjects and report.templates == 13
    assert store.model_id == "arcface-test-v1+mirror" and store.check().index_agrees
    assert rows(store, "SELECT DISTINCT model_id FROM templates") == [("arcface-test-v1+mirror",)]
    assert not old_ids & {int(r[0]) for r in rows(store, "SELECT id FROM templates")}
    assert rows(store, "SELECT count(*) FROM pending_templates") == [(0,)]
    assert rows(store, "SELECT value FROM meta WHERE key = 'generation'") == [("2",)]
    # consent records kept as they were; the audit trail kept, with the migration in it
    assert [(s.name, s.consent) for s in store.subjects()] == consents
    assert {s.name: s.templates for s in store.subjects()} == {n: len(p) for n, p in people.items()}
    operations = [e.operation for e in store.audit()]
    assert operations.count("enroll") == len(people) and {"migrate-model-start", "migrate-model"} <= set(
        operations
    )
    with pytest.raises(InvalidInput, match="already holds"):
        migrate_model(store, arcface, rows_of(people))
    assert store.path is not None
    with faceprint.open_store(store.path, engine=arcface) as new:  # FACEPRINT_RECOGNISER=arcface-test
        for name, photos in people.items():
            assert best(new, template(arcface, photos[0])) == name
        with pytest.raises(StoreError, match="holds arcface-test-v1"):  # old-model probes are refused
            best(new, template(resnet_store.engine, people["paul_rudd"][0]))


def test_a_missing_subject_blocks_the_switch_until_dropped(
    resnet_store: faceprint.Gallery,
    arcface: faceprint.Engine,
    engine: faceprint.Engine,
    people: dict[str, list[Path]],
    no_face_png: Path,
) -> None:
    store = resnet_store
    old_model = store.model_id
    partial = {k: v for k, v in people.items() if k != "chris_pratt"}
    partial["codait_bryan"] = [no_face_png]  # a photo without a face
    report = migrate_model(store, arcface, [*rows_of(partial), ("stranger", no_face_png)])
    assert not report.switched and report.unknown == 1 and report.photos_failed == 1
    assert {(f.subject, f.reason) for f in report.failures} == {
        ("chris_pratt", "not_in_csv"),
        ("codait_bryan", "no_face"),
    }
    assert store.model_id == old_model  # still the old model, and it still answers
    assert best(store, template(engine, people["chris_pratt"][0])) == "chris_pratt"
    # a re-run resumes: the subjects written stay, the missing ones are erased with --drop-missing
    report = migrate_model(store, arcface, rows_of(partial), drop_missing=True)
    assert report.switched and report.resumed == len(people) - 2 and report.migrated == 0
    assert set(report.dropped) == {"chris_pratt", "codait_bryan"}
    assert {s.name for s in store.subjects()} == set(people) - {"chris_pratt", "codait_bryan"}
    assert any(e.operation == "erase" and e.subjects == ("chris_pratt",) for e in store.audit())
    assert store.path is not None
    with faceprint.open_store(store.path, engine=arcface) as new:
        assert best(new, template(arcface, people["paul_rudd"][0])) == "paul_rudd"


def test_searches_during_a_migration_use_the_old_generation(
    resnet_store: faceprint.Gallery,
    arcface: faceprint.Engine,
    arcface_models: Path,
    engine: faceprint.Engine,
    people: dict[str, list[Path]],
) -> None:
    assert resnet_store.path is not None
    seen: list[str | None] = []
    settings = dataclasses.replace(engine.settings, models_dir=str(arcface_models))
    with faceprint.open_store(
        resnet_store.path, engine=engine, settings=settings
    ) as other:  # another connection
        probe = template(engine, people["jacques_chirac"][0])
        assert best(other, probe) == "jacques_chirac"

        def search_midway(_: int) -> None:
            written = rows(other, "SELECT count(DISTINCT subject_id) FROM pending_templates")[0][0]
            if written and not seen:  # part of the new generation is committed
                seen.append(best(other, probe))
                assert other.model_id == engine.model_id and other.check().index_agrees

        report = migrate_model(resnet_store, arcface, rows_of(people), batch_size=1, progress=search_midway)
        assert report.switched and seen == ["jacques_chirac"]
        # the process that searched before follows the switch: its index is rebuilt at 512 values
        assert best(other, template(arcface, people["jacques_chirac"][0])) == "jacques_chirac"
        assert other.check().index_agrees and other.synced_index().dim == 512


def test_an_erasure_during_a_migration_erases_the_new_templates_too(
    resnet_store: faceprint.Gallery, arcface: faceprint.Engine, people: dict[str, list[Path]]
) -> None:
    store = resnet_store
    partial = {k: v for k, v in people.items() if k != "paul_rudd"}
    assert not migrate_model(store, arcface, rows_of(partial)).switched
    pending = rows(
        store,
        "SELECT count(*) FROM pending_templates p JOIN subjects s ON s.id = p.subject_id "
        "WHERE s.name = 'barack_obama'",
    )
    assert pending == [(4,)]
    export = store.export("jacques_chirac")  # Art. 15: the pending generation is listed too
    assert [t["model"] for t in export["pending_templates"]] == ["arcface-test-v1+mirror"] * 4
    assert len(export["templates"]) == 4
    store.erase("barack_obama", reason="request")
    assert rows(store, "SELECT count(*) FROM pending_templates") == [(13 - 4 - 2,)]
    store.rotate_keys(storage=True, template=True)  # the pending rows follow a key rotation too
    report = migrate_model(store, arcface, rows_of(people))
    assert report.switched and report.migrated == 1 and report.resumed == len(people) - 2
    assert "barack_obama" not in {s.name for s in store.subjects()}
    assert store.path is not None
    with faceprint.open_store(store.path, engine=arcface) as new:
        assert best(new, template(arcface, people["jacques_chirac"][1])) == "jacques_chirac"


def test_a_model_without_calibration_is_refused_untouched(
    resnet_store: faceprint.Gallery, tmp_path: Path, people: dict[str, list[Path]]
) -> None:
    from faceprint.models.onnx_recogniser import register
    from tests.models.operator_graphs import arcface_graph, write_model

    models = tmp_path / "bare"
    register(*write_model(tmp_path / "src", arcface_graph()), models)
    bare = faceprint.Engine(faceprint.Settings(recogniser="arcface-test", models_dir=str(models)))
    before = rows(resnet_store, "SELECT key, value FROM meta ORDER BY key")
    with pytest.raises(ModelError, match=r"no calibration table.*--uncalibrated"):
        migrate_model(resnet_store, bare, rows_of(people))
    assert rows(resnet_store, "SELECT key, value FROM meta ORDER BY key") == before
    with resnet_store.db.read() as conn:
        assert generations.pending(conn) is None


def test_a_migration_to_another_model_abandons_the_unfinished_one(
    resnet_store: faceprint.Gallery, arcface: faceprint.Engine, people: dict[str, list[Path]]
) -> None:
    store = resnet_store
    partial = {k: v for k, v in people.items() if k != "paul_rudd"}
    assert not migrate_model(store, arcface, rows_of(partial)).switched
    plain = faceprint.Engine(faceprint.Settings(mirror=False, recogniser="resnet"))  # dlib's, plain
    report = migrate_model(store, plain, rows_of(people))
    assert report.switched and report.abandoned == "arcface-test-v1+mirror" and report.resumed == 0
    assert store.model_id == "dlib-resnet-v1" and report.generation == 2
    assert rows(store, "SELECT DISTINCT model_id FROM templates") == [("dlib-resnet-v1",)]
    details = [e.detail or "" for e in store.audit() if e.operation == "migrate-model-start"]
    assert any("abandoned" in d for d in details)
    with faceprint.open_store(store.path or "", engine=plain) as new:
        assert best(new, template(plain, people["paul_rudd"][1])) == "paul_rudd"


def test_a_migration_makes_the_masked_copies_again(
    tmp_path: Path, engine: faceprint.Engine, arcface: faceprint.Engine, people: dict[str, list[Path]]
) -> None:
    with faceprint.open_store(tmp_path / "g.db", engine=engine) as store:
        enrol_all(store, people)
        photo = people["paul_rudd"][0]
        store.erase("paul_rudd")
        store.enroll("paul_rudd", [photo], purpose="test", masked_copies=True)  # 6 templates
        before = {s.name: s.templates for s in store.subjects()}
        report = migrate_model(store, arcface, rows_of({**people, "paul_rudd": [photo]}))
        assert report.switched and store.model_id == "arcface-test-v1+mirror"
        assert {s.name: s.templates for s in store.subjects()} == before  # copies made again, only there
        sources = [str(r[0]) for r in rows(store, "SELECT source FROM templates")]
        assert sum("+masked-" in s for s in sources) == 5
