"""Ephemeral ports (RFC 6056): Algorithm 3 for connections, Algorithm 1 for unconnected binds."""

from __future__ import annotations

import random

from aiostack.core.ports import PortAllocator


def test_algorithm3_sequential_per_destination_and_seeded() -> None:
    a = PortAllocator(random.Random(5), 32768, 60999)
    b = PortAllocator(random.Random(5), 32768, 60999)
    pa = [a.connect_port(1, 2, 80, lambda p: True) for _ in range(5)]
    pb = [b.connect_port(1, 2, 80, lambda p: True) for _ in range(5)]
    assert pa == pb  # deterministic from the injected RNG
    # RFC 6056 §3.3.3: for one (local, remote, remote port) the ports follow a counter.
    assert [(p - pa[0]) % 28232 for p in pa] == [0, 1, 2, 3, 4]
    other = PortAllocator(random.Random(6), 32768, 60999)
    assert [other.connect_port(1, 2, 80, lambda p: True) for _ in range(5)] != pa  # the secret matters
    # A different destination starts from an unrelated offset.
    d = [a.connect_port(1, 3, 80, lambda p: True) for _ in range(3)]
    assert abs(d[0] - (pa[-1] + 1)) > 16


def test_skips_unsuitable_ports_and_exhausts() -> None:
    a = PortAllocator(random.Random(1), 1000, 1009)
    used: set[int] = set()
    for _ in range(10):
        p = a.connect_port(1, 2, 80, lambda q: q not in used)
        assert p is not None and 1000 <= p <= 1009 and p not in used
        used.add(p)
    assert a.connect_port(1, 2, 80, lambda q: q not in used) is None
    assert a.random_port(lambda q: q not in used) is None
    used.discard(1004)
    assert a.random_port(lambda q: q not in used) == 1004


def test_random_port_spread() -> None:
    a = PortAllocator(random.Random(3), 32768, 60999)
    ports = [a.random_port(lambda p: True) for _ in range(200)]
    assert len(set(ports)) > 190 and min(ports) >= 32768 and max(ports) <= 60999
