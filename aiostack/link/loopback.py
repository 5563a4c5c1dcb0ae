"""In-memory devices: ``Loopback`` (frames come back to the sender) and ``LoopbackPair`` (a wire).

No copies: ``send_batch`` takes ownership of the frame objects (see ``aiostack.link.base``) and the very
same objects come out of ``receive_batch`` on the other side. The MTU may be raised up to 65,535 so an
in-memory path moves 64 KiB segments with one Python object per segment.

Readiness: ``fileno()`` is ``None``; the wake-up callback (``set_wakeup``) is called after every
``send_batch`` that queued at least one frame for this side. A reader that stopped at ``max_frames``
with frames still queued (``pending() > 0``) must come back by itself.

Each queue is bounded (``queue_frames``); frames beyond it are dropped at the tail and counted
(``drops.queue_full``), like a NIC ring. ``tx_room()`` tells a sender how many frames fit now, so a
driver can hold the rest back (the asyncio driver does) instead of losing them. Frames longer than the
MTU allows are dropped and counted (``drops.oversize``) - a frame the wire could not carry.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence

from aiostack.link.base import DeviceCaps, DeviceClosed, Frame, check_mac, frame_len, is_offload, local_mac
from aiostack.stats import LinkCounters

DEFAULT_QUEUE_FRAMES = 4096


class _Queue:
    """One direction of an in-memory wire: a bounded deque of frames plus its reader's wake-up."""

    __slots__ = ("frames", "limit", "wakeup", "counters")

    def __init__(self, limit: int, counters: LinkCounters) -> None:
        if limit < 1:
            raise ValueError("queue_frames must be >= 1")
        self.frames: deque[Frame] = deque()
        self.limit = limit
        self.wakeup: Callable[[], None] | None = None
        self.counters = counters  # the receiving side's counters


class _End:
    """Shared implementation of one in-memory device end (receives from ``rx``, sends into ``tx``)."""

    __slots__ = ("caps", "mac", "counters", "_rx", "_tx", "_closed", "_max_plain", "_max_gso", "__weakref__")

    def __init__(self, caps: DeviceCaps, mac: bytes, rx: _Queue, tx: _Queue, counters: LinkCounters) -> None:
        self.caps = caps
        self.mac = check_mac(mac)
        self.counters = counters
        self._rx = rx
        self._tx = tx
        self._closed = False
        # Largest frame accepted: a plain frame up to the MTU, or a GSO frame up to gso_max_bytes + 14.
        self._max_plain = caps.max_frame_len
        self._max_gso = caps.gso_max_bytes + 14 if caps.gso_max_bytes else caps.max_frame_len

    # -- Device protocol --------------------------------------------------------------------------------
    def receive_batch(self, max_frames: int) -> list[Frame]:
        if self._closed:
            raise DeviceClosed("receive_batch on a closed device")
        q = self._rx.frames
        n = len(q)
        if n == 0:
            return []
        if n <= max_frames:
            out = list(q)
            q.clear()
        else:
            popleft = q.popleft
            out = [popleft() for _ in range(max_frames)]
            n = max_frames
        self.counters.rx_frames += n
        return out

    def send_batch(self, frames: Sequence[Frame]) -> None:
        if self._closed:
            raise DeviceClosed("send_batch on a closed device")
        tx = self._tx
        q = tx.frames
        limit = tx.limit
        mine = self.counters
        queued = 0
        nbytes = 0
        max_plain = self._max_plain
        for f in frames:
            cls = f.__class__
            if cls is bytearray or cls is bytes:  # the common case, without the helper calls
                n = len(f)
                over = n > max_plain
            else:
                n = frame_len(f)
                over = n > (self._max_gso if is_offload(f) else max_plain)
            if over:
                mine.drop("oversize")
                continue
            if len(q) >= limit:
                tx.counters.drop("queue_full")
                continue
            q.append(f)
            queued += 1
            nbytes += n
        if queued:
            mine.tx_frames += queued
            mine.tx_bytes += nbytes
            cb = tx.wakeup
            if cb is not None:
                cb()

    def tx_room(self) -> int:
        """Frames ``send_batch`` takes now without a ``queue_full`` drop (the space left in the peer's
        queue): a driver holds the rest back instead of losing them, as a qdisc does for a full ring."""
        tx = self._tx
        room = tx.limit - len(tx.frames)
        return room if room > 0 else 0

    def fileno(self) -> int | None:
        return None

    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        self._rx.wakeup = callback

    def close(self) -> None:
        self._closed = True
        self._rx.wakeup = None
        self._rx.frames.clear()

    # -- extras -----------------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def pending(self) -> int:
        """Frames queued for ``receive_batch`` on this side."""
        return len(self._rx.frames)


class Loopback(_End):
    """A device whose sent frames come back on its own ``receive_batch`` (like ``lo``)."""

    def __init__(
        self,
        *,
        mtu: int = 65535,
        mac: bytes = b"\x00" * 6,
        queue_frames: int = DEFAULT_QUEUE_FRAMES,
        checksum_offload: bool = False,
    ) -> None:
        counters = LinkCounters("link.loopback")
        q = _Queue(queue_frames, counters)
        super().__init__(DeviceCaps(mtu=mtu, checksum_offload=checksum_offload), mac, q, q, counters)


class LoopbackEnd(_End):
    """One end of a ``LoopbackPair``."""


class LoopbackPair:
    """An in-memory wire between two devices ``a`` and ``b``: what ``a`` sends, ``b`` receives."""

    def __init__(
        self,
        *,
        mtu: int = 1500,
        mac_a: bytes | None = None,
        mac_b: bytes | None = None,
        queue_frames: int = DEFAULT_QUEUE_FRAMES,
        checksum_offload: bool = False,
        gso_max_bytes: int = 0,
    ) -> None:
        caps = DeviceCaps(mtu=mtu, checksum_offload=checksum_offload, gso_max_bytes=gso_max_bytes)
        ca = LinkCounters("link.pair.a")
        cb = LinkCounters("link.pair.b")
        to_a = _Queue(queue_frames, ca)
        to_b = _Queue(queue_frames, cb)
        self.a = LoopbackEnd(caps, mac_a or local_mac(0xA), to_a, to_b, ca)
        self.b = LoopbackEnd(caps, mac_b or local_mac(0xB), to_b, to_a, cb)

    def __iter__(self) -> Iterator[LoopbackEnd]:
        return iter((self.a, self.b))

    def close(self) -> None:
        self.a.close()
        self.b.close()
