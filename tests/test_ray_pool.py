"""faceprint.ray_pool without a cluster: addresses, and the typed error where no cluster answers.

The pool on a real two-node cluster is tested through ``faceprint index --ray``
(tests/library/test_ray_index.py).
"""

from __future__ import annotations

import socket
import time

import pytest

from faceprint.errors import ClusterUnavailable, InvalidInput
from faceprint.ray_pool import connect, parse_address


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("127.0.0.2:6379", ("127.0.0.2", 6379)),
        (" head.example:1 ", ("head.example", 1)),
        ("[::1]:80", ("::1", 80)),
    ],
)
def test_addresses(address: str, parsed: tuple[str, int]) -> None:
    assert parse_address(address) == parsed


@pytest.mark.parametrize(
    "address", ["", "127.0.0.2", ":6379", "127.0.0.2:0", "127.0.0.2:70000", "ray://h:10001"]
)
def test_bad_addresses_are_invalid_input(address: str) -> None:
    with pytest.raises(InvalidInput, match="HOST:PORT"):
        parse_address(address)


def test_a_closed_port_is_cluster_unavailable_at_once() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ClusterUnavailable, match=f"no Ray cluster answers at 127.0.0.1:{port}") as caught:
        connect(f"127.0.0.1:{port}")
    assert caught.value.code == "cluster_unavailable"
    assert time.monotonic() - start < 5
