"""The send buffer: bytes written by the application and not yet acknowledged by the peer.

Read first: RFC 9293 §3.8.6 (sending), §3.4 (the stream is numbered from ISS+1).

Data is kept as the application's own immutable chunks (``bytes``, and read-only memoryviews of
``bytes``, kept by reference; other buffers are copied once on ``write`` because the caller may
reuse them). A segment's payload is a ``memoryview``
slice of one chunk; only a segment spanning chunk boundaries joins pieces. Offsets are absolute stream
offsets (Python ints, they do not wrap): ``base`` is the first unacknowledged byte (SND.UNA), ``end`` the
offset after the last written byte. The byte count is ``end - base``: a running total, never a sum.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

# Shared by every buffer with nothing written yet (an idle connection never writes): read-only, replaced
# by real lists on the first ``write``.
_EMPTY: Any = ()


@cython.no_gc
@cython.cclass
class SendBuffer:
    __slots__ = ("_chunks", "_starts", "_head", "base", "end", "capacity")

    def __init__(self, capacity: int) -> None:
        self._chunks: list[Any] = _EMPTY  # bytes objects (None once fully acknowledged, until compaction)
        self._starts: list[int] = _EMPTY  # absolute offset of each chunk's first byte, increasing
        self._head = 0  # index of the first chunk still holding unacknowledged bytes
        self.base = 0
        self.end = 0
        self.capacity = capacity

    def __len__(self) -> int:
        return self.end - self.base

    @property
    def free(self) -> int:
        return max(0, self.capacity - (self.end - self.base))

    def write(self, data: Any) -> int:
        """Append up to ``free`` bytes of ``data``; returns how many were taken."""
        n = len(data) if isinstance(data, bytes) else memoryview(data).nbytes
        room = self.capacity - (self.end - self.base)
        if n <= 0 or room <= 0:
            return 0
        if n > room:
            n = room
        chunk: Any
        if isinstance(data, bytes):
            chunk = data if n == len(data) else memoryview(data)[:n]
        elif type(data) is memoryview and data.readonly and type(data.obj) is bytes and data.c_contiguous:
            # A read-only view of immutable bytes cannot change under us: kept by reference, in a view
            # of our own (the caller may release theirs).
            chunk = memoryview(data).cast("B")[:n]
        else:
            chunk = bytes(memoryview(data).cast("B")[:n])
        if self._chunks is _EMPTY:
            self._chunks = [chunk]
            self._starts = [self.end]
        else:
            self._chunks.append(chunk)
            self._starts.append(self.end)
        self.end += n
        return n

    def view(self, offset: int, n: int) -> Any:
        """``n`` bytes starting ``offset`` bytes after ``base`` (a memoryview when inside one chunk)."""
        pos = self.base + offset
        starts = self._starts
        i = len(starts) - 1
        newest = starts[i]
        if pos < newest:  # not in the newest chunk (where a small write's data always is): search
            i = bisect_right(starts, pos, self._head) - 1
        chunk = self._chunks[i]
        a = pos - starts[i]
        clen = len(chunk)
        if a + n <= clen:
            if a == 0 and n == clen:
                return chunk
            return memoryview(chunk)[a : a + n]
        parts = [memoryview(chunk)[a:]]
        got = clen - a
        while got < n:
            i += 1
            chunk = self._chunks[i]
            take = min(len(chunk), n - got)
            parts.append(memoryview(chunk)[:take])
            got += take
        return b"".join(parts)

    def drop(self, n: int) -> None:
        """Forget the first ``n`` bytes (they were acknowledged: SND.UNA advanced)."""
        if n <= 0:
            return
        base = self.base + n
        if base > self.end:
            base = self.end
        self.base = base
        chunks = self._chunks
        starts = self._starts
        h = self._head
        last = len(chunks)
        while h < last and starts[h] + len(chunks[h]) <= base:
            chunks[h] = None
            h += 1
        if h > 64 and h * 2 > last:
            del chunks[:h]
            del starts[:h]
            h = 0
        self._head = h

    def clear(self) -> None:
        self._chunks = _EMPTY
        self._starts = _EMPTY
        self._head = 0
        self.base = self.end
