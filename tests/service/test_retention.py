"""The service runs the retention sweep itself: at start, then every FACEPRINT_SWEEP_MINUTES."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import faceprint
from faceprint import Store
from faceprint.store import Sample
from tests.service.conftest import start_server, stop_server


def test_the_service_sweeps_idle_subjects_at_start(
    tmp_path: Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    path = tmp_path / "gallery.db"
    long_ago = datetime.now(UTC) - timedelta(days=40)
    with Store(path, engine=engine, clock=lambda: long_ago) as store:
        store.enroll("idle", [package_samples["hopper"]], purpose="p")
    with Store(path, engine=engine) as store:
        store.enroll("active", [package_samples["astronaut"]], purpose="p")
    server = start_server(path, faceprint.Settings(max_idle_days=30, sweep_minutes=60), scopes=("admin",))
    try:
        deadline = time.monotonic() + 30
        with Store(path, engine=engine) as store:
            while [s.name for s in store.subjects()] != ["active"] and time.monotonic() < deadline:
                time.sleep(0.2)
            assert [s.name for s in store.subjects()] == ["active"]
            (entry,) = [e for e in store.audit() if e.operation == "retention"]
            assert entry.actor == "service:retention" and entry.subjects == ("idle",)
    finally:
        stop_server(server)
