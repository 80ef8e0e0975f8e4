"""The HTTP API chooses a face by index as the CLI does (``face_a``/``face_b`` = ``--face-a``/``--face-b``)."""

from __future__ import annotations

import base64

import numpy as np
from PIL import Image

from faceprint.imageio import RGBImage
from tests.conftest import encode
from tests.service.conftest import Server


def _side_by_side(left: RGBImage, right: RGBImage, height: int = 400) -> bytes:
    parts = [
        np.asarray(Image.fromarray(im).resize((round(im.shape[1] * height / im.shape[0]), height)))
        for im in (left, right)
    ]
    return encode(np.hstack(parts), "JPEG", quality=92)


def test_verify_takes_the_face_given_by_index(
    server: Server, samples: dict[str, RGBImage], jpegs: dict[str, bytes]
) -> None:
    pair = _side_by_side(samples["astronaut"], samples["hopper"])
    client = server.client()
    faces = client.post("/v1/detect", files={"image": ("p.jpg", pair)}).json()["faces"]
    assert len(faces) == 2
    matches = []
    for index in range(2):
        answer = client.post(
            "/v1/verify",
            json={
                "a": base64.b64encode(pair).decode(),
                "b": base64.b64encode(jpegs["hopper"]).decode(),
                "face_a": index,
            },
        )
        assert answer.status_code == 200
        matches.append(answer.json()["match"])
    assert sorted(matches) == [False, True]  # one index is Grace Hopper, the other the astronaut
    multipart = client.post(
        "/v1/verify",
        files={"a": ("a.jpg", jpegs["hopper"]), "b": ("b.jpg", pair)},
        data={"face_b": str(matches.index(True))},
    )
    assert multipart.status_code == 200 and multipart.json()["match"] is True
    missing = client.post(
        "/v1/verify", files={"a": ("a.jpg", pair), "b": ("b.jpg", jpegs["hopper"])}, data={"face_a": "7"}
    )
    assert 400 <= missing.status_code < 500 and "face index 7 does not exist" in missing.text
    negative = client.post(
        "/v1/verify", files={"a": ("a.jpg", pair), "b": ("b.jpg", jpegs["hopper"])}, data={"face_a": "-1"}
    )
    assert negative.status_code == 422
