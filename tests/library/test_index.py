"""Library.index on real photos: formats (HEIC, TIFF), corrupt files, duplicates, renames, deletions."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.imageio import RGBImage
from faceprint.library import Library
from tests.conftest import encode


@pytest.fixture
def photos(tmp_path: Path, samples: dict[str, RGBImage]) -> Path:
    root = tmp_path / "photos"
    (root / "phone").mkdir(parents=True)
    (root / "copies").mkdir()
    (root / "phone" / "hopper.HEIC").write_bytes(encode(samples["hopper"], "HEIF", quality=90))
    (root / "hopper.tif").write_bytes(encode(samples["hopper"], "TIFF"))
    astronaut = encode(samples["astronaut"], "PNG")
    (root / "astronaut.png").write_bytes(astronaut)
    (root / "copies" / "astronaut copy.png").write_bytes(astronaut)  # the same bytes at a second path
    (root / "broken.jpg").write_bytes(b"not a jpeg at all")
    jpeg = encode(samples["hopper"], "JPEG")
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (root / "notes.txt").write_text("not a photo")
    return root


def faces_by_path(library: Library) -> dict[str, int]:
    counts: dict[str, int] = {}
    for face in library.faces():
        for path in face.paths:
            counts[Path(path).name] = counts.get(Path(path).name, 0) + 1
    return counts


def test_formats_corrupt_files_and_duplicates(library: Library, photos: Path) -> None:
    report = library.index(photos, workers=0)
    assert report.files == 6  # notes.txt is not a photo
    assert report.indexed == 3 and report.faces == 3
    assert report.duplicates == 1  # astronaut copy.png: one photo, two paths, one face
    assert sorted(Path(f.path).name for f in report.failures) == ["broken.jpg", "truncated.jpg"]
    assert all(f.code == "invalid_image" for f in report.failures)
    assert library.stats() == {"photos": 3, "paths": 4, "faces": 3, "people": 0, "unassigned": 3}
    counts = faces_by_path(library)
    assert counts == {"hopper.HEIC": 1, "hopper.tif": 1, "astronaut.png": 1, "astronaut copy.png": 1}
    # the HEIC and the TIFF decode to the same face (HEIC is lossy: boxes within a few pixels)
    heic, tif = sorted((f for f in library.faces() if "hopper" in f.paths[0]), key=lambda f: f.paths[0])
    assert abs(heic.box.left - tif.box.left) < 6 and abs(heic.box.bottom - tif.box.bottom) < 6


def test_a_copy_read_after_its_photo_was_written_is_one_photo(
    library: Library, tmp_path: Path, samples: dict[str, RGBImage]
) -> None:
    """Photos are read as the analysis needs them: a copy met after its original was already
    analysed and written is still one photo with two paths, not a new photo nor a "known" one."""
    root = tmp_path / "stream"
    root.mkdir()
    astronaut = encode(samples["astronaut"], "PNG")
    (root / "a astronaut.png").write_bytes(astronaut)
    for i, quality in enumerate((60, 70, 80, 90)):  # distinct files, analysed before the copy is read
        (root / f"b hopper {i}.jpg").write_bytes(encode(samples["hopper"], "JPEG", quality=quality))
    (root / "z astronaut copy.png").write_bytes(astronaut)
    report = library.index(root, workers=0)
    assert (report.indexed, report.known, report.duplicates, report.faces) == (5, 0, 1, 5)
    assert library.stats()["paths"] == 6 and library.stats()["photos"] == 5
    assert faces_by_path(library)["z astronaut copy.png"] == 1


def test_rerun_rename_and_delete(library: Library, photos: Path) -> None:
    library.index(photos, workers=0)
    again = library.index(photos, workers=0)
    assert (again.indexed, again.unchanged, again.known, again.faces) == (0, 4, 0, 0)
    assert len(again.failures) == 2  # still reported, still not fatal
    # a renamed file is recognised by its content: new path recorded, nothing decoded
    (photos / "astronaut.png").rename(photos / "phone" / "moved.png")
    moved = library.index(photos, workers=0)
    assert (moved.indexed, moved.known, moved.removed, moved.faces) == (0, 1, 1, 0)
    assert moved.duplicates == 1  # moved.png and "astronaut copy.png" are still one photo
    assert library.stats()["faces"] == 3 and "moved.png" in faces_by_path(library)
    # a file deleted for good: its photo and face go too (no template of a photo the owner removed)
    (photos / "hopper.tif").unlink()
    gone = library.index(photos, workers=0)
    assert gone.removed == 1
    assert library.stats() == {"photos": 2, "paths": 3, "faces": 2, "people": 0, "unassigned": 2}
    # a changed file (new bytes at the same path) is indexed anew
    rgb = np.asarray(Image.open(photos / "copies" / "astronaut copy.png"))[:, ::-1].copy()
    Image.fromarray(rgb).save(photos / "copies" / "astronaut copy.png")
    changed = library.index(photos, workers=0)
    assert changed.indexed == 1 and changed.faces == 1
    assert library.stats()["photos"] == 3


def test_templates_are_sealed_and_the_audit_has_no_biometrics(library: Library, photos: Path) -> None:
    library.index(photos, workers=0)
    _ids, vectors = library.vectors()
    assert vectors.shape == (3, 128)
    with library.store.db.read() as conn:
        blobs = [bytes(r[0]) for r in conn.execute("SELECT vector FROM faces")]
    engine = library.store.engine
    plain = engine.embed(photos / "hopper.tif")[0].template
    assert plain is not None
    raw = plain.vector.astype("<f4").tobytes()
    assert all(raw[:16] not in blob for blob in blobs)  # sealed (AES-GCM), not the template's bytes
    # protected space keeps similarities: the stored HEIC and TIFF faces of Hopper are near-identical
    sims = vectors @ vectors.T
    assert np.sort(sims[np.triu_indices(3, 1)])[-1] > 0.95
    entries = [e for e in library.store.audit() if e.operation.startswith("library-")]
    assert entries and entries[0].purpose == "personal photo library"
    text = json.dumps([e.to_json() for e in entries])
    assert all(e.subjects == () for e in entries)
    assert str(photos) not in text and "hopper" not in text  # no paths (nor boxes, digests, templates)
    details = " ".join(e.detail or "" for e in entries)
    assert not re.search(r"[0-9a-f]{64}|\d\.\d", details)


def test_pool_of_processes_gives_the_same_faces(library: Library, photos: Path, tmp_path: Path) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core")
    report = library.index(photos, workers=2)
    assert report.indexed == 3 and report.faces == 3 and len(report.failures) == 2


def test_not_a_folder_is_a_typed_error(library: Library, tmp_path: Path) -> None:
    from faceprint.errors import InvalidInput

    with pytest.raises(InvalidInput):
        library.index(tmp_path / "missing")


def test_key_rotation_reseals_library_faces(library: Library, photos: Path) -> None:
    library.index(photos, workers=0)
    _, before = library.vectors()
    rewritten = library.store.rotate_keys(storage=True, template=True)
    assert rewritten == 3  # the library's faces (no gallery templates in this store)
    _, after = library.vectors()
    assert not np.allclose(before, after)  # a new keyed transform ...
    assert np.allclose(before @ before.T, after @ after.T, atol=1e-5)  # ... with the same similarities
    assert library.cluster().faces == 3
