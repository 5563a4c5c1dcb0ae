"""IPv4 send and receive helpers: header writing, fragmentation on send, bounded reassembly.

Read first: RFC 791 §3.1-3.2 (header, fragmentation and reassembly), RFC 815 (reassembly with hole
descriptors: here a sorted list of received ranges), RFC 1122 §3.2.1 (host requirements on receipt:
checksum, version, addresses; §3.3.2 reassembly timeout), RFC 5722 / RFC 1858 (why overlapping fragments
are dropped rather than merged), RFC 6864 (the Identification field).
"""

from __future__ import annotations

import struct
from bisect import bisect_left

from aiostack.config import IpConfig
from aiostack.fastpath import pack_ipv4
from aiostack.stats import Counters
from aiostack.wire.ipv4 import FLAG_DF, FLAG_MF, HEADER_LEN

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

ETH_LEN = 14
_IP_HDR = struct.Struct("!BBHHHBBHII")
_U16 = struct.Struct("!H")
MAX_DATAGRAM = 65535  # RFC 791 §3.1: the total length field is 16 bits


def write_ipv4_header(buf: bytearray, off: int, total_len: int, ident: int, flags_frag: int, ttl: int,
                      proto: int, src: int, dst: int, tos: int = 0) -> None:
    """Write a 20-byte IPv4 header (no options) with its RFC 1071 checksum at ``buf[off:]``."""
    pack_ipv4(buf, off, tos, total_len, ident, flags_frag, ttl, proto, src, dst)


def build_ipv4_frames(eth_header: bytes, src: int, dst: int, proto: int, ident: int, ttl: int, df: bool,
                      payload: bytes | bytearray | memoryview, mtu: int) -> list[bytearray] | None:
    """Ethernet frames carrying ``payload`` (a complete transport packet) in one IPv4 datagram.

    When the datagram exceeds ``mtu`` and DF is clear it is fragmented (RFC 791 §3.2: every fragment but
    the last carries a multiple of 8 payload bytes; offsets in 8-byte units). Returns None when the
    datagram does not fit and DF is set, or is larger than 65535 bytes (the caller counts/report it).
    """
    n = len(payload)
    total = HEADER_LEN + n
    if total > MAX_DATAGRAM:
        return None
    if total <= mtu:
        frame = bytearray(ETH_LEN + HEADER_LEN)
        frame[0:ETH_LEN] = eth_header
        write_ipv4_header(frame, ETH_LEN, total, ident, FLAG_DF if df else 0, ttl, proto, src, dst)
        frame += payload
        return [frame]
    if df:
        return None
    chunk = (mtu - HEADER_LEN) & ~7  # RFC 791 §3.2: fragment data in 8-octet blocks
    if chunk <= 0:
        return None
    mv = memoryview(payload)
    frames = []
    off = 0
    while off < n:
        size = min(chunk, n - off)
        more = off + size < n
        frame = bytearray(ETH_LEN + HEADER_LEN)
        frame[0:ETH_LEN] = eth_header
        write_ipv4_header(frame, ETH_LEN, HEADER_LEN + size, ident, (FLAG_MF if more else 0) | (off >> 3),
                          ttl, proto, src, dst)
        frame += mv[off:off + size]
        frames.append(frame)
        off += size
    return frames


class _Partial:
    """One datagram being reassembled: received ranges sorted by start, never overlapping."""

    __slots__ = ("starts", "pieces", "received", "total", "deadline", "first_header", "first_quote")

    def __init__(self, deadline: int) -> None:
        self.starts: list[int] = []
        self.pieces: list[tuple[int, int, bytes]] = []
        self.received = 0
        self.total: int | None = None
        self.deadline = deadline
        self.first_header: bytes | None = None  # header of the offset-0 fragment, for ICMP time exceeded
        self.first_quote: bytes = b""


