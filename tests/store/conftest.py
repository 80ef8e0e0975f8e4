"""Store fixtures: real templates of real photos, computed once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import faceprint
from faceprint.imageio import RGBImage, load_image_and_digest
from faceprint.store import Sample, Store


def sample_of(engine: faceprint.Engine, image: RGBImage | Path) -> Sample:
    rgb, digest = load_image_and_digest(image)
    face = engine.embed(rgb, largest_only=True)[0]
    assert face.template is not None
    return Sample(face.template, digest, face.box)


@pytest.fixture(scope="session")
def package_samples(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> dict[str, Sample]:
    """Templates of the photos that ship with installed packages: astronaut (x2) and Grace Hopper."""
    return {name: sample_of(engine, rgb) for name, rgb in samples.items()}


@pytest.fixture(scope="session")
def face_samples(engine: faceprint.Engine, faces_dir: Path) -> dict[str, Sample]:
    """Templates of ../shared/data/faces, by file name (skips when absent)."""
    return {p.name: sample_of(engine, p) for p in sorted(faces_dir.iterdir()) if p.suffix in (".jpg", ".png")}


@pytest.fixture
def store(tmp_path: Path, engine: faceprint.Engine) -> Iterator[Store]:
    with faceprint.open_store(tmp_path / "gallery.db", engine=engine) as opened:
        yield opened
