"""The TCP segment as the engine sees it: header fields and decoded options, no addresses.

Read first: RFC 9293 §3.1 (header format), §3.2 (options), RFC 7323 §2-3 (window scale, timestamps),
RFC 2018 (SACK-permitted, SACK blocks).

``Segment`` is a mutable ``__slots__`` object, cheap to create on the hot path. ``window`` holds the raw
16-bit header value (scaling is applied by the connection). Option fields are None/False/() when absent.
Conversion to and from the wire goes through ``aiostack.wire.tcp`` (``Segment.from_wire``,
``Segment.to_wire``).
"""

from __future__ import annotations

import struct
from typing import Any

from aiostack.errors import MalformedPacket
from aiostack.fastpath import seq_add
from aiostack.wire.tcp import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, TcpRepr, options_len, parse_options

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

Payload = Any  # bytes | memoryview (kept as Any: memoryview slices must not be copied)

# RFC 7323 §3.2: the timestamp option takes 10 bytes, 12 with the two NOPs that align it.
TS_OPTION_LEN = 12
_HDR = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window (RFC 9293 §3.1)
_FLAG_CHARS = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "."), (URG, "U"), (ECE, "E"), (CWR, "W"))


@cython.no_gc
@cython.freelist(64)
@cython.cclass
class Segment:
    __slots__ = (
        "src_port",
        "dst_port",
        "seq",
        "ack",
        "flags",
        "window",
        "payload",
        "mss",
        "wscale",
        "sack_permitted",
        "sack_blocks",
        "ts_val",
        "ts_ecr",
    )

    def __init__(
        self,
        src_port: int = 0,
        dst_port: int = 0,
        seq: int = 0,
        ack: int = 0,
        flags: int = 0,
        window: int = 0,
        payload: Payload = b"",
        mss: int | None = None,
        wscale: int | None = None,
        sack_permitted: bool = False,
        sack_blocks: tuple[tuple[int, int], ...] = (),
        ts_val: int | None = None,
        ts_ecr: int | None = None,
    ) -> None:
        self.src_port = src_port
        self.dst_port = dst_port
        self.seq = seq
        self.ack = ack
        self.flags = flags
        self.window = window
        self.payload = payload
        self.mss = mss
        self.wscale = wscale
        self.sack_permitted = sack_permitted
        self.sack_blocks = sack_blocks
        self.ts_val = ts_val
        self.ts_ecr = ts_ecr

    @property
    def seg_len(self) -> int:
        """RFC 9293 §3.4: SEG.LEN counts the payload plus one for SYN and one for FIN."""
        f = self.flags
        return len(self.payload) + (1 if f & SYN else 0) + (1 if f & FIN else 0)

    def options_len(self) -> int:
        """Bytes of TCP options ``emit_into`` writes (the layout of ``aiostack.wire.tcp.TcpRepr.emit``)."""
        return options_len(self.mss, self.sack_permitted, self.wscale, self.sack_blocks, self.ts_val)

    def wire_len(self) -> int:
        """Header, options and payload: the bytes ``emit_into`` writes."""
        return 20 + self.options_len() + len(self.payload)

    # --- wire conversion (aiostack.wire.tcp does the byte layout) --------------------------------

    @classmethod
    def from_wire(cls, buf: Any) -> Segment:
        """Decode a whole TCP segment (the IPv4 payload; checksum verified by the caller). The payload
        is a memoryview into ``buf`` (no copy). Raises ``MalformedPacket`` only."""
        mv = memoryview(buf)
        n = len(mv)
        if n < 20:
            raise MalformedPacket("truncated", f"tcp segment of {n} bytes")
        sp, dp, seq, ack, off, flags, win = _HDR.unpack_from(mv, 0)
        hl = (off >> 4) << 2
        if hl < 20 or hl > n:  # RFC 9293 §3.1: data offset >= 5 words, within the segment
            raise MalformedPacket("bad_data_offset", f"data offset {hl >> 2} in {n} bytes")
        s = cls(sp, dp, seq, ack, flags, win, mv[hl:])
        if hl > 20:
            s.mss, s.wscale, s.sack_permitted, s.sack_blocks, s.ts_val, s.ts_ecr = parse_options(mv[20:hl])
        return s

    @classmethod
    def from_repr(cls, r: TcpRepr) -> Segment:
        return cls(r.src_port, r.dst_port, r.seq, r.ack, r.flags, r.window, r.payload, r.mss, r.wscale,
                   r.sack_permitted, r.sack_blocks, r.ts_val, r.ts_ecr)

    def to_repr(self) -> TcpRepr:
        return TcpRepr(self.src_port, self.dst_port, self.seq, self.ack, self.flags, self.window, 0, self.mss,
                       self.wscale, self.sack_permitted, self.sack_blocks, self.ts_val, self.ts_ecr,
                       self.payload)

    def emit_into(self, buf: Any, src_ip: int, dst_ip: int, offset: int = 0, *,
                  partial_checksum: bool = False) -> int:
        """Write the segment at ``buf[offset:]`` with its checksum (or the pseudo-header sum only, for
        checksum offload); returns the bytes written."""
        r = self.to_repr()
        r.emit(buf, src_ip, dst_ip, offset, partial_checksum=partial_checksum)
        return r.buffer_len()

    def to_wire(self, src_ip: int, dst_ip: int) -> bytearray:
        buf = bytearray(self.wire_len())
        self.emit_into(buf, src_ip, dst_ip)
        return buf

    def flag_str(self) -> str:
        f = self.flags
        return "".join(c for bit, c in _FLAG_CHARS if f & bit) or "none"

    def __repr__(self) -> str:
        opts = []
        if self.mss is not None:
            opts.append(f"mss {self.mss}")
        if self.wscale is not None:
            opts.append(f"wscale {self.wscale}")
        if self.sack_permitted:
            opts.append("sackOK")
        if self.ts_val is not None:
            opts.append(f"TS val {self.ts_val} ecr {self.ts_ecr}")
        if self.sack_blocks:
            opts.append("sack " + " ".join(f"{a}:{b}" for a, b in self.sack_blocks))
        o = f" <{', '.join(opts)}>" if opts else ""
        return (
            f"Segment({self.src_port}>{self.dst_port} [{self.flag_str()}] seq {self.seq} ack {self.ack}"
            f" win {self.window} len {len(self.payload)}{o})"
        )

    def copy(self) -> Segment:
        s = Segment.__new__(Segment)
        for name in Segment.__slots__:
            setattr(s, name, getattr(self, name))
        return s


