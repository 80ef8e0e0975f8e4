"""The photo library over HTTP on a live server: index real faces as a job, browse people, correct
them, thumbnails cut from the photos (EXIF orientation, 404 once erased, 410 once moved), scopes."""

from __future__ import annotations

import io
import logging
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.service.conftest import Server, stop_server
from tests.service.library_photos import library_server, wait_for_job


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    running, photos = library_server(tmp_path_factory.mktemp("library-service"))
    yield running, photos
    stop_server(running)


@pytest.fixture(scope="module")
def indexed(served: tuple[Server, Path]) -> tuple[Server, Path]:
    server, photos = served
    writer = server.client("library:write")
    response = writer.post("/v1/library/index", json={"folder": str(photos)})
    assert response.status_code == 202, response.text
    job = wait_for_job(server.client("library:read"))
    assert job["state"] == "done", job
    assert job["total"] == job["done"] == 25 and job["indexed"] == 25 and job["failed"] == 0
    assert job["people"] >= 4
    return server, photos


def people(client: httpx.Client, **params: object) -> list[dict[str, object]]:
    body = client.get("/v1/library/people", params={"limit": 500, **params}).json()
    return list(body["people"])


def test_every_library_route_needs_its_scope(served: tuple[Server, Path]) -> None:
    server, photos = served
    reads = [
        ("GET", "/v1/library/people"),
        ("GET", "/v1/library/people/1"),
        ("GET", "/v1/library/people/1/faces"),
        ("GET", "/v1/library/people/1/photos"),
        ("GET", "/v1/library/review"),
        ("GET", "/v1/library/stats"),
        ("GET", "/v1/library/index"),
        ("GET", "/v1/library/photos/1"),
        ("GET", "/v1/library/photos/1/preview"),
        ("GET", "/v1/library/faces/1/thumbnail"),
    ]
    writes = [
        ("POST", "/v1/library/index", {"folder": str(photos)}),
        ("DELETE", "/v1/library/index", None),
        ("PUT", "/v1/library/people/1/name", {"name": "x"}),
        ("POST", "/v1/library/people/1/merge", {"other": 2}),
        ("POST", "/v1/library/people/1/split", {"faces": [1]}),
        ("POST", "/v1/library/people/1/not", {"faces": [1]}),
        ("DELETE", "/v1/library/people/1", None),
    ]
    detect, reader, anonymous = server.client("detect"), server.client("library:read"), server.client(None)
    for method, path in reads:
        for client, status in ((anonymous, 401), (detect, 403), (server.client("library:write"), 403)):
            response = client.request(method, path)
            assert response.status_code == status, (method, path, response.text)
            assert response.json()["error"]["code"] in ("unauthorized", "forbidden")
    for method, path, body in writes:
        for client, status in ((anonymous, 401), (detect, 403), (reader, 403)):
            response = client.request(method, path, json=body)
            assert response.status_code == status, (method, path, response.text)


