"""``FaultInjector``: seeded impairments around any device, on either direction.

Per frame, in this order: a token-bucket **rate limit** (policer: frames beyond the bucket are dropped,
``drops.<dir>.rate_limit``), then **drop**, **corrupt** (one bit flipped in a copy), **duplicate**, and
**reorder** (the frame is held back and released right after the next frame of that direction, or after
``reorder_hold_us`` at the latest), and finally a fixed **delay** plus uniform **jitter**.
``<dir>`` is ``tx`` (frames given to ``send_batch``) or ``rx`` (frames read from the inner device).

Randomness comes from one ``random.Random(seed)`` (or an injected ``rng``) with a fixed number of draws
per frame, so the same seed and the same inputs give the same faults.

Time: delay, jitter, reorder hold and the rate limit need a clock. Pass ``clock`` (a callable returning
``now_us``) or drive the injector with ``advance(now_us)`` (virtual time; forwarded to a virtual-time
inner device). ``poll_at()`` reports the earliest moment a held frame is due (or the inner device's own
deadline); a driver calls ``advance`` then and, for receive-side faults, ``receive_batch`` as well (the
wake-up callback also fires for frames released by ``advance``).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence

from aiostack.link.base import Device, Frame, check_probabilities, frame_data, frame_len
from aiostack.link.middleware import Middleware
from aiostack.stats import Counters


class _Path:
    """Impairment state for one direction."""

    __slots__ = ("name", "delayed", "order", "held", "held_until", "tokens", "refilled_us")

    def __init__(self, name: str, burst: int) -> None:
        self.name = name
        self.delayed: list[tuple[int, int, Frame]] = []  # (due_us, order, frame)
        self.order = 0
        self.held: Frame | None = None  # frame waiting to be overtaken (reorder)
        self.held_until = 0
        self.tokens = burst
        self.refilled_us: int | None = None


class FaultInjector(Middleware):
    """Wraps ``inner`` and impairs its traffic with seeded faults (see module docstring)."""

    def __init__(
        self,
        inner: Device,
        *,
        drop: float = 0.0,
        corrupt: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay_us: int = 0,
        jitter_us: int = 0,
        rate_bps: int = 0,
        burst_bytes: int | None = None,
        reorder_hold_us: int = 10_000,
        tx: bool = True,
        rx: bool = True,
        seed: int = 0,
        rng: random.Random | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(inner)
        check_probabilities(drop=drop, corrupt=corrupt, duplicate=duplicate, reorder=reorder)
        if delay_us < 0 or jitter_us < 0 or rate_bps < 0 or reorder_hold_us < 0:
            raise ValueError("delay_us, jitter_us, rate_bps and reorder_hold_us must be >= 0")
        self.drop = drop
        self.corrupt = corrupt
        self.duplicate = duplicate
        self.reorder = reorder
        self.delay_us = delay_us
        self.jitter_us = jitter_us
        self.rate_bps = rate_bps
        # Default bucket: 10 ms at the configured rate, never less than two full-size frames.
        self.burst_bytes = burst_bytes if burst_bytes is not None else max(rate_bps // 800, 2 * 1514)
        self.reorder_hold_us = reorder_hold_us
        self.seed = seed
        self.rng = rng if rng is not None else random.Random(seed)
        self.counters = Counters("link.fault")
        self._clock = clock
        self.now_us = clock() if clock is not None else 0
        self._tx = _Path("tx", self.burst_bytes) if tx else None
        self._rx = _Path("rx", self.burst_bytes) if rx else None
        self._rx_ready: list[Frame] = []  # released receive-side frames beyond the last max_frames
        self._wakeup: Callable[[], None] | None = None
        self._random = bool(drop or corrupt or duplicate or reorder)

    # -- time -------------------------------------------------------------------------------------------
    def _now(self) -> int:
        if self._clock is not None:
            self.now_us = self._clock()
        return self.now_us

    def advance(self, now_us: int) -> None:
        if now_us < self.now_us:
            raise ValueError(f"time goes forward only: {now_us} < {self.now_us}")
        self.now_us = now_us
        super().advance(now_us)
        if self._tx is not None:
            due = self._release(self._tx, now_us)
            if due:
                self.inner.send_batch(due)
        if self._rx is not None:
            due = self._release(self._rx, now_us)
            if due:
                self._rx_ready.extend(due)
                if self._wakeup is not None:
                    self._wakeup()

    def poll_at(self) -> int | None:
        best = super().poll_at()
        if self._rx_ready:
            return self.now_us
        for p in (self._tx, self._rx):
            if p is None:
                continue
            if p.delayed and (best is None or p.delayed[0][0] < best):
                best = p.delayed[0][0]
            if p.held is not None and (best is None or p.held_until < best):
                best = p.held_until
        return best

    # -- device verbs -----------------------------------------------------------------------------------
    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        self._wakeup = callback
        self.inner.set_wakeup(callback)

    def send_batch(self, frames: Sequence[Frame]) -> None:
        p = self._tx
        if p is None:
            self.inner.send_batch(frames)
            return
        now = self._now()
        out = self._release(p, now)
        self._process(p, frames, now, out)
        if out:
            self.inner.send_batch(out)

    def receive_batch(self, max_frames: int) -> list[Frame]:
        p = self._rx
        if p is None:
            return self.inner.receive_batch(max_frames)
        now = self._now()
        ready = self._rx_ready
        ready.extend(self._release(p, now))
        room = max_frames - len(ready)
        if room > 0:
            self._process(p, self.inner.receive_batch(room), now, ready)
        if len(ready) <= max_frames:
            self._rx_ready = []
            return ready
        self._rx_ready = ready[max_frames:]
        return ready[:max_frames]

    def close(self) -> None:
        p = self._tx
        if p is not None:
            # Frames already accepted for sending still leave, in due order, before the device closes.
            rest = [f for _, _, f in sorted(p.delayed)]
            if p.held is not None:
                rest.append(p.held)
            p.delayed.clear()
            p.held = None
            if rest:
                try:
                    self.inner.send_batch(rest)
                except Exception:  # the inner device may already be gone; nothing left to do
                    pass
        self._wakeup = None
        super().close()

    # -- the impairments --------------------------------------------------------------------------------
    def _release(self, p: _Path, now: int) -> list[Frame]:
        out: list[Frame] = []
        if p.held is not None and now >= p.held_until:
            out.append(p.held)
            p.held = None
        d = p.delayed
        while d and d[0][0] <= now:
            out.append(heapq.heappop(d)[2])
        return out

    def _admit(self, p: _Path, n: int, now: int) -> bool:
        """Token bucket (bytes): refill at rate_bps/8 per second up to burst_bytes, spend n."""
        if p.refilled_us is not None and now > p.refilled_us:
            p.tokens = min(self.burst_bytes, p.tokens + (now - p.refilled_us) * self.rate_bps // 8_000_000)
        p.refilled_us = now
        if p.tokens < n:
            return False
        p.tokens -= n
        return True

    def _process(self, p: _Path, frames: Sequence[Frame], now: int, out: list[Frame]) -> None:
        c = self.counters
        name = p.name
        rng = self.rng
        for f in frames:
            n = frame_len(f)
            if self.rate_bps and not self._admit(p, n, now):
                c.drop(name + ".rate_limit")
                continue
            copies = 1
            hold = False
            if self._random:
                r_drop = rng.random()
                r_corrupt = rng.random()
                r_dup = rng.random()
                r_reorder = rng.random()
                if r_drop < self.drop:
                    c.drop(name + ".drop")
                    continue
                if r_corrupt < self.corrupt and n:
                    data = bytearray(frame_data(f))
                    bit = rng.randrange(n * 8)
                    data[bit >> 3] ^= 1 << (bit & 7)
                    f = bytes(data)
                    c.inc(name + ".corrupted")
                if r_dup < self.duplicate:
                    copies = 2
                    c.inc(name + ".duplicated")
                hold = r_reorder < self.reorder and p.held is None
            if hold:
                p.held = f
                p.held_until = now + self.reorder_hold_us
                c.inc(name + ".reordered")
                if copies == 2:
                    self._emit(p, f, now, out)
                continue
            for _ in range(copies):
                self._emit(p, f, now, out)
            if p.held is not None and p.held is not f:
                # The held frame has been overtaken by this one; let it follow now.
                held = p.held
                p.held = None
                self._emit(p, held, now, out)

    def _emit(self, p: _Path, f: Frame, now: int, out: list[Frame]) -> None:
        if self.delay_us or self.jitter_us:
            due = now + self.delay_us
            if self.jitter_us:
                due += self.rng.randrange(self.jitter_us + 1)
            heapq.heappush(p.delayed, (due, p.order, f))
            p.order += 1
            self.counters.inc(p.name + ".delayed")
        else:
            out.append(f)
