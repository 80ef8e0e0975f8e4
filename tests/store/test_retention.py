"""Retention on a fake clock: consent expiry, the idle limit, withdrawal; subject access and the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import faceprint
from faceprint import Store
from faceprint.store import Sample


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_expiry_and_idle_limit_are_swept(
    store_location: str | Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    clock = Clock()
    settings = faceprint.Settings(max_idle_days=365)
    eileen, grace = package_samples["astronaut"], package_samples["hopper"]
    with Store(store_location, engine=engine, settings=settings, clock=clock) as store:
        store.enroll("eileen", [eileen], purpose="p", expires_at=clock.now + timedelta(days=30))
        store.enroll("grace", [grace], purpose="p")
        assert store.due() == []
        clock.now += timedelta(days=31)
        assert [name for name, _ in store.due()] == ["eileen"]
        assert "consent expired" in store.due()[0][1]
        assert not store.search(eileen.template, purpose="p").matched  # expired: never matched
        assert store.search(grace.template, purpose="p").matched  # a match renews grace's idle clock
        clock.now += timedelta(days=364)
        assert [name for name, _ in store.due()] == ["eileen"]
        clock.now += timedelta(days=2)
        assert [name for name, _ in store.due()] == ["eileen", "grace"]
        assert not store.search(grace.template, purpose="p").matched  # idle past the limit
        erased = store.sweep(actor="cron")
        assert sorted(r.subject for r in erased) == ["eileen", "grace"]
        assert store.subjects() == [] and store.due() == []
        rows = [e for e in store.audit() if e.operation == "retention"]
        assert len(rows) == 2 and all(e.actor == "cron" and e.detail for e in rows)
        assert store.check().ok


def test_no_idle_limit_when_zero(
    store_location: str | Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    clock = Clock()
    with Store(
        store_location, engine=engine, settings=faceprint.Settings(max_idle_days=0), clock=clock
    ) as store:
        store.enroll("grace", [package_samples["hopper"]], purpose="p")
        clock.now += timedelta(days=3650)
        assert store.due() == [] and store.search(package_samples["hopper"].template, purpose="p").matched


def test_withdrawal_blocks_matching_at_once(store: Store, package_samples: dict[str, Sample]) -> None:
    store.enroll("eileen", [package_samples["astronaut"]], purpose="p")
    probe = package_samples["astronaut_copy"].template
    assert store.search(probe, purpose="p").matched
    result = store.withdraw("eileen")
    assert result.templates == 1
    assert not store.search(probe, purpose="p").matched
    assert store.audit(limit=2)[1].operation == "withdraw"
    assert store.audit(limit=2)[1].detail == "consent withdrawn"


def test_export_holds_everything_about_the_subject_and_nothing_else(
    store: Store, package_samples: dict[str, Sample]
) -> None:
    store.enroll(
        "eileen",
        [package_samples["astronaut"], package_samples["astronaut_copy"]],
        purpose="p",
        evidence="f7",
    )
    store.enroll("grace", [package_samples["hopper"]], purpose="p")
    store.search(package_samples["astronaut_copy"].template, purpose="p", actor="door")
    store.search(package_samples["hopper"].template, purpose="p", actor="door")
    data = store.export("eileen")
    assert data["subject"]["consent"]["evidence"] == "f7"
    assert len(data["templates"]) == 2 and all(len(t["photo_sha256"]) == 64 for t in data["templates"])
    assert [e["operation"] for e in data["audit"]] == ["enroll", "search"]
    assert "grace" not in str(data)
    assert all("withheld" in t["value"] for t in data["templates"])


def test_record_of_processing_describes_the_store(
    store_location: str | Path, engine: faceprint.Engine, package_samples: dict[str, Sample]
) -> None:
    settings = faceprint.Settings(controller="ACME Ltd, dpo@acme.example", max_idle_days=700)
    with faceprint.open_store(store_location, engine=engine, settings=settings) as store:
        store.enroll("eileen", [package_samples["astronaut"]], purpose="door access")
        record = store.record()
        key_file = store.protector.key_file.path
    assert record["controller"] == "ACME Ltd, dpo@acme.example"
    assert record["purposes"] == [{"purpose": "door access", "subjects": 1, "with_expiry": 0}]
    assert record["retention"]["max_idle_days"] == 700
    assert any("AES-256-GCM" in m for m in record["security_measures"])
    assert str(key_file) in " ".join(record["security_measures"])
    assert record["store"] == (str(store_location) if isinstance(store_location, Path) else store.location)
