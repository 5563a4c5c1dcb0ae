"""The receive side's memory: in-order bytes for the application and bounded out-of-order reassembly.

Read first: RFC 9293 §3.10.7.4 (seventh step: segment text), RFC 2018 §4 (which blocks to report, most
recent first), RFC 2883 (D-SACK: reporting duplicates), DESIGN §3.9 (bounded queues, counted drops).

Offsets are absolute stream offsets (ints, no wrap; the connection maps sequence numbers to them).
``nxt`` is the offset of the next in-order byte (RCV.NXT). In-order data is kept by reference (no copy);
out-of-order ranges are merged into one ``bytes`` object per range, at most ``max_ranges`` ranges and
``max_bytes`` bytes.
"""

from __future__ import annotations

from collections import deque
from typing import Any

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

# How many recently changed ranges are remembered for SACK ordering (at most 4 blocks are ever sent).
_RECENT = 8
# Shared by every buffer that never stored an out-of-order range (the common case): read-only, replaced
# by a list on the first ``_touch``.
_EMPTY: Any = ()


@cython.no_gc
@cython.cclass
class ReceiveBuffer:
    __slots__ = (
        "_chunks",
        "_skip",
        "bytes",
        "nxt",
        "ooo",
        "ooo_bytes",
        "max_ranges",
        "max_bytes",
        "_recent",
    )

    def __init__(self, max_ranges: int, max_bytes: int) -> None:
        # in-order, unread; created on the first data (an empty deque costs 760 bytes, and an idle
        # connection may never receive any)
        self._chunks: deque[Any] | None = None
        self._skip = 0  # bytes of _chunks[0] already consumed
        self.bytes = 0  # unread in-order bytes (running count)
        self.nxt = 0  # absolute offset of the next expected byte
        # [start, end, data] sorted by start, disjoint, not adjacent; the shared empty tuple until the first
        # out-of-order range and again once drained (a list per idle connection is one more object for the
        # cyclic GC to walk)
        self.ooo: list[list[Any]] = _EMPTY
        self.ooo_bytes = 0
        self.max_ranges = max_ranges
        self.max_bytes = max_bytes
        self._recent: list[int] = _EMPTY  # starts of recently changed ranges, newest first (RFC 2018 §4)

    # --- in-order path ------------------------------------------------------------------------------

    def append(self, data: Any) -> None:
        """In-order bytes at ``nxt`` (the caller checked the offset)."""
        n = len(data)
        chunks = self._chunks
        if chunks is None:
            chunks = self._chunks = deque()
        chunks.append(data)
        self.bytes += n
        self.nxt += n

    def take_contiguous(self) -> int:
        """Move out-of-order ranges that now start at ``nxt`` into the in-order queue; returns bytes moved."""
        moved = 0
        ooo = self.ooo
        while ooo and ooo[0][0] <= self.nxt:
            start, end, data = ooo.pop(0)
            self.ooo_bytes -= end - start
            self._forget(start)
            if end > self.nxt:
                part = data if start == self.nxt else memoryview(data)[self.nxt - start :]
                moved += len(part)
                self.append(part)
        if not ooo:
            self.ooo = _EMPTY
        return moved

    # --- out-of-order -------------------------------------------------------------------------------

    def insert(self, start: int, data: Any) -> tuple[bool, tuple[int, int] | None]:
        """Store bytes at ``start`` > ``nxt``. Returns (stored, duplicate range or None).

        A range entirely inside stored data is a duplicate (reported for D-SACK, RFC 2883). Over the
        range or byte bounds the data is refused (``stored`` False) and the caller drops and counts it.
        """
        end = start + len(data)
        ooo = self.ooo
        n = len(ooo)
        # ranges are disjoint and sorted, so their ends are sorted too: find the first one ending at or
        # after ``start`` (touching counts: adjacent ranges merge)
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) >> 1
            if ooo[mid][1] < start:
                lo = mid + 1
            else:
                hi = mid
        i = lo
        j = i
        while j < n and ooo[j][0] <= end:
            j += 1
        if i == j:  # no overlap, not adjacent
            if n >= self.max_ranges or self.ooo_bytes + (end - start) > self.max_bytes:
                return False, None
            if not n:
                ooo = self.ooo = []
            ooo.insert(i, [start, end, bytes(data)])
            self.ooo_bytes += end - start
            self._touch(start)
            return True, None
        first = ooo[i]
        last = ooo[j - 1]
        if j - i == 1 and first[0] <= start and end <= first[1]:
            self._touch(first[0])
            return True, (start, end)  # wholly duplicate
        dup: tuple[int, int] | None = None
        for k in range(i, j):  # first overlapping part, for D-SACK
            a = max(start, ooo[k][0])
            b = min(end, ooo[k][1])
            if a < b:
                dup = (a, b)
                break
        new_start = min(start, first[0])
        new_end = max(end, last[1])
        old_bytes = 0
        for k in range(i, j):
            old_bytes += ooo[k][1] - ooo[k][0]
        if self.ooo_bytes - old_bytes + (new_end - new_start) > self.max_bytes:
            return False, None
        parts: list[Any] = []
        if first[0] < start:
            parts.append(memoryview(first[2])[: start - first[0]])
        parts.append(data)
        if last[1] > end:
            parts.append(memoryview(last[2])[end - last[0] :])
        merged = b"".join(parts)
        for k in range(i, j):
            self._forget(ooo[k][0])
        ooo[i:j] = [[new_start, new_end, merged]]
        self.ooo_bytes += (new_end - new_start) - old_bytes
        self._touch(new_start)
        return True, dup

    def sack_ranges(self, limit: int) -> list[tuple[int, int]]:
        """Up to ``limit`` out-of-order ranges, the most recently changed first (RFC 2018 §4), then the
        highest others."""
        out: list[tuple[int, int]] = []
        ooo = self.ooo
        for s in self._recent:
            r = self._find(s)
            if r is not None:
                out.append((r[0], r[1]))
                if len(out) >= limit:
                    return out
        k = len(ooo) - 1
        while k >= 0 and len(out) < limit:
            r = ooo[k]
            if (r[0], r[1]) not in out:
                out.append((r[0], r[1]))
            k -= 1
        return out

    def _find(self, start: int) -> list[Any] | None:
        ooo = self.ooo
        lo, hi = 0, len(ooo)
        while lo < hi:
            mid = (lo + hi) >> 1
            if ooo[mid][0] < start:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(ooo) and ooo[lo][0] == start:
            return ooo[lo]
        return None

    def clear_ooo(self) -> None:
        self.ooo = _EMPTY
        self.ooo_bytes = 0
        self._recent = _EMPTY

    def _touch(self, start: int) -> None:
        r = self._recent
        if r is _EMPTY:
            r = self._recent = []
        if start in r:
            r.remove(start)
        r.insert(0, start)
        if len(r) > _RECENT:
            r.pop()

    def _forget(self, start: int) -> None:
        if start in self._recent:
            self._recent.remove(start)

    # --- application reads --------------------------------------------------------------------------

    def peek(self) -> Any:
        """The first contiguous piece of unread data (no copy), or b"" when empty."""
        chunks = self._chunks
        if not chunks:
            return b""
        c = chunks[0]
        return memoryview(c)[self._skip :] if self._skip else c

    def consume(self, n: int) -> int:
        """Discard up to ``n`` unread bytes; returns how many."""
        n = min(n, self.bytes)
        left = n
        chunks = self._chunks
        while left:
            assert chunks is not None  # n > 0: there is in-order data
            c = chunks[0]
            avail = len(c) - self._skip
            if left < avail:
                self._skip += left
                break
            left -= avail
            chunks.popleft()
            self._skip = 0
        self.bytes -= n
        return n

    def read(self, max_bytes: int = -1) -> bytes:
        """Up to ``max_bytes`` unread bytes (all when negative), copied into one ``bytes``."""
        n = self.bytes if max_bytes < 0 else min(max_bytes, self.bytes)
        chunks = self._chunks
        if n == 0 or chunks is None:
            return b""
        c = chunks[0]
        if len(c) - self._skip >= n:
            out = bytes(memoryview(c)[self._skip : self._skip + n])
        else:
            parts = []
            got = 0
            skip = self._skip
            for c in chunks:
                mv = memoryview(c)[skip:]
                skip = 0
                take = min(len(mv), n - got)
                parts.append(mv[:take])
                got += take
                if got >= n:
                    break
            out = b"".join(parts)
        self.consume(n)
        return out
