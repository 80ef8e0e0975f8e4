"""The per-key rate limiter: bursts of a tenth of the minute's budget; a request may cost less."""

from __future__ import annotations

from faceprint.service.guard import RateLimiter


def test_a_thumbnail_costs_a_tenth_of_a_request() -> None:
    limiter = RateLimiter(600)  # 10 a second, bursts of 60
    assert all(limiter.take("page", 1.0) == 0 for _ in range(60))
    assert limiter.take("page", 1.0) > 0
    assert all(limiter.take("thumbs", 0.1) == 0 for _ in range(550))  # a page of the grid, and more
    assert 0 <= limiter.take("thumbs", 1.0) <= 1.0
