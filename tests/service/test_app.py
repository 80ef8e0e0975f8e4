"""End-to-end: every route of a real server on loopback, every scope refusal, every bad input."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import faceprint
from faceprint.imageio import RGBImage
from tests.conftest import encode, png_bomb
from tests.service.conftest import MAX_BYTES, Server, start_server, stop_server


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return dict(body["error"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def enrolled(server: Server, jpegs: dict[str, bytes], name: str, purpose: str = "door") -> None:
    admin = server.client()
    assert admin.post("/v1/subjects", json={"subject": name, "purpose": purpose}).status_code == 201
    response = admin.post(f"/v1/subjects/{name}/faces", files={"images": ("a.jpg", jpegs["astronaut"])})
    assert response.status_code == 200, response.text


# -- service routes ------------------------------------------------------------------------------


def test_health_needs_no_key_and_openapi_lists_every_route(server: Server) -> None:
    anon = server.client(None)
    assert anon.get("/v1/health").json() == {"status": "ok", "version": faceprint.__version__, "workers": 1}
    ready = anon.get("/v1/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": True, "key_file": True, "index": True}}
    paths = anon.get("/openapi.json").json()["paths"]
    assert {
        "/v1/detect",
        "/v1/verify",
        "/v1/search",
        "/v1/subjects",
        "/v1/subjects/{name}",
        "/v1/subjects/{name}/faces",
        "/v1/audit",
        "/v1/key",
        "/metrics",
        "/v1/health",
        "/v1/ready",
    } <= set(paths)
    body = paths["/v1/search"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    assert anon.get("/docs").status_code == 404  # no page that loads scripts from a CDN


def test_key_info_and_admin_page(server: Server) -> None:
    assert server.client("search").get("/v1/key").json()["scopes"] == ["search"]
    anon = server.client(None)
    page = anon.get("/", follow_redirects=True)
    assert page.status_code == 200 and "faceprint admin" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing loaded from elsewhere
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert anon.get("/admin/app.js").status_code == 200


def test_metrics_need_admin_and_hold_no_names(server: Server, jpegs: dict[str, bytes]) -> None:
    enrolled(server, jpegs, "metrics-person")
    error(server.client("audit").get("/metrics"), 403, "forbidden")
    text = server.client().get("/metrics").text
    assert (
        'faceprint_http_requests_total{method="POST",route="/v1/subjects/{name}/faces",status="200"}' in text
    )
    assert "faceprint_subjects" in text and "metrics-person" not in text


# -- faces -----------------------------------------------------------------------------------------


def test_detect_multipart_and_base64_agree(server: Server, jpegs: dict[str, bytes]) -> None:
    client = server.client("detect")
    multipart = client.post("/v1/detect", files={"image": ("x.jpg", jpegs["hopper"], "image/jpeg")})
    json_body = client.post("/v1/detect", json={"image": b64(jpegs["hopper"])})
    assert multipart.status_code == json_body.status_code == 200
    assert multipart.json() == json_body.json()
    face = multipart.json()["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5


def test_verify_same_and_different(server: Server, jpegs: dict[str, bytes]) -> None:
    client = server.client("verify")
    same = client.post(
        "/v1/verify",
        files={"a": ("a.jpg", jpegs["astronaut"]), "b": ("b.jpg", jpegs["astronaut_copy"])},
        data={"fmr": "0.001"},
    )
    assert same.status_code == 200 and same.json()["match"] is True
    other = client.post("/v1/verify", json={"a": b64(jpegs["astronaut"]), "b": b64(jpegs["hopper"])})
    assert other.status_code == 200 and other.json()["match"] is False
    assert other.json()["fmr_target"] == 0.001


# -- gallery ---------------------------------------------------------------------------------------


def test_subject_life_cycle_search_audit_erase(server: Server, jpegs: dict[str, bytes]) -> None:
    admin = server.client()
    created = admin.post(
        "/v1/subjects",
        json={
            "subject": "eileen",
            "purpose": "lab door",
            "evidence": "form 7",
            "expires_at": "2099-01-01T00:00:00Z",
        },
    )
    assert created.status_code == 201 and created.json()["templates"] == 0
    assert created.json()["consent"]["evidence"] == "form 7"
    error(admin.post("/v1/subjects", json={"subject": "eileen", "purpose": "lab door"}), 400, "invalid_input")

    enroll = server.client("enroll")
    first = enroll.post("/v1/subjects/eileen/faces", files=[("images", ("a.jpg", jpegs["astronaut"]))])
    assert first.json() == {"subject": "eileen", "created": False, "added": 1, "skipped": 0}
    again = enroll.post("/v1/subjects/eileen/faces", json={"images": [b64(jpegs["astronaut"])]})
    assert again.json()["skipped"] == 1
    assert enroll.get("/v1/subjects/eileen").json()["templates"] == 1
    listed = enroll.get("/v1/subjects", params={"limit": 1000}).json()
    assert "eileen" in [s["subject"] for s in listed["subjects"]]

    search = server.client("search")
    hit = search.post(
        "/v1/search", files={"image": ("p.jpg", jpegs["astronaut_copy"])}, data={"purpose": "lab door"}
    )
    assert hit.status_code == 200, hit.text
    assert [m["subject"] for m in hit.json()["faces"][0]["matches"]] == ["eileen"]
    # the answer says which threshold it used and why: by default FPIR 0.01 over the eligible subjects
    assert hit.json()["rule"] == "fpir 0.01 over 1 subject" and hit.json()["eligible"] == 1
    assert hit.json()["fpir"] == 0.01 and hit.json()["fmr"] == 0.01
    assert hit.json()["model"] == "sface-2021dec" and "29,640,749" in hit.json()["calibration"]
    stranger = search.post(
        "/v1/search", json={"image": b64(jpegs["hopper"]), "purpose": "lab door", "top_k": 3}
    )
    assert stranger.json()["faces"][0]["matches"] == []
    strict = search.post(
        "/v1/search", json={"image": b64(jpegs["hopper"]), "purpose": "lab door", "fmr": 1e-4}
    )
    assert strict.json()["rule"] == "fmr 0.0001 per comparison" and strict.json()["fpir"] is None
    assert strict.json()["threshold"] > hit.json()["threshold"]
    both = search.post(
        "/v1/search", json={"image": b64(jpegs["hopper"]), "purpose": "lab door", "fmr": 1e-4, "fpir": 0.01}
    )
    error(both, 400, "invalid_input")

    entries = server.client("audit").get("/v1/audit", params={"subject": "eileen"}).json()["entries"]
    searches = [e for e in entries if e["operation"] == "search"]
    assert searches[0]["actor"] == "key:search-key" and searches[0]["purpose"] == "lab door"
    assert {e["operation"] for e in entries} >= {"consent", "enroll", "search"}

    erased = server.client("erase").delete("/v1/subjects/eileen", params={"reason": "asked"})
    assert erased.json()["subject"] == "eileen" and erased.json()["templates"] == 1
    error(enroll.get("/v1/subjects/eileen"), 404, "not_found")
    error(server.client("erase").delete("/v1/subjects/eileen"), 404, "not_found")
    last = server.client("audit").get("/v1/audit", params={"limit": 1}).json()["entries"][0]
    assert last["operation"] == "erase" and last["actor"] == "key:erase-key" and last["detail"] == "asked"


def test_subject_names_with_slashes_reach_their_routes(server: Server, jpegs: dict[str, bytes]) -> None:
    admin = server.client()
    name = "family/ann b"
    quoted = "family%2Fann%20b"
    assert admin.post("/v1/subjects", json={"subject": name, "purpose": "home door"}).status_code == 201
    added = admin.post(f"/v1/subjects/{quoted}/faces", files={"images": ("a.jpg", jpegs["astronaut"])})
    assert added.status_code == 200, added.text
    assert added.json()["subject"] == name and added.json()["added"] == 1
    assert admin.get(f"/v1/subjects/{quoted}").json()["templates"] == 1
    error(admin.get("/v1/subjects/family%2Fnobody"), 404, "not_found")
    assert admin.delete(f"/v1/subjects/{quoted}").json()["subject"] == name
    error(admin.get(f"/v1/subjects/{quoted}"), 404, "not_found")


def test_consent_is_required(server: Server, jpegs: dict[str, bytes]) -> None:
    admin = server.client()
    error(admin.post("/v1/subjects", json={"subject": "nopurpose"}), 422, "invalid_request")
    error(admin.post("/v1/subjects", json={"subject": "blank", "purpose": "   "}), 409, "consent_required")
    past = {"subject": "old", "purpose": "door", "expires_at": "2001-01-01T00:00:00Z"}
    error(admin.post("/v1/subjects", json=past), 400, "invalid_input")
    enrolled(server, jpegs, "consent-person", purpose="canteen")
    wrong = admin.post(
        "/v1/search", files={"image": ("p.jpg", jpegs["astronaut"])}, data={"purpose": "cantine"}
    )
    assert "canteen" in error(wrong, 409, "consent_required")["message"]


def test_unknown_subject(server: Server, jpegs: dict[str, bytes]) -> None:
    admin = server.client()
    error(admin.get("/v1/subjects/nobody"), 404, "not_found")
    error(
        admin.post("/v1/subjects/nobody/faces", files={"images": ("a.jpg", jpegs["hopper"])}),
        404,
        "not_found",
    )
    error(admin.delete("/v1/subjects/nobody"), 404, "not_found")


# -- keys and scopes -----------------------------------------------------------------------------

ROUTES = [
    ("POST", "/v1/detect", "detect"),
    ("POST", "/v1/verify", "verify"),
    ("POST", "/v1/search", "search"),
    ("GET", "/v1/subjects", "enroll"),
    ("POST", "/v1/subjects", "enroll"),
    ("GET", "/v1/subjects/someone", "enroll"),
    ("POST", "/v1/subjects/someone/faces", "enroll"),
    ("DELETE", "/v1/subjects/someone", "erase"),
    ("GET", "/v1/audit", "audit"),
    ("GET", "/metrics", "admin"),
]


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_every_route_refuses_missing_wrong_and_unscoped_keys(
    server: Server, method: str, path: str, scope: str
) -> None:
    error(server.client(None).request(method, path), 401, "unauthorized")
    bad = httpx.Client(base_url=server.url, headers={"Authorization": "Bearer fpk_0000_nope"})
    error(bad.request(method, path), 401, "unauthorized")
    bad.close()
    other = "detect" if scope != "detect" else "search"
    refused = error(server.client(other).request(method, path), 403, "forbidden")
    assert scope in refused["message"]


def test_x_api_key_header_and_revocation(server: Server) -> None:
    with faceprint.open_store(server.store_path) as store:
        _, secret = store.keys.create("short-lived", "audit")
        with httpx.Client(base_url=server.url, headers={"X-API-Key": secret}) as client:
            assert client.get("/v1/audit").status_code == 200
            store.keys.revoke("short-lived")
            error(client.get("/v1/audit"), 401, "unauthorized")


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("limited") / "gallery.db"
    running = start_server(path, faceprint.Settings(rate_limit=6), scopes=("audit",))  # bursts of 1
    yield running
    stop_server(running)


def test_rate_limit_per_key(slow_server: Server) -> None:
    client = slow_server.client("audit")
    assert client.get("/v1/audit").status_code == 200
    refused = client.get("/v1/audit")
    error(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1


# -- bad input -----------------------------------------------------------------------------------


def test_bad_images_are_4xx(server: Server, jpegs: dict[str, bytes], no_face_png: Path) -> None:
    client = server.client()
    jpeg = jpegs["hopper"]

    def detect(data: bytes) -> httpx.Response:
        return client.post("/v1/detect", files={"image": ("x.jpg", data, "image/jpeg")})

    error(detect(b""), 400, "invalid_image")
    error(detect(b"this is not an image at all"), 400, "invalid_image")
    error(detect(jpeg[: len(jpeg) // 3]), 400, "invalid_image")
    error(detect(png_bomb(20000, 20000)), 413, "image_too_large")
    assert detect(no_face_png.read_bytes()).json() == {"faces": []}
    no_face = client.post(
        "/v1/search", files={"image": ("c.png", no_face_png.read_bytes())}, data={"purpose": "x"}
    )
    assert no_face.status_code in (409, 422)  # no subject for "x" (consent) or no face: both refuse
    error(
        client.post("/v1/verify", files={"a": ("a.png", no_face_png.read_bytes()), "b": ("b.jpg", jpeg)}),
        422,
        "no_face",
    )
    error(client.post("/v1/detect", json={"image": "%%% not base64 %%%"}), 400, "invalid_image")


def test_no_face_on_enrolment_and_search(server: Server, jpegs: dict[str, bytes], no_face_png: Path) -> None:
    enrolled(server, jpegs, "noface-person", purpose="noface-purpose")
    client = server.client()
    coffee = ("c.png", no_face_png.read_bytes())
    error(client.post("/v1/subjects/noface-person/faces", files={"images": coffee}), 422, "no_face")
    error(
        client.post("/v1/search", files={"image": coffee}, data={"purpose": "noface-purpose"}), 422, "no_face"
    )


def test_malformed_requests_are_4xx(server: Server, jpegs: dict[str, bytes]) -> None:
    client = server.client()
    error(
        client.post("/v1/detect", content=jpegs["hopper"], headers={"content-type": "image/jpeg"}),
        415,
        "unsupported_media_type",
    )
    error(
        client.post("/v1/detect", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "invalid_request",
    )
    error(client.post("/v1/detect", json={"picture": "x"}), 422, "invalid_request")
    error(client.post("/v1/detect", files={"other": ("x.jpg", jpegs["hopper"])}), 422, "invalid_request")
    error(
        client.post("/v1/detect", data={"image": "text, not a file"}, files={"x": ("x", b"x")}),
        422,
        "invalid_request",
    )
    files = {"a": ("a.jpg", jpegs["hopper"]), "b": ("b.jpg", jpegs["hopper"])}
    error(client.post("/v1/verify", files=files, data={"fmr": "2"}), 422, "invalid_request")
    error(client.post("/v1/verify", files=files, data={"fmr": "1e-12"}), 400, "invalid_input")
    error(
        client.post("/v1/search", json={"image": b64(jpegs["hopper"]), "purpose": "x", "top_k": 0}),
        422,
        "invalid_request",
    )
    error(client.get("/v1/audit", params={"limit": "lots"}), 422, "invalid_request")
    error(client.get("/v1/nothing-here"), 404, "not_found")
    error(client.put("/v1/detect"), 405, "method_not_allowed")
    error(
        client.post("/v1/detect", content=b"--xx\r\nbroken", headers={"content-type": "multipart/form-data"}),
        400,
        "invalid_request",
    )


def test_oversize_bodies_are_refused_before_decoding(server: Server) -> None:
    client = server.client()
    big = b"\xff" * (MAX_BYTES * 2)
    error(client.post("/v1/detect", files={"image": ("big.jpg", big)}), 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted while streaming
        yield b'{"image": "'
        for _ in range(MAX_BYTES // 100_000 * 2):
            yield b"A" * 100_000
        yield b'"}'

    streamed = client.post("/v1/detect", content=chunks(), headers={"content-type": "application/json"})
    error(streamed, 413, "payload_too_large")
    # An image under the body limit but over FACEPRINT_MAX_BYTES (base64 inflates by 4/3)
    too_big = client.post("/v1/detect", json={"image": b64(b"\xff" * (MAX_BYTES + 10))})
    error(too_big, 413, "image_too_large")


def test_a_slow_upload_does_not_stall_other_requests(server: Server, jpegs: dict[str, bytes]) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as slow:
        slow.sendall(
            f"POST /v1/detect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.keys['admin']}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"image": "'.encode()
        )
        started = time.monotonic()
        response = server.client("detect").post("/v1/detect", files={"image": ("x.jpg", jpegs["hopper"])})
        assert response.status_code == 200
        assert time.monotonic() - started < 30


def test_a_photo_of_two_people_is_not_enrolled(server: Server, samples: dict[str, RGBImage]) -> None:
    enrolled_name = "two-faces"
    admin = server.client()
    assert admin.post("/v1/subjects", json={"subject": enrolled_name, "purpose": "door"}).status_code == 201
    pair = encode(np.concatenate([samples["hopper"], samples["hopper"]], axis=1), "JPEG", quality=92)
    url = f"/v1/subjects/{enrolled_name}/faces"
    error(admin.post(url, files={"images": ("two.jpg", pair)}), 422, "many_faces")
    chosen = admin.post(url, files={"images": ("two.jpg", pair)}, data={"largest_face": "true"})
    assert chosen.status_code == 200 and chosen.json()["added"] == 1