@cython.cclass
class Reassembler:
    """RFC 791 §3.2 reassembly, bounded in datagrams, buffered bytes and time (RFC 1122 §3.3.2).

    Key is (src, dst, protocol, identification). Exact duplicate fragments are ignored; any other overlap
    discards the whole datagram (RFC 5722's rule, adopted for IPv4 as Linux does for non-identical
    overlaps). The oldest partial datagram is evicted when a bound is hit.
    """

    __slots__ = ("config", "counters", "_parts", "bytes_buffered")

    def __init__(self, config: IpConfig, counters: Counters) -> None:
        self.config = config
        self.counters = counters
        self._parts: dict[tuple[int, int, int, int], _Partial] = {}
        self.bytes_buffered = 0

    def __len__(self) -> int:
        return len(self._parts)

    def _discard(self, key: tuple[int, int, int, int]) -> None:
        p = self._parts.pop(key)
        self.bytes_buffered -= p.received

    def add(self, src: int, dst: int, proto: int, ident: int, offset: int, more: bool,
            data: bytes | bytearray | memoryview, header: bytes | bytearray | memoryview,
            now_us: int) -> bytes | None:
        """Add one fragment (``offset`` in bytes); return the reassembled payload when complete."""
        c = self.counters
        size = len(data)
        end = offset + size
        if more and (size == 0 or size & 7):
            c.drop("frag_bad_length")  # RFC 791 §3.2: non-final fragments carry a multiple of 8 bytes
            return None
        if end + HEADER_LEN > MAX_DATAGRAM:
            c.drop("frag_too_big")
            return None
        key = (src, dst, proto, ident)
        parts = self._parts
        p = parts.get(key)
        if (p.received if p is not None else 0) + size > self.config.reassembly_max_bytes:
            if p is not None:
                self._discard(key)
            c.drop("frag_memory")  # this datagram alone exceeds the byte bound: evicting others won't help
            return None
        if p is None:
            cfg = self.config
            while len(parts) >= cfg.reassembly_max_datagrams:
                self._discard(next(iter(parts)))
                c.drop("frag_evicted")
            p = _Partial(now_us + cfg.reassembly_timeout_us)
            parts[key] = p
            c.inc("frags_datagrams_started")
        if not more:
            if p.total is not None and p.total != end:
                self._discard(key)
                c.drop("frag_inconsistent")
                return None
            p.total = end
        if p.total is not None and end > p.total:
            self._discard(key)
            c.drop("frag_inconsistent")
            return None
        starts = p.starts
        i = bisect_left(starts, offset)
        pieces = p.pieces
        # Duplicate of a piece already held: same range (a retransmitted or duplicated fragment).
        if i < len(starts) and starts[i] == offset and pieces[i][1] == end:
            c.inc("frags_duplicate")
            return None
        if (i > 0 and pieces[i - 1][1] > offset) or (i < len(starts) and starts[i] < end):
            self._discard(key)
            c.drop("frag_overlap")  # RFC 5722 / RFC 1858: overlapping fragments, whole datagram dropped
            return None
        cfg = self.config
        while self.bytes_buffered + size > cfg.reassembly_max_bytes and len(parts) > 1:
            oldest = next(iter(parts))
            if oldest == key:
                break
            self._discard(oldest)
            c.drop("frag_evicted")
        if self.bytes_buffered + size > cfg.reassembly_max_bytes:
            self._discard(key)
            c.drop("frag_memory")
            return None
        starts.insert(i, offset)
        pieces.insert(i, (offset, end, bytes(data)))
        p.received += size
        self.bytes_buffered += size
        c.inc("frags_received")
        if offset == 0:
            p.first_header = bytes(header)
            p.first_quote = bytes(data[:8])
        if p.total is None or p.received != p.total:
            return None
        # No overlaps and received == total: the ranges tile [0, total) exactly.
        self._discard(key)
        c.inc("reassembled")
        return b"".join(piece[2] for piece in pieces)

    def poll_at(self) -> int | None:
        for p in self._parts.values():  # insertion order == deadline order (constant timeout)
            return p.deadline
        return None

    def expire(self, now_us: int) -> list[tuple[bytes, bytes]]:
        """Drop timed-out datagrams; return (header, first 8 payload bytes) of those whose first fragment
        arrived, for ICMP time exceeded code 1 (RFC 792; RFC 1122 §3.3.2)."""
        out = []
        parts = self._parts
        while parts:
            key = next(iter(parts))
            p = parts[key]
            if p.deadline > now_us:
                break
            self._discard(key)
            self.counters.drop("frag_timeout")
            if p.first_header is not None:
                out.append((p.first_header, p.first_quote))
        return out