def test_bad_input_is_a_4xx_json_body(served: tuple[Server, Path], tmp_path: Path) -> None:
    server, photos = served
    writer, reader = server.client("library:write"), server.client("library:read")
    cases = [
        writer.post("/v1/library/index", json={"folder": str(tmp_path)}),  # outside the roots
        writer.post("/v1/library/index", json={"folder": "/etc"}),
        writer.post("/v1/library/index", json={"folder": str(photos / "nope")}),
        writer.post("/v1/library/index", json={"folder": "../.."}),
        writer.post("/v1/library/index", json={}),
        writer.put("/v1/library/people/1/name", json={"name": ""}),
        writer.post("/v1/library/people/1/split", json={"faces": []}),
        writer.post("/v1/library/people/99999/merge", json={"other": 1}),
        reader.get("/v1/library/people/0"),
        reader.get("/v1/library/people/99999999999999999999999"),
        reader.get("/v1/library/people", params={"limit": 0}),
        reader.get("/v1/library/people", params={"unnamed": "middle"}),
        reader.get("/v1/library/faces/99999/thumbnail"),
        reader.get("/v1/library/faces/1/thumbnail", params={"size": 5000}),
        reader.get("/v1/library/photos/99999/preview"),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, (response.request.url, response.text)
        assert set(response.json()["error"]) == {"code", "message"}
    assert cases[0].status_code == cases[1].status_code == cases[3].status_code == 403
    assert cases[2].status_code == 400


def test_people_faces_photos_and_thumbnails(indexed: tuple[Server, Path]) -> None:
    server, photos = indexed
    reader = server.client("library:read")
    stats = reader.get("/v1/library/stats").json()
    assert stats["photos"] == 25 and stats["faces"] >= 25 and stats["roots"] == [str(photos)]
    everyone = people(reader)
    assert len(everyone) == stats["people"]
    top = everyone[0]
    assert isinstance(top["cover"], int) and top["faces"] >= top["photos"] >= 2
    page = reader.get("/v1/library/people", params={"limit": 2, "offset": 1}).json()
    assert [p["id"] for p in page["people"]] == [p["id"] for p in everyone[1:3]]
    faces = reader.get(f"/v1/library/people/{top['id']}/faces").json()
    assert faces["total"] == top["faces"] and faces["faces"][0]["id"] == top["cover"]
    shots = reader.get(f"/v1/library/people/{top['id']}/photos").json()
    assert shots["total"] == top["photos"]
    assert all(any(f["person"] == top["id"] for f in p["faces"]) for p in shots["photos"])

    thumb = reader.get(f"/v1/library/faces/{top['cover']}/thumbnail", params={"size": 96})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["cache-control"].startswith("private")
    assert Image.open(io.BytesIO(thumb.content)).size == (96, 96)
    again = reader.get(f"/v1/library/faces/{top['cover']}/thumbnail", params={"size": 96})
    assert again.content == thumb.content  # from the cache
    one = shots["photos"][0]
    preview = reader.get(f"/v1/library/photos/{one['id']}/preview", params={"size": 200})
    width, height = Image.open(io.BytesIO(preview.content)).size
    assert max(width, height) <= 200 and abs(width / height - one["width"] / one["height"]) < 0.02
    review = reader.get("/v1/library/review").json()
    assert all(f["person"] is None or f["reasons"] for f in review["faces"])


def test_corrections_survive_a_new_index_run_and_erasure_removes_thumbnails(
    indexed: tuple[Server, Path],
) -> None:
    server, photos = indexed
    reader, writer = server.client("library:read"), server.client("library:write")
    everyone = people(reader)
    by_size = sorted(everyone, key=lambda p: -int(p["faces"]))  # type: ignore[call-overload]
    big, second = by_size[0], by_size[1]
    named = writer.put(f"/v1/library/people/{big['id']}/name", json={"name": "Big One"}).json()
    assert named["name"] == "Big One" and named["pinned"]
    faces = reader.get(f"/v1/library/people/{big['id']}/faces").json()["faces"]
    split = writer.post(f"/v1/library/people/{big['id']}/split", json={"faces": [faces[-1]["id"]]})
    assert split.status_code == 200, split.text
    new_person = split.json()
    assert new_person["faces"] == 1
    rejected = faces[-2]["id"]
    out = writer.post(f"/v1/library/people/{big['id']}/not", json={"faces": [rejected]}).json()
    assert out["faces"][0]["person"] is None
    merged = writer.post(f"/v1/library/people/{second['id']}/merge", json={"other": new_person["id"]})
    assert merged.status_code == 200, merged.text
    assert reader.get(f"/v1/library/people/{new_person['id']}").status_code == 404

    # a new photo (the mirror image of one already there) and a new run: the corrections stay
    moved_face = faces[-1]["id"]
    path = next(photos.rglob("*.jpg"))
    Image.open(path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photos / "new-photo.jpg", quality=95)
    assert writer.post("/v1/library/index", json={"folder": str(photos)}).status_code == 202
    job = wait_for_job(reader)
    assert job["state"] == "done" and job["indexed"] == 1, job
    after = reader.get(f"/v1/library/people/{big['id']}").json()
    assert after["name"] == "Big One"
    kept = reader.get(f"/v1/library/people/{big['id']}/faces").json()["faces"]
    assert rejected not in [f["id"] for f in kept]  # "not this person" kept
    assert moved_face not in [f["id"] for f in kept]  # the split stays split
    assert moved_face in [
        f["id"] for f in reader.get(f"/v1/library/people/{second['id']}/faces").json()["faces"]
    ]

    # erase: the person's thumbnails are gone (404), the audit trail names the key
    face_ids = [f["id"] for f in kept]
    assert reader.get(f"/v1/library/faces/{face_ids[0]}/thumbnail").status_code == 200
    erased = writer.delete(f"/v1/library/people/{big['id']}").json()
    assert erased["faces"] == len(face_ids)
    for face in face_ids:
        gone = reader.get(f"/v1/library/faces/{face}/thumbnail")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    audit = server.client("audit").get("/v1/audit", params={"limit": 20}).json()["entries"]
    operations = {(e["operation"], e["actor"]) for e in audit}
    for op in ("library-name", "library-split", "library-not", "library-merge", "library-erase"):
        assert (op, "key:library:write-key") in operations


def test_a_moved_photo_is_410_and_exif_orientation_is_applied(
    served: tuple[Server, Path], indexed: tuple[Server, Path]
) -> None:
    server, photos = indexed
    reader, writer = server.client("library:read"), server.client("library:write")
    # a portrait stored turned on its side, upright by its EXIF orientation tag (6: turn 90 cw)
    upright = Image.open(photos / "faces" / "paul_rudd_1.jpg").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = photos / "turned.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(turned, quality=95, exif=exif.tobytes())
    assert writer.post("/v1/library/index", json={"folder": str(photos)}).status_code == 202
    assert wait_for_job(reader)["state"] == "done"
    review = reader.get("/v1/library/review", params={"limit": 500}).json()["faces"]
    everyone = [
        f for p in people(reader) for f in reader.get(f"/v1/library/people/{p['id']}/faces").json()["faces"]
    ]
    faces = {f["photo_id"]: f for f in everyone + review}
    shots = {pid: reader.get(f"/v1/library/photos/{pid}").json() for pid in faces}
    # the upright photo and the turned one, both in the upright frame: the same face thumbnail
    pair = [s for s in shots.values() if (s["width"], s["height"]) == upright.size and s["faces"]]
    assert len(pair) == 2, "the turned photo was indexed in its upright frame"
    cuts = [
        Image.open(io.BytesIO(reader.get(f"/v1/library/faces/{s['faces'][0]['id']}/thumbnail").content))
        for s in pair[:2]
    ]
    diff = sum(
        abs(a - b)
        for a, b in zip(cuts[0].convert("L").tobytes(), cuts[1].convert("L").tobytes(), strict=True)
    )
    assert diff / (160 * 160) < 12

    moved = photos / "moved-away.jpg.bak"
    shutil.move(turned, moved)
    try:
        statuses = {
            reader.get(f"/v1/library/photos/{s['id']}/preview", params={"size": 100}).status_code
            for s in pair
        }
        assert statuses == {200, 410}
    finally:
        shutil.move(moved, turned)


def test_one_job_at_a_time_and_a_cancelled_job_resumes(indexed: tuple[Server, Path]) -> None:
    server, photos = indexed
    reader, writer = server.client("library:read"), server.client("library:write")
    more = photos / "more"
    more.mkdir()
    for i, path in enumerate(sorted(photos.glob("lfw/*/*.jpg"))[:8]):  # new bytes: re-encoded, smaller
        image = Image.open(path)
        image.resize((200 + i, 200 + i)).save(more / f"small-{i}.jpg", quality=90)
    started = writer.post("/v1/library/index", json={"folder": "more"})  # relative: under the root
    assert started.status_code == 202 and started.json()["state"] == "running"
    busy = writer.post("/v1/library/index", json={"folder": str(photos)})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "job_running"
    cancelled = writer.delete("/v1/library/index")
    assert cancelled.status_code == 200
    job = wait_for_job(reader)
    assert job["state"] == "cancelled" and job["people"] is None, job
    assert job["total"] is None or job["done"] < job["total"] == 8
    assert writer.post("/v1/library/index", json={"folder": "more"}).status_code == 202
    again = wait_for_job(reader)
    assert again["state"] == "done" and again["total"] == 8 and again["id"] == job["id"] + 1
    assert reader.get("/v1/library/stats").json()["photos"] >= 25 + 8


def test_fuzzed_library_routes_on_a_real_library_never_answer_5xx_nor_log_paths(
    indexed: tuple[Server, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Schemathesis on the library's operations, with a library of real faces behind them (the
    session fuzz test sees an empty one). Runs last: its writes change the people."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    server, photos = indexed
    caplog.set_level(logging.INFO)
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {server.keys['admin']}"}
    statuses: Counter[int] = Counter()
    operations = [op.ok() for op in schema.get_all_operations() if op.ok().path.startswith("/v1/library")]
    assert len(operations) == 17
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
            statuses[response.status_code] += 1

        fuzz()
    wait_for_job(server.client("library:read"))
    print(f"schemathesis on /v1/library: {sum(statuses.values())} requests, {dict(sorted(statuses.items()))}")
    assert not [s for s in statuses if s >= 500] and statuses[200] > 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/v1/library/faces/{face}/thumbnail" in logged  # the access log names route templates
    assert str(photos) not in logged and "Big One" not in logged and ".jpg" not in logged
