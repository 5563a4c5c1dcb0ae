"""``Netsim``: a deterministic discrete-event wire between two device ends, on virtual time.

Each direction is a transmitter with a drop-tail queue feeding a link:

1. **Queue** (``queue_bytes``): a frame arriving while the backlog (bytes not yet serialized) plus the
   frame exceeds the limit is dropped at the tail and counted (``drops.queue_full``).
2. **Serialization** at ``rate_bps`` (0 = infinitely fast): a frame of L bytes occupies the transmitter
   for L*8/rate seconds after the previous one finishes. Kept in exact integer units (1 µs = rate_bps
   units), so long runs do not drift.
3. **Propagation** ``latency_us`` one way, then the impairments, each drawn from one seeded
   ``random.Random`` in a fixed order per frame: loss (``drops.loss``), single-bit corruption
   (``corrupted``), duplication (``duplicated``, the copy arrives right behind the original) and
   reordering (``reordered``: the frame is held ``reorder_delay_us`` longer, so later frames overtake it).

Same parameters and seed, same sequence of ``send_batch``/``advance`` calls -> the very same delivery
schedule. The simulator owns the clock only in the sense that ``advance(now_us)`` tells it what time it
is (monotonic; going backwards is an error); ``poll_at()`` says when the next frame arrives.

The ends are devices (``aiostack.link.base``): ``fileno()`` is ``None``, the wake-up callback runs when
``advance`` delivered frames to that end, and both ends (and the ``Netsim`` itself) have ``poll_at`` and
``advance``. Frames are delivered as the very objects sent (no copy) except corrupted ones, which are
copied before the flip.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Sequence

from aiostack.link.base import (
    DeviceCaps,
    DeviceClosed,
    Frame,
    check_mac,
    check_probabilities,
    frame_data,
    frame_len,
    local_mac,
)
from aiostack.stats import Counters

US_PER_S = 1_000_000
DEFAULT_QUEUE_BYTES = 1 << 20
RX_QUEUE_FRAMES = 1 << 16  # frames delivered but not yet read by the end's owner


class _Direction:
    """Transmitter state of one direction (a -> b or b -> a)."""

    __slots__ = ("tx_free_units", "dst", "counters")

    def __init__(self, dst: NetsimEnd, counters: Counters) -> None:
        self.tx_free_units = 0  # time the transmitter is free, in units of 1/rate_bps µs
        self.dst = dst
        self.counters = counters


class NetsimEnd:
    """One end of a ``Netsim`` wire; a ``Device`` with ``poll_at``/``advance`` (virtual time)."""

    def __init__(self, sim: Netsim, caps: DeviceCaps, mac: bytes, name: str) -> None:
        self.sim = sim
        self.caps = caps
        self.mac = check_mac(mac)
        self.name = name
        self.counters = Counters(f"link.netsim.{name}")
        self._rx: deque[Frame] = deque()
        self._wakeup: Callable[[], None] | None = None
        self._closed = False
        self._out: _Direction | None = None  # set by Netsim

    def receive_batch(self, max_frames: int) -> list[Frame]:
        if self._closed:
            raise DeviceClosed("receive_batch on a closed device")
        q = self._rx
        if not q:
            return []
        if len(q) <= max_frames:
            out = list(q)
            q.clear()
        else:
            popleft = q.popleft
            out = [popleft() for _ in range(max_frames)]
        self.counters.inc("rx_frames", len(out))
        return out

    def send_batch(self, frames: Sequence[Frame]) -> None:
        if self._closed:
            raise DeviceClosed("send_batch on a closed device")
        assert self._out is not None
        self.sim._transmit(self._out, frames)

    def fileno(self) -> int | None:
        return None

    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        self._wakeup = callback

    def close(self) -> None:
        self._closed = True
        self._wakeup = None
        self._rx.clear()

    def poll_at(self) -> int | None:
        return self.sim.poll_at()

    def advance(self, now_us: int) -> None:
        self.sim.advance(now_us)

    def pending(self) -> int:
        """Frames delivered to this end and not yet read."""
        return len(self._rx)

    def _deliver(self, frame: Frame) -> bool:
        if self._closed:
            return False
        if len(self._rx) >= RX_QUEUE_FRAMES:
            self.counters.drop("rx_queue_full")
            return False
        self._rx.append(frame)
        return True


class Netsim:
    """A seeded, deterministic wire between ``self.a`` and ``self.b`` (same parameters both ways)."""

    def __init__(
        self,
        *,
        latency_us: int = 0,
        rate_bps: int = 0,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        loss: float = 0.0,
        reorder: float = 0.0,
        reorder_delay_us: int | None = None,
        duplicate: float = 0.0,
        corrupt: float = 0.0,
        seed: int = 0,
        rng: random.Random | None = None,
        mtu: int = 1500,
        mac_a: bytes | None = None,
        mac_b: bytes | None = None,
        now_us: int = 0,
    ) -> None:
        check_probabilities(loss=loss, reorder=reorder, duplicate=duplicate, corrupt=corrupt)
        if latency_us < 0 or rate_bps < 0 or queue_bytes < 0:
            raise ValueError("latency_us, rate_bps and queue_bytes must be >= 0")
        self.latency_us = latency_us
        self.rate_bps = rate_bps
        self.queue_bytes = queue_bytes
        self.loss = loss
        self.reorder = reorder
        # Default hold for a reordered frame: half the one-way latency, at least 1 ms.
        self.reorder_delay_us = reorder_delay_us if reorder_delay_us is not None else max(latency_us // 2, 1000)
        self.duplicate = duplicate
        self.corrupt = corrupt
        self.seed = seed
        self.rng = rng if rng is not None else random.Random(seed)
        self.now_us = now_us
        self.counters = Counters("link.netsim")
        caps = DeviceCaps(mtu=mtu)
        self._max_frame = caps.max_frame_len
        self.a = NetsimEnd(self, caps, mac_a or local_mac(0xA), "a")
        self.b = NetsimEnd(self, caps, mac_b or local_mac(0xB), "b")
        self.a._out = _Direction(self.b, self.a.counters)
        self.b._out = _Direction(self.a, self.b.counters)
        self._events: list[tuple[int, int, NetsimEnd, Frame]] = []  # (arrival_us, order, dst, frame)
        self._order = 0
        self._impaired = bool(loss or reorder or duplicate or corrupt)

    # -- virtual time -----------------------------------------------------------------------------------
    def poll_at(self) -> int | None:
        """Arrival time of the next frame in flight, or ``None`` when the wire is idle."""
        ev = self._events
        return ev[0][0] if ev else None

    def advance(self, now_us: int) -> None:
        """Move the clock to ``now_us`` and deliver every frame due by then (in arrival order)."""
        if now_us < self.now_us:
            raise ValueError(f"virtual time goes forward only: {now_us} < {self.now_us}")
        self.now_us = now_us
        ev = self._events
        if not ev or ev[0][0] > now_us:
            return
        woke_a = woke_b = False
        pop = heapq.heappop
        a = self.a
        delivered = 0
        while ev and ev[0][0] <= now_us:
            _, _, dst, frame = pop(ev)
            if dst._deliver(frame):
                delivered += 1
                if dst is a:
                    woke_a = True
                else:
                    woke_b = True
        self.counters.inc("delivered", delivered)
        if woke_a and a._wakeup is not None:
            a._wakeup()
        if woke_b and self.b._wakeup is not None:
            self.b._wakeup()

    def in_flight(self) -> int:
        """Frames sent and not yet delivered (including duplicates)."""
        return len(self._events)

    def backlog_bytes(self, end: NetsimEnd) -> int:
        """Bytes waiting in ``end``'s transmit queue (not yet serialized) at the current time."""
        assert end._out is not None
        if not self.rate_bps:
            return 0
        return max(0, end._out.tx_free_units - self.now_us * self.rate_bps) // (8 * US_PER_S)

    # -- transmission -----------------------------------------------------------------------------------
    def _transmit(self, d: _Direction, frames: Sequence[Frame]) -> None:
        now = self.now_us
        rate = self.rate_bps
        c = d.counters
        dst = d.dst
        rng = self.rng
        push = heapq.heappush
        ev = self._events
        latency = self.latency_us
        now_units = now * rate
        unit_per_byte = 8 * US_PER_S
        limit_units = self.queue_bytes * unit_per_byte
        sent = 0
        sent_bytes = 0
        for f in frames:
            n = frame_len(f)
            if n > self._max_frame:
                c.drop("oversize")
                continue
            if rate:
                start = d.tx_free_units if d.tx_free_units > now_units else now_units
                # Drop-tail: backlog (not yet serialized) plus this frame must fit the queue.
                if start - now_units + n * unit_per_byte > limit_units:
                    c.drop("queue_full")
                    continue
                done = start + n * unit_per_byte
                d.tx_free_units = done
                arrival = -(-done // rate) + latency  # ceil to whole µs
            else:
                arrival = now + latency
            sent += 1
            sent_bytes += n
            if self._impaired:
                # Fixed draw order per frame keeps the schedule a function of (seed, inputs).
                r_loss = rng.random()
                r_corrupt = rng.random()
                r_dup = rng.random()
                r_reorder = rng.random()
                if r_loss < self.loss:
                    c.drop("loss")
                    continue
                if r_corrupt < self.corrupt and n:
                    data = bytearray(frame_data(f))
                    bit = rng.randrange(n * 8)
                    data[bit >> 3] ^= 1 << (bit & 7)
                    f = bytes(data)
                    c.inc("corrupted")
                if r_reorder < self.reorder:
                    arrival += self.reorder_delay_us
                    c.inc("reordered")
                push(ev, (arrival, self._order, dst, f))
                self._order += 1
                if r_dup < self.duplicate:
                    push(ev, (arrival, self._order, dst, f))
                    self._order += 1
                    c.inc("duplicated")
            else:
                push(ev, (arrival, self._order, dst, f))
                self._order += 1
        if sent:
            c.inc("tx_frames", sent)
            c.inc("tx_bytes", sent_bytes)

    def close(self) -> None:
        self.a.close()
        self.b.close()
        self._events.clear()
