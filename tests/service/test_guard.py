"""The per-key rate limiter: bursts of a tenth of the minute's budget; a request may cost less; on
PostgreSQL one budget for every replica."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import faceprint
from faceprint.service.guard import RateLimiter
from tests.postgres import Cluster
from tests.service.conftest import start_server, stop_server


def test_a_thumbnail_costs_a_tenth_of_a_request() -> None:
    limiter = RateLimiter(600)  # 10 a second, bursts of 60
    assert all(limiter.take("page", 1.0) == 0 for _ in range(60))
    assert limiter.take("page", 1.0) > 0
    assert all(limiter.take("thumbs", 0.1) == 0 for _ in range(550))  # a page of the grid, and more
    assert 0 <= limiter.take("thumbs", 1.0) <= 1.0


def test_replicas_of_a_postgresql_store_share_one_budget(postgres: Cluster) -> None:
    url = postgres.new_database()
    with faceprint.open_store(url) as a, faceprint.open_store(url) as b:  # two replicas' stores
        first, second = RateLimiter(60, a.db), RateLimiter(60, b.db)  # 1 a second, bursts of 6
        granted = [limiter.take("k1") == 0 for _ in range(4) for limiter in (first, second)]
        assert granted == [True] * 6 + [False] * 2  # 6 in all, not 6 each
        wait = second.take("k1")
        assert 0 < wait <= 1.0
        assert first.take("k2") == 0  # another key has its own bucket
        time.sleep(wait + 0.05)
        assert first.take("k1") == 0  # refilled by the database's clock


def test_http_replicas_on_one_postgresql_store_refuse_past_the_shared_limit(
    postgres: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEPRINT_KEY_FILE", str(tmp_path / "shared.key"))
    url = postgres.new_database()
    settings = faceprint.Settings.from_env(rate_limit=6)  # bursts of 1
    a = start_server(url, settings, scopes=("audit",))
    b = start_server(url, settings, keys=a.keys)
    try:
        assert a.client("audit").get("/v1/audit").status_code == 200
        refused = b.client("audit").get("/v1/audit")  # the other replica, same key: the budget is spent
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    finally:
        stop_server(b)
        stop_server(a)
