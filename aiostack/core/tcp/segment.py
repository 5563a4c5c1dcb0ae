"""The TCP segment as the engine sees it: header fields and decoded options, no addresses.

Read first: RFC 9293 §3.1 (header format), §3.2 (options), RFC 7323 §2-3 (window scale, timestamps),
RFC 2018 (SACK-permitted, SACK blocks).

``Segment`` is a mutable ``__slots__`` object, cheap to create on the hot path. ``window`` holds the raw
16-bit header value (scaling is applied by the connection). Option fields are None/False/() when absent.
Conversion to and from the wire goes through ``aiostack.wire.tcp`` (``Segment.from_wire``,
``Segment.to_wire``).
"""

from __future__ import annotations

from typing import Any

from aiostack.wire.tcp import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG

Payload = Any  # bytes | memoryview (kept as Any: memoryview slices must not be copied)

_FLAG_CHARS = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "."), (URG, "U"), (ECE, "E"), (CWR, "W"))


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
        """Bytes of TCP options this segment needs (padded to a multiple of 4), as emitted by ``to_wire``."""
        n = 0
        if self.mss is not None:
            n += 4
        if self.wscale is not None:
            n += 3
        if self.sack_permitted:
            n += 2
        if self.ts_val is not None:
            n += 10
        if self.sack_blocks:
            n += 2 + 8 * len(self.sack_blocks)
        return (n + 3) & ~3

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
    return Segment(seg.dst_port, seg.src_port, 0, (seg.seq + n) & 0xFFFFFFFF, RST | ACK, 0)