def new_segment(src_port: int, dst_port: int, seq: int, ack: int, flags: int, window: int,
                payload: Payload) -> Segment:
    """``Segment(src_port, dst_port, seq, ack, flags, window, payload)`` without options, made without a
    Python call's argument parsing (compiled: a C call and the class's free list)."""
    seg = Segment.__new__(Segment)
    seg.src_port = src_port
    seg.dst_port = dst_port
    seg.seq = seq
    seg.ack = ack
    seg.flags = flags
    seg.window = window
    seg.payload = payload
    seg.mss = None
    seg.wscale = None
    seg.sack_permitted = False
    seg.sack_blocks = ()
    seg.ts_val = None
    seg.ts_ecr = None
    return seg


def make_rst_for(seg: Segment) -> Segment | None:
    """RFC 9293 §3.10.7.1: the reset answering ``seg`` when no connection (or CLOSED) owns its 4-tuple.

    An incoming RST is never answered. If the segment has ACK, the reset takes its sequence number from
    the ACK field: <SEQ=SEG.ACK><CTL=RST>; otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    """
    f = seg.flags
    if f & RST:
        return None
    if f & ACK:
        return Segment(seg.dst_port, seg.src_port, seg.ack, 0, RST, 0)
    n = len(seg.payload) + (1 if f & SYN else 0) + (1 if f & FIN else 0)
    return Segment(seg.dst_port, seg.src_port, 0, seq_add(seg.seq, n), RST | ACK, 0)
