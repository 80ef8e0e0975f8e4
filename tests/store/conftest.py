"""Store fixtures: real templates of real photos, computed once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import faceprint
from faceprint.store import Sample, Store
from tests.conftest import sample_of


@pytest.fixture(scope="session")
def face_samples(engine: faceprint.Engine, faces_dir: Path) -> dict[str, Sample]:
    """Templates of ../shared/data/faces, by file name (skips when absent)."""
    return {p.name: sample_of(engine, p) for p in sorted(faces_dir.iterdir()) if p.suffix in (".jpg", ".png")}


@pytest.fixture
def store(tmp_path: Path, engine: faceprint.Engine) -> Iterator[Store]:
    with faceprint.open_store(tmp_path / "gallery.db", engine=engine) as opened:
        yield opened
