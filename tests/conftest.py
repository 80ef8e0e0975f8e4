"""Shared fixtures: one engine per session, the package-shipped sample photos, ../shared data."""

from __future__ import annotations

import csv
import io
import itertools
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import faceprint
from faceprint.demo import sample_images
from faceprint.imageio import RGBImage, load_image_and_digest
from faceprint.samples import sample_photo
from faceprint.store import Sample
from tests.milvus import milvus  # noqa: F401 (a session fixture for every test folder)
from tests.postgres import (
    Cluster,
    destroy_cluster,
    postgres,  # noqa: F401 (a session fixture for every test folder)
    start_cluster,
)
from tests.ray import ray_cluster  # noqa: F401 (the two-node Ray cluster, started on first use)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_dir(name: str) -> Path:
    """A folder of ``../shared/data``, or skip the test when a fresh clone does not have it."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"{path} is not present (tests that need ../shared/data skip without it)")
    return path


@pytest.fixture(scope="session")
def engine() -> faceprint.Engine:
    return faceprint.Engine(faceprint.Settings()).load()


@pytest.fixture(scope="session")
def dlib_engine() -> faceprint.Engine:
    """dlib's ResNet (mirror-averaged): what stores of its templates run, and the one recogniser with
    masked-face tables (the routed rule of docs/masks.md)."""
    return faceprint.Engine(faceprint.Settings(recogniser="resnet")).load()


@pytest.fixture(scope="session")
def samples() -> dict[str, RGBImage]:
    images = sample_images()
    return {
        "astronaut": images["astronaut (NASA)"],
        "astronaut_copy": images["astronaut, changed copy"],
        "hopper": images["grace_hopper (US Navy)"],
    }


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    return shared_dir("faces")


@pytest.fixture(scope="session")
def face_labels(faces_dir: Path) -> dict[str, str]:
    with (faces_dir / "labels.csv").open(newline="") as fh:
        return {row["file"]: row["person"] for row in csv.DictReader(fh)}


@pytest.fixture(scope="session")
def arcface_models(
    tmp_path_factory: pytest.TempPathFactory, faces_dir: Path, face_labels: dict[str, str]
) -> Path:
    """The ArcFace-style test model, registered and calibrated on ../shared/data/faces (its models dir)."""
    from tests.models.operator_graphs import calibrated_arcface

    return calibrated_arcface(tmp_path_factory.mktemp("arcface"), faces_dir, face_labels)


@pytest.fixture(scope="session")
def arcface(arcface_models: Path) -> faceprint.Engine:
    """An engine of the ArcFace-style test model (mirrored templates, calibrated)."""
    return faceprint.Engine(
        faceprint.Settings(recogniser="arcface-test", models_dir=str(arcface_models))
    ).load()


@pytest.fixture
def people(faces_dir: Path, face_labels: dict[str, str]) -> dict[str, list[Path]]:
    """The photos of ../shared/data/faces by subject name (tests/migration.py)."""
    from tests.migration import people_of

    return people_of(faces_dir, face_labels)


def same_and_different_pairs(labels: dict[str, str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    pairs = list(itertools.combinations(sorted(labels), 2))
    same = [(a, b) for a, b in pairs if labels[a] == labels[b]]
    different = [(a, b) for a, b in pairs if labels[a] != labels[b]]
    return same, different


def encode(rgb: RGBImage, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **params)
    return buf.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A real, valid 8-bit grayscale PNG of ``width`` x ``height`` black pixels, a few hundred KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (width + 1)  # filter byte + pixels
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row * 64) for _ in range(height // 64)]
    parts.append(compressor.compress(row * (height % 64)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def bomb_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "huge.png"
    path.write_bytes(png_bomb(20000, 20000))
    return path


@pytest.fixture(scope="session")
def no_face_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photo without a face: the coffee cup of :mod:`faceprint.samples`."""
    path = tmp_path_factory.mktemp("noface") / "coffee.png"
    Image.fromarray(sample_photo("coffee")).save(path)
    return path


def sample_of(engine: faceprint.Engine, image: RGBImage | Path) -> Sample:
    """The enrolment sample (template, photo hash, box) of the largest face in ``image``."""
    rgb, digest = load_image_and_digest(image)
    face = engine.embed(rgb, largest_only=True)[0]
    assert face.template is not None
    return Sample(face.template, digest, face.box)


@pytest.fixture(scope="session")
def package_samples(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> dict[str, Sample]:
    """Templates of the photos that ship with installed packages: astronaut (x2) and Grace Hopper."""
    return {name: sample_of(engine, rgb) for name, rgb in samples.items()}


@pytest.fixture(scope="session")
def face_samples_or_package(engine: faceprint.Engine, samples: dict[str, RGBImage]) -> dict[str, Sample]:
    """Templates of ../shared/data/faces when present, else of the package-shipped photos."""
    faces = SHARED / "faces"
    if faces.is_dir():
        return {p.name: sample_of(engine, p) for p in sorted(faces.iterdir()) if p.suffix in (".jpg", ".png")}
    return {name: sample_of(engine, rgb) for name, rgb in samples.items()}


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A PostgreSQL server of the test's own (not the session's): the test may stop it, e.g. to
    copy its data directory."""
    own = start_cluster()
    try:
        yield own
    finally:
        destroy_cluster(own)
