"""FaultInjector: seeded drop/corrupt/duplicate/reorder, delay on a clock, token-bucket rate limit."""

from __future__ import annotations

import pytest

from aiostack.link.fault import FaultInjector
from aiostack.link.loopback import LoopbackPair
from aiostack.link.netsim import Netsim


def frame(i: int, size: int = 100) -> bytes:
    return i.to_bytes(4, "big") + bytes(size - 4)


def ids(frames: list) -> list[int]:  # type: ignore[type-arg]
    return [int.from_bytes(bytes(f[:4]), "big") for f in frames]


def pump(fi: FaultInjector, pair: LoopbackPair, n: int, **kw: int) -> list[int]:
    out: list[int] = []
    for i in range(n):
        fi.send_batch([frame(i)])
        out += ids(pair.b.receive_batch(1000))
    fi.close()
    out += ids(pair.b.receive_batch(1000))
    return out


def test_passthrough_when_no_faults() -> None:
    pair = LoopbackPair()
    fi = FaultInjector(pair.a)
    assert fi.caps is pair.a.caps and fi.mac == pair.a.mac and fi.fileno() is None
    assert pump(fi, pair, 50) == list(range(50))


def test_seeded_faults_deterministic_and_rates_sane() -> None:
    n = 10_000
    runs = []
    for seed in (5, 5, 6):
        pair = LoopbackPair(queue_frames=100_000)
        fi = FaultInjector(pair.a, drop=0.1, duplicate=0.05, reorder=0.05, corrupt=0.02, seed=seed, rx=False)
        runs.append((pump(fi, pair, n), dict(fi.counters.items())))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]
    got, c = runs[0]
    for key, p in (("drops.tx.drop", 0.1), ("tx.duplicated", 0.045), ("tx.reordered", 0.045),
                   ("tx.corrupted", 0.018)):
        sd = (n * p * (1 - p)) ** 0.5
        assert abs(c[key] - n * p) < 4 * sd + 5, (key, c[key])
    assert len(got) == n - c["drops.tx.drop"] + c["tx.duplicated"]
    # every surviving frame arrives (a corrupted id byte may rename one)
    assert abs(len(set(got) & set(range(n))) - (n - c["drops.tx.drop"])) <= c["tx.corrupted"] * 4 // 100 + 3
    inversions = sum(1 for x, y in zip(got, got[1:], strict=False) if y < x)
    assert inversions >= c["tx.reordered"] * 0.9


def test_reorder_swaps_with_next_frame() -> None:
    pair = LoopbackPair()
    fi = FaultInjector(pair.a, reorder=1.0, rx=False)
    fi.send_batch([frame(0), frame(1), frame(2), frame(3)])
    assert ids(pair.b.receive_batch(10)) == [1, 0, 3, 2]


def test_delay_on_virtual_time_with_netsim_inner() -> None:
    sim = Netsim(latency_us=1000)
    fi = FaultInjector(sim.a, delay_us=500, rx=False)
    fi.send_batch([frame(1)])
    assert fi.poll_at() == 500
    fi.advance(499)
    assert sim.poll_at() is None
    fi.advance(500)
    assert sim.poll_at() == 1500  # released into the netsim at 500, arrives after 1000 µs latency
    fi.advance(1500)
    assert ids(sim.b.receive_batch(5)) == [1]


def test_receive_side_delay_with_clock_and_wakeup() -> None:
    now = [0]
    pair = LoopbackPair()
    fi = FaultInjector(pair.b, delay_us=200, tx=False, clock=lambda: now[0])
    woke: list[int] = []
    fi.set_wakeup(lambda: woke.append(now[0]))
    pair.a.send_batch([frame(1), frame(2)])
    assert woke == [0]  # the inner device woke the reader
    assert fi.receive_batch(10) == []  # ... but the frames are held 200 µs
    assert fi.poll_at() == 200
    now[0] = 150
    assert fi.receive_batch(10) == []
    now[0] = 200
    fi.advance(200)
    assert woke == [0, 200]
    got = fi.receive_batch(1)
    assert ids(got) == [1] and fi.poll_at() == 200  # surplus stays ready
    assert ids(fi.receive_batch(10)) == [2]


def test_rate_limit_token_bucket() -> None:
    pair = LoopbackPair(queue_frames=10_000)
    # 8 Mbit/s = 1000 bytes per ms, bucket 2000 bytes
    fi = FaultInjector(pair.a, rate_bps=8_000_000, burst_bytes=2000, rx=False)
    fi.advance(0)
    fi.send_batch([frame(i, 500) for i in range(10)])
    assert len(pair.b.receive_batch(100)) == 4
    assert fi.counters["drops.tx.rate_limit"] == 6
    fi.advance(1000)  # 1000 bytes of tokens
    fi.send_batch([frame(i, 500) for i in range(10)])
    assert len(pair.b.receive_batch(100)) == 2


def test_validation() -> None:
    pair = LoopbackPair()
    with pytest.raises(ValueError):
        FaultInjector(pair.a, drop=2.0)
    with pytest.raises(ValueError):
        FaultInjector(pair.a, delay_us=-1)
