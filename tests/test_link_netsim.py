"""Netsim: virtual-time latency and bandwidth, tail drop, seeded impairments, determinism."""

from __future__ import annotations

import pytest

from aiostack.link.base import VirtualTimeDevice
from aiostack.link.netsim import Netsim


def frame(i: int, size: int = 1250) -> bytes:
    return i.to_bytes(4, "big") + bytes(size - 4)


def run_schedule(sim: Netsim, n: int, size: int = 1000, gap_us: int = 100) -> list[tuple[int, int]]:
    """Send n frames a->b, one every gap_us; return (arrival_us, frame id) at b, in delivery order."""
    got: list[tuple[int, int]] = []
    t = 0
    sent = 0
    while sent < n or sim.poll_at() is not None:
        nxt_send = sent * gap_us if sent < n else None
        nxt_evt = sim.poll_at()
        t = min(x for x in (nxt_send, nxt_evt) if x is not None)
        sim.advance(t)
        if sent < n and t == sent * gap_us:
            sim.a.send_batch([frame(sent, size)])
            sent += 1
        for f in sim.b.receive_batch(1 << 20):
            got.append((t, int.from_bytes(bytes(f[:4]), "big")))
    return got


def test_latency_only() -> None:
    sim = Netsim(latency_us=5000)
    assert isinstance(sim.a, VirtualTimeDevice)
    sim.a.send_batch([frame(1)])
    assert sim.poll_at() == 5000
    sim.advance(4999)
    assert sim.b.receive_batch(10) == []
    sim.advance(5000)
    assert sim.b.receive_batch(10) == [frame(1)]
    assert sim.poll_at() is None


def test_bandwidth_serialization_on_virtual_time() -> None:
    # 10 Mbit/s: a 1250-byte frame takes exactly 1000 µs on the wire.
    sim = Netsim(latency_us=2000, rate_bps=10_000_000)
    sim.a.send_batch([frame(i) for i in range(5)])
    arrivals = []
    while sim.poll_at() is not None:
        t = sim.poll_at()
        assert t is not None
        sim.advance(t)
        arrivals += [(t, f[:4]) for f in sim.b.receive_batch(10)]
    assert [t for t, _ in arrivals] == [3000, 4000, 5000, 6000, 7000]
    # the transmitter is idle again: a new frame only pays its own serialization
    sim.advance(20_000)
    sim.a.send_batch([frame(9)])
    assert sim.poll_at() == 20_000 + 1000 + 2000


def test_fractional_serialization_does_not_drift() -> None:
    sim = Netsim(rate_bps=3_000_000)  # 1000 bytes = 2666.67 µs
    sim.a.send_batch([frame(i, 1000) for i in range(300)])
    last = None
    while sim.poll_at() is not None:
        last = sim.poll_at()
        assert last is not None
        sim.advance(last)
    assert last == -(-300 * 8000 * 1_000_000 // 3_000_000)  # ceil(total bits / rate) exactly


def test_queue_tail_drop_counted() -> None:
    sim = Netsim(rate_bps=8_000_000, queue_bytes=5000)  # 1 byte/µs
    sim.a.send_batch([frame(i, 1000) for i in range(10)])
    assert sim.a.counters["drops.queue_full"] == 5
    assert sim.backlog_bytes(sim.a) == 5000
    sim.advance(2000)
    assert sim.backlog_bytes(sim.a) == 3000
    sim.a.send_batch([frame(i, 1000) for i in range(10, 14)])
    assert sim.a.counters["drops.queue_full"] == 7
    got = []
    while sim.poll_at() is not None:
        sim.advance(sim.poll_at() or 0)
        got += [int.from_bytes(f[:4], "big") for f in sim.b.receive_batch(100)]
    assert got == [0, 1, 2, 3, 4, 10, 11]


def test_both_directions_independent() -> None:
    sim = Netsim(latency_us=100, rate_bps=8_000_000)
    sim.a.send_batch([frame(1, 1000)])
    sim.b.send_batch([frame(2, 500)])
    woke = []
    sim.a.set_wakeup(lambda: woke.append("a"))
    sim.b.set_wakeup(lambda: woke.append("b"))
    sim.advance(600)
    assert woke == ["a"] and sim.a.receive_batch(5) == [frame(2, 500)]
    sim.advance(1100)
    assert woke == ["a", "b"] and sim.b.receive_batch(5) == [frame(1, 1000)]


def test_time_goes_forward_only_and_validation() -> None:
    sim = Netsim()
    sim.advance(10)
    with pytest.raises(ValueError):
        sim.advance(9)
    with pytest.raises(ValueError):
        Netsim(loss=1.5)
    sim.a.send_batch([bytes(1515)])
    assert sim.a.counters["drops.oversize"] == 1


def test_same_seed_same_schedule_other_seed_differs() -> None:
    kw = dict(latency_us=1000, rate_bps=50_000_000, loss=0.1, reorder=0.1, duplicate=0.1, corrupt=0.05)
    s1 = run_schedule(Netsim(seed=7, **kw), 500)  # type: ignore[arg-type]
    s2 = run_schedule(Netsim(seed=7, **kw), 500)  # type: ignore[arg-type]
    s3 = run_schedule(Netsim(seed=8, **kw), 500)  # type: ignore[arg-type]
    assert s1 == s2
    assert s1 != s3


def test_impairment_rates_are_statistically_sane() -> None:
    n = 20_000
    sim = Netsim(latency_us=1000, loss=0.05, duplicate=0.02, reorder=0.03, corrupt=0.01, seed=1,
                 reorder_delay_us=350)
    got = run_schedule(sim, n, size=100, gap_us=100)
    c = sim.a.counters
    # binomial 3-sigma bounds
    for key, p in (("drops.loss", 0.05), ("duplicated", 0.02 * 0.95), ("corrupted", 0.01 * 0.95),
                   ("reordered", 0.03 * 0.95)):
        mean = n * p
        sd = (n * p * (1 - p)) ** 0.5
        assert abs(c[key] - mean) < 4 * sd, (key, c[key], mean)
    assert len(got) == n - c["drops.loss"] + c["duplicated"]
    ids = [i for _, i in got]
    inversions = sum(1 for x, y in zip(ids, ids[1:], strict=False) if y < x)
    assert inversions >= c["reordered"] * 0.9  # a frame held 350 µs is overtaken by the next three
    # corrupted frames differ from what was sent in exactly one bit
    sim2 = Netsim(corrupt=1.0, seed=3)
    sent = frame(5, 200)
    sim2.a.send_batch([sent])
    sim2.advance(0)
    (recv,) = sim2.b.receive_batch(1)
    diff = sum(bin(x ^ y).count("1") for x, y in zip(sent, recv, strict=True))
    assert diff == 1


def test_duplicate_arrives_right_behind_original() -> None:
    sim = Netsim(latency_us=10, duplicate=1.0)
    f = frame(3)
    sim.a.send_batch([f])
    sim.advance(10)
    assert sim.b.receive_batch(10) == [f, f]
    assert sim.a.counters["duplicated"] == 1
