"""Loopback and LoopbackPair: batch semantics, no copies, MTU bounds, queue limits, wake-ups."""

from __future__ import annotations

import pytest

from aiostack.link.base import Device, DeviceCaps, DeviceClosed
from aiostack.link.loopback import Loopback, LoopbackPair


def frame(i: int, size: int = 60) -> bytes:
    return i.to_bytes(4, "big") * (size // 4) + b"\x00" * (size % 4)


def test_pair_is_a_device_and_delivers_in_order_without_copies() -> None:
    pair = LoopbackPair(mtu=9000)
    assert isinstance(pair.a, Device) and isinstance(pair.b, Device)
    assert pair.a.fileno() is None
    assert pair.a.mac != pair.b.mac
    frames = [frame(i, 1514) for i in range(10)]
    buf = bytearray(b"x" * 9014)
    mv = memoryview(buf)
    pair.a.send_batch([*frames, mv])
    got = pair.b.receive_batch(100)
    assert len(got) == 11
    assert all(g is f for g, f in zip(got, [*frames, mv], strict=True))  # the same objects: no copy
    assert pair.b.receive_batch(100) == []
    assert pair.a.receive_batch(100) == []  # nothing came back to the sender
    assert pair.a.counters["tx_frames"] == 11 and pair.b.counters["rx_frames"] == 11


def test_max_frames_is_honoured_and_rest_stays_pending() -> None:
    pair = LoopbackPair()
    pair.b.send_batch([frame(i) for i in range(10)])
    first = pair.a.receive_batch(4)
    assert [f[:4] for f in first] == [i.to_bytes(4, "big") for i in range(4)]
    assert pair.a.pending() == 6
    rest = pair.a.receive_batch(100)
    assert [f[:4] for f in rest] == [i.to_bytes(4, "big") for i in range(4, 10)]


def test_wakeup_called_per_send_batch_that_queued() -> None:
    pair = LoopbackPair()
    calls: list[int] = []
    pair.b.set_wakeup(lambda: calls.append(pair.b.pending()))
    pair.a.send_batch([frame(1), frame(2)])
    assert calls == [2]
    pair.a.send_batch([])
    assert calls == [2]
    pair.b.set_wakeup(None)
    pair.a.send_batch([frame(3)])
    assert calls == [2]


def test_mtu_bounds_and_oversize_drop() -> None:
    pair = LoopbackPair(mtu=65535)
    big = bytes(65535 + 14)
    pair.a.send_batch([big, big + b"x"])
    assert pair.b.receive_batch(10) == [big]
    assert pair.a.counters["drops.oversize"] == 1
    with pytest.raises(ValueError):
        LoopbackPair(mtu=65536)
    with pytest.raises(ValueError):
        DeviceCaps(mtu=10)
    assert DeviceCaps(mtu=1500).max_frame_len == 1514


def test_queue_tail_drop_counted_at_receiver() -> None:
    pair = LoopbackPair(queue_frames=5)
    pair.a.send_batch([frame(i) for i in range(8)])
    got = pair.b.receive_batch(100)
    assert [f[:4] for f in got] == [i.to_bytes(4, "big") for i in range(5)]
    assert pair.b.counters["drops.queue_full"] == 3
    assert pair.b.counters["drops"] == 3


def test_loopback_returns_to_sender_and_close() -> None:
    lo = Loopback()
    assert lo.caps.mtu == 65535
    lo.send_batch([frame(7)])
    assert lo.receive_batch(10) == [frame(7)]
    lo.close()
    with pytest.raises(DeviceClosed):
        lo.send_batch([frame(1)])
    with pytest.raises(DeviceClosed):
        lo.receive_batch(1)


def test_bad_mac_rejected() -> None:
    with pytest.raises(ValueError):
        LoopbackPair(mac_a=b"\x01\x02")
