"""The admin page in headless Debian Chromium (Playwright): log in, create, enrol, search, erase.

Chromium comes from Debian (scripts/browser.sh installs it); Playwright's own browser builds are
never downloaded. The screenshot of the search result is kept as ``artifacts/admin-page.png``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from faceprint.imageio import RGBImage
from tests.conftest import encode
from tests.service.conftest import Server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_enrol_search_erase_through_the_page(
    server: Server, samples: dict[str, RGBImage], tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (bash scripts/browser.sh installs it as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    photos = {}
    for name in ("astronaut", "astronaut_copy"):
        photos[name] = tmp_path / f"{name}.jpg"
        photos[name].write_bytes(encode(samples[name], "JPEG", quality=92))

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            outside: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(server.url) else outside.append(r.url))
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(server.url + "/")

            page.fill("#key", "fpk_wrong_key")
            page.click("#login-form button")
            page.wait_for_selector("#status.error")
            assert "unauthorized" in page.inner_text("#status")

            page.fill("#key", server.keys["admin"])
            page.click("#login-form button")
            page.wait_for_selector("#app:not([hidden])")

            page.fill("#c-name", "page-person")
            page.fill("#c-purpose", "page purpose")
            page.fill("#c-evidence", "signed on the page")
            page.click("#create-form button")
            page.wait_for_selector("tr[data-subject='page-person']")

            page.select_option("#e-subject", "page-person")
            page.set_input_files("#e-photos", str(photos["astronaut"]))
            page.click("#enrol-form button")
            expect(page.locator("#status")).to_have_text(re.compile("^enrolled 1"), timeout=60_000)

            page.fill("#s-purpose", "page purpose")
            page.set_input_files("#s-photo", str(photos["astronaut_copy"]))
            page.click("#search-form button")
            expect(page.locator("#status")).to_have_text(re.compile("^search done"), timeout=60_000)
            assert "page-person" in page.inner_text("#results")
            rule = page.inner_text("#search-rule")  # which model and calibration the decision used
            assert "fpir 0.01 over 1 subject" in rule and "model sface-2021dec" in rule
            assert "calibrated on LFW deep-funneled" in rule
            assert page.eval_on_selector("#canvas", "c => c.width") == samples["astronaut_copy"].shape[1]
            # the box was drawn: a green pixel on the canvas
            green = page.evaluate(
                """() => { const c = document.getElementById('canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   for (let i = 0; i < d.length; i += 4)
                     if (d[i] === 0x1a && d[i + 1] === 0x7f && d[i + 2] === 0x37) return true;
                   return false; }"""
            )
            assert green
            ARTIFACTS.mkdir(exist_ok=True)
            shot = tmp_path / "admin-page.png"
            page.screenshot(path=str(shot), full_page=True)
            shutil.copy(shot, ARTIFACTS / "admin-page.png")
            print(f"screenshot: {ARTIFACTS / 'admin-page.png'}")

            page.click("#audit-refresh")
            expect(page.locator("#audit tbody")).to_contain_text("key:admin-key")
            audit = page.inner_text("#audit")
            assert "search" in audit and "page purpose" in audit

            page.click("tr[data-subject='page-person'] button.erase")
            expect(page.locator("#status")).to_have_text(re.compile("^erased page-person"))
            expect(page.locator("tr[data-subject='page-person']")).to_have_count(0)
            assert outside == []
        finally:
            browser.close()
    assert server.client().get("/v1/subjects/page-person").status_code == 404
