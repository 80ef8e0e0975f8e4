"""Library fixtures: folders of real photos (package samples; LFW subsets from ../shared when present).

``library`` runs each test that takes it on both store backends, SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faceprint
from faceprint.imageio import RGBImage, load_image
from faceprint.library import Library
from tests.conftest import shared_dir
from tests.postgres import Cluster

#: LFW people used by the clustering tests, and how many of their photos go in the first folder.
LFW_PEOPLE = ("Colin_Powell", "Tony_Blair", "Gerhard_Schroeder")


@pytest.fixture(params=["sqlite", "postgres"])
def library(request: pytest.FixtureRequest, tmp_path: Path, engine: faceprint.Engine) -> Iterator[Library]:
    """An empty library on each backend: a SQLite file, or a new database on the test PostgreSQL."""
    location: str | Path = tmp_path / "library.db"
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "postgres":
            cluster: Cluster = request.getfixturevalue("postgres")
            location = cluster.new_database()
            patch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the key file of a PostgreSQL store
            patch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        with faceprint.open_library(location, engine=engine) as opened:
            yield opened


def tile(images: list[RGBImage], size: int = 250) -> RGBImage:
    """One photo holding ``images`` side by side (a group photo composed of separate portraits)."""
    canvas = np.full((size, size * len(images), 3), 255, dtype=np.uint8)
    for i, rgb in enumerate(images):
        canvas[:, i * size : (i + 1) * size] = np.asarray(Image.fromarray(rgb).resize((size, size)))
    return canvas


def lfw_photos(person: str) -> list[Path]:
    return sorted((shared_dir("lfw") / person).glob("*.jpg"))


def lfw_folder(root: Path, per_person: int, offset: int = 0) -> Path:
    """``per_person`` LFW photos of each of :data:`LFW_PEOPLE`, copied under ``root``."""
    for person in LFW_PEOPLE:
        target = root / person.lower()
        target.mkdir(parents=True, exist_ok=True)
        for path in lfw_photos(person)[offset : offset + per_person]:
            shutil.copyfile(path, target / path.name)
    return root


def powell_pair() -> RGBImage:
    """Two different photos of Colin Powell in one picture: the same person twice in one photo."""
    paths = lfw_photos("Colin_Powell")
    return tile([load_image(paths[-1]), load_image(paths[-2])])
