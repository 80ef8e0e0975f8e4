"""The People page in headless Debian Chromium (Playwright), on real faces: index a folder
(``../shared/data/faces`` and a slice of LFW), see people appear, rename one, merge two, split
one, mark a face "not this person", re-index with a new photo and see the corrections kept,
erase a person and see their thumbnails gone (404). Phone width and keyboard use too.

Screenshots of the grid and of a person page are kept as ``artifacts/people-grid.png`` and
``artifacts/people-person.png``. Skips without Chromium or without ``../shared``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import faceprint
from tests.service.conftest import Server, stop_server
from tests.service.library_photos import library_server
from tests.service.test_admin_page import ARGS, ARTIFACTS, CHROMIUM


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, str]]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (bash scripts/browser.sh installs it as root)")
    running, photos = library_server(tmp_path_factory.mktemp("people-page"))
    with faceprint.open_store(running.store_path) as store:
        _, key = store.keys.create("photo-owner", "library:read,library:write")
    yield running, photos, key
    stop_server(running)


def shoot(page: Any, name: str, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, ARTIFACTS / name)
    print(f"screenshot: {ARTIFACTS / name}")


def test_people_page_scenario(served: tuple[Server, Path, str], tmp_path: Path) -> None:
    server, photos, key = served
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    api = server.client("library:read")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            outside: list[str] = []
            local = (server.url, "blob:" + server.url)  # blob: URLs hold thumbnails fetched from it
            page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(server.url + "/people")
            page.fill("#key", key)
            page.click("#login-form button")
            page.wait_for_selector("#app:not([hidden])")
            expect(page.locator("#folder")).to_have_value(str(photos))

            # index: the progress bar runs, then people appear with their face thumbnails
            page.click("#index-start")
            expect(page.locator("#job")).to_have_attribute("data-state", "done", timeout=600_000)
            cards = page.locator("#grid li.person")
            expect(cards.first).to_be_visible()
            count = cards.count()
            assert count >= 4
            page.wait_for_function(
                "n => document.querySelectorAll('#grid img[data-loaded]').length >= n", arg=count
            )
            assert page.get_attribute("#progress", "value") == page.get_attribute("#progress", "max")
            shoot(page, "people-grid.png", tmp_path)

            # rename the first person, inline on their page
            first = int(cards.nth(0).get_attribute("data-person") or 0)
            page.click(f"#grid li[data-person='{first}'] a")
            expect(page.locator("#p-counts")).to_have_text(re.compile(f"^#{first}: "))  # loaded
            page.fill("#p-name", "Page Person")
            page.press("#p-name", "Enter")
            expect(page.locator("#status")).to_have_text("named Page Person")
            assert api.get(f"/v1/library/people/{first}").json()["name"] == "Page Person"

            # split one face out, and mark another "not this person"
            faces = page.locator("#faces li.face")
            expect(faces.first).to_be_visible()
            assert faces.count() >= 3
            split_face = int(faces.nth(faces.count() - 1).get_attribute("data-face") or 0)
            not_face = int(faces.nth(faces.count() - 2).get_attribute("data-face") or 0)
            page.check(f"#faces li[data-face='{split_face}'] input")
            page.click("#split")
            expect(page.locator("#status")).to_have_text(re.compile("^split 1 face"))
            page.check(f"#faces li[data-face='{not_face}'] input")
            page.click("#not")
            expect(page.locator("#status")).to_have_text(re.compile("^1 face\\(s\\) are not Page Person"))
            expect(page.locator(f"#faces li[data-face='{not_face}']")).to_have_count(0)

            # merge: the split-out person back is refused (they are apart); pick two others instead
            people = api.get("/v1/library/people", params={"limit": 500}).json()["people"]
            others = [p for p in people if p["id"] != first and p["faces"] >= 2]
            into, other = others[0], others[1]
            page.goto(f"{server.url}/admin/people.html#/person/{into['id']}")
            expect(page.locator("#p-counts")).to_have_text(re.compile(f"^#{into['id']}: "))  # loaded
            expect(page.locator("#merge-with option")).not_to_have_count(0)
            page.select_option("#merge-with", str(other["id"]))
            page.click("#merge")
            expect(page.locator("#status")).to_have_text(re.compile("^merged into"))
            assert api.get(f"/v1/library/people/{other['id']}").status_code == 404
            merged = api.get(f"/v1/library/people/{into['id']}").json()
            assert merged["faces"] == into["faces"] + other["faces"]

            # the photo view: every face boxed and labelled
            page.goto(f"{server.url}/admin/people.html#/person/{first}")
            expect(page.locator("#p-counts")).to_have_text(re.compile("^Page Person: "))  # loaded
            expect(page.locator("#photos li a")).not_to_have_count(0)
            page.click("#photos li a >> nth=0")
            page.wait_for_selector("#view-photo:not([hidden])")
            page.wait_for_selector("#photo-img[data-loaded]")
            expect(page.locator("#photo-frame .box span", has_text="Page Person")).to_have_count(1)

            # re-index with a new photo: the corrections are kept
            new_photo = photos / "new" / "mirrored.jpg"
            new_photo.parent.mkdir()
            Image.open(next(photos.glob("lfw/*/*.jpg"))).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
                new_photo, quality=95
            )
            page.goto(f"{server.url}/admin/people.html#/")
            page.wait_for_selector("#view-people:not([hidden])")
            page.click("#index-start")
            expect(page.locator("#job")).to_contain_text("index job 2: done", timeout=600_000)
            assert "1 new photos" in page.inner_text("#job")
            kept = api.get(f"/v1/library/people/{first}/faces", params={"limit": 500}).json()["faces"]
            assert not_face not in [f["id"] for f in kept] and split_face not in [f["id"] for f in kept]
            expect(page.locator("#grid .name", has_text="Page Person")).to_have_count(1)

            # the keyboard: focus a person and press Enter; the person page is shown
            page.select_option("#unnamed", "first")
            expect(page.locator("#grid li.person").last).to_contain_text("Page Person")  # named: last
            page.focus(f"#grid li[data-person='{first}'] a")
            page.keyboard.press("Enter")
            page.wait_for_selector("#view-person:not([hidden])")
            expect(page.locator("#p-counts")).to_contain_text("Page Person")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#faces img')].every(i => i.dataset.loaded)"
            )
            shoot(page, "people-person.png", tmp_path)

            # erase the person: their thumbnails are gone (404)
            mine = [f["id"] for f in kept]
            assert api.get(f"/v1/library/faces/{mine[0]}/thumbnail").status_code == 200
            page.click("#erase")
            expect(page.locator("#status")).to_have_text(re.compile("^erased Page Person"))
            page.wait_for_selector("#view-people:not([hidden])")
            expect(page.locator("#grid .name", has_text="Page Person")).to_have_count(0)
            for face in mine:
                assert api.get(f"/v1/library/faces/{face}/thumbnail").status_code == 404

            # the review queue lists faces in no one (the rejected face among them)
            page.click("#nav a[href='#/review']")
            page.wait_for_selector("#view-review:not([hidden])")
            expect(page.locator(f"#review li[data-face='{not_face}']")).to_have_count(1)

            # phone width: the grid fits, nothing scrolls sideways
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{server.url}/admin/people.html#/")
            page.wait_for_selector("#grid li.person")
            assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
            assert outside == []
        finally:
            browser.close()
