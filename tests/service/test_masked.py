"""The HTTP service shows whether a face appears masked, on detection and on search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import faceprint
from faceprint.imageio import RGBImage
from faceprint.masks import draw_mask, mask_for
from tests.conftest import encode
from tests.service.conftest import MAX_BYTES, Server, start_server, stop_server


@pytest.fixture(scope="module")
def dlib_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A service running dlib's ResNet: the recogniser with masked-face tables (docs/masks.md)."""
    path = tmp_path_factory.mktemp("dlib-service") / "gallery.db"
    running = start_server(path, faceprint.Settings(max_bytes=MAX_BYTES, rate_limit=0, recogniser="resnet"))
    yield running
    stop_server(running)


def test_detect_and_search_say_masked(
    server: Server, engine: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    rgb = samples["hopper"]
    masked = draw_mask(rgb, engine.detect(rgb)[0].landmarks, mask_for("hopper", 0, "surgical"))
    client = server.client("detect")
    bare = client.post(
        "/v1/detect", files={"image": ("b.jpg", encode(rgb, "JPEG", quality=92), "image/jpeg")}
    )
    face = bare.json()["faces"][0]
    assert face["masked"] is False and 0 <= face["mask_score"] < 0.5
    wearing = client.post(
        "/v1/detect", files={"image": ("m.jpg", encode(masked, "JPEG", quality=92), "image/jpeg")}
    )
    assert wearing.json()["faces"][0]["masked"] is True
    admin = server.client()
    assert admin.post("/v1/subjects", json={"subject": "masked-grace", "purpose": "masks"}).status_code == 201
    jpeg = encode(rgb, "JPEG", quality=92)
    assert admin.post("/v1/subjects/masked-grace/faces", files={"images": ("g.jpg", jpeg)}).status_code == 200
    search = server.client("search").post(
        "/v1/search",
        files={"image": ("m.jpg", encode(masked, "JPEG", quality=92), "image/jpeg")},
        data={"purpose": "masks"},
    )
    assert search.status_code == 200, search.text
    assert search.json()["faces"][0]["masked"] is True


def test_masked_copies_enrol_over_http_and_a_masked_probe_is_routed(
    dlib_server: Server, engine: faceprint.Engine, samples: dict[str, RGBImage]
) -> None:
    server = dlib_server
    rgb = samples["astronaut"]
    masked = draw_mask(rgb, engine.detect(rgb)[0].landmarks, mask_for("astronaut", 0, "cloth"))
    admin = server.client()
    assert (
        admin.post("/v1/subjects", json={"subject": "masked-eileen", "purpose": "masked-door"}).status_code
        == 201
    )
    jpeg = encode(rgb, "JPEG", quality=92)
    enrolled = admin.post(
        "/v1/subjects/masked-eileen/faces", files={"images": ("e.jpg", jpeg)}, data={"masked_copies": "true"}
    )
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["added"] == 6  # the photo, 4 masked copies, the occluded template
    probe = encode(masked, "JPEG", quality=92)
    search = server.client("search").post(
        "/v1/search", files={"image": ("m.jpg", probe, "image/jpeg")}, data={"purpose": "masked-door"}
    )
    assert search.status_code == 200, search.text
    face = search.json()["faces"][0]
    assert face["masked"] is True
    assert [m["subject"] for m in face["matches"]] == ["masked-eileen"]
    assert face["matches"][0]["comparison"] in {"bare", "masked", "occluded"}

    verify = server.client("verify").post(
        "/v1/verify",
        files={"a": ("m.jpg", probe, "image/jpeg"), "b": ("e.jpg", jpeg, "image/jpeg")},
    )
    assert verify.status_code == 200, verify.text
    assert verify.json()["match"] is True and verify.json()["comparison"] in {"bare", "masked", "occluded"}
