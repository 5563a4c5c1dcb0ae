"""IPv4 headers.

Read first: RFC 791 §3.1 (header format), RFC 1122 §3.2.1 (what a host must check on receipt),
RFC 815/791 (fragments: DF, MF and the fragment offset in 8-byte units), RFC 1071 (header checksum),
RFC 2474/3168 (the former TOS byte: DSCP and ECN).

Layout (20 bytes plus 0..40 bytes of options; IHL counts 32-bit words)::

     0        1        2        3
    |ver|ihl | tos    | total length    |
    | identification  |flg| frag offset |
    | ttl    | proto  | header checksum |
    | source address                    |
    | destination address               |
    | options (IHL*4 - 20 bytes)        |

Addresses are 32-bit ``int`` everywhere inside aiostack; ``ip_to_int``/``int_to_ip`` convert for people.
``Ipv4Repr.frag_offset`` is in bytes (always a multiple of 8), not in the 8-byte units of the wire.
Options are carried as raw bytes (a multiple of 4 long), not interpreted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from aiostack.errors import MalformedPacket
from aiostack.fastpath import internet_checksum

__all__ = [
    "VER_IHL",
    "TOS",
    "TOTAL_LEN",
    "IDENT",
    "FLAGS_FRAG",
    "TTL",
    "PROTOCOL",
    "CHECKSUM",
    "SRC",
    "DST",
    "OPTIONS",
    "HEADER_LEN",
    "MAX_HEADER_LEN",
    "FLAG_DF",
    "FLAG_MF",
    "FRAG_OFFSET_MASK",
    "PROTO_ICMP",
    "PROTO_TCP",
    "PROTO_UDP",
    "Ipv4View",
    "Ipv4Repr",
    "ip_to_int",
    "int_to_ip",
    "protocol_name",
]

# Field offsets (RFC 791 §3.1).
VER_IHL = 0
TOS = 1
TOTAL_LEN = 2
IDENT = 4
FLAGS_FRAG = 6
TTL = 8
PROTOCOL = 9
CHECKSUM = 10
SRC = 12
DST = 16
OPTIONS = 20
HEADER_LEN = 20
MAX_HEADER_LEN = 60  # IHL is 4 bits: at most 15 words

# RFC 791 §3.1 flags in the 16-bit flags/fragment-offset word: bit 0 reserved, DF, MF.
FLAG_RESERVED = 0x8000
FLAG_DF = 0x4000
FLAG_MF = 0x2000
FRAG_OFFSET_MASK = 0x1FFF

# IANA protocol numbers (RFC 790 and the registry).
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

_PROTO_NAMES = {PROTO_ICMP: "ICMP", PROTO_TCP: "TCP", PROTO_UDP: "UDP"}

# version/ihl, tos, total length, ident, flags+frag, ttl, protocol, checksum, src, dst
_HDR = struct.Struct("!BBHHHBBHII")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def ip_to_int(text: str) -> int:
    """``"198.18.0.1"`` -> ``0xC6120001``. Raises ValueError for anything but a dotted quad."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(f"not an IPv4 address: {text!r}")
    n = 0
    for p in parts:
        if not p.isdigit() or len(p) > 3 or (len(p) > 1 and p[0] == "0"):
            raise ValueError(f"not an IPv4 address: {text!r}")
        v = int(p)
        if v > 255:
            raise ValueError(f"not an IPv4 address: {text!r}")
        n = (n << 8) | v
    return n


def int_to_ip(n: int) -> str:
    """``0xC6120001`` -> ``"198.18.0.1"``."""
    return f"{(n >> 24) & 0xFF}.{(n >> 16) & 0xFF}.{(n >> 8) & 0xFF}.{n & 0xFF}"


def protocol_name(protocol: int) -> str:
    return _PROTO_NAMES.get(protocol, "unknown")


class Ipv4View:
    """Zero-copy accessors over an IPv4 packet. ``check_len()`` validates the lengths first.

    ``check_len()`` checks the buffer holds the fixed header, that IHL >= 5 and the options fit, and that
    the total length covers the header and does not exceed the buffer (a longer buffer, e.g. Ethernet
    padding, is fine: ``payload`` stops at the total length).
    """

    __slots__ = ("buf",)

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self.buf = memoryview(buf)

    def check_len(self) -> None:
        _check(self.buf)

    @property
    def version(self) -> int:
        return self.buf[VER_IHL] >> 4

    @property
    def header_len(self) -> int:
        return (self.buf[VER_IHL] & 0x0F) * 4

    @property
    def tos(self) -> int:
        return self.buf[TOS]

    @property
    def total_len(self) -> int:
        return int(_U16.unpack_from(self.buf, TOTAL_LEN)[0])

    @property
    def ident(self) -> int:
        return int(_U16.unpack_from(self.buf, IDENT)[0])

    @property
    def dont_frag(self) -> bool:
        return bool(_U16.unpack_from(self.buf, FLAGS_FRAG)[0] & FLAG_DF)

    @property
    def more_frags(self) -> bool:
        return bool(_U16.unpack_from(self.buf, FLAGS_FRAG)[0] & FLAG_MF)

    @property
    def frag_offset(self) -> int:
        """Fragment offset in bytes."""
        return int(_U16.unpack_from(self.buf, FLAGS_FRAG)[0] & FRAG_OFFSET_MASK) * 8

    @property
    def ttl(self) -> int:
        return self.buf[TTL]

    @property
    def protocol(self) -> int:
        return self.buf[PROTOCOL]

    @property
    def checksum(self) -> int:
        return int(_U16.unpack_from(self.buf, CHECKSUM)[0])

    @property
    def src(self) -> int:
        return int(_U32.unpack_from(self.buf, SRC)[0])

    @property
    def dst(self) -> int:
        return int(_U32.unpack_from(self.buf, DST)[0])

    @property
    def options(self) -> memoryview:
        return self.buf[OPTIONS:self.header_len]

    @property
    def payload(self) -> memoryview:
        return self.buf[self.header_len:self.total_len]

    def verify_checksum(self) -> bool:
        """RFC 1071: the header (with its checksum) sums to 0xFFFF."""
        return internet_checksum(self.buf[:self.header_len]) == 0


def _check(buf: memoryview) -> tuple[int, int]:
    """Validate lengths (RFC 1122 §3.2.1.1/.2); return (header length, total length)."""
    n = len(buf)
    if n < HEADER_LEN:
        raise MalformedPacket("truncated", f"ipv4 packet of {n} bytes")
    vi = buf[VER_IHL]
    if vi >> 4 != 4:  # RFC 1122 §3.2.1.1: silently discard other versions
        raise MalformedPacket("bad_version", f"ip version {vi >> 4}")
    hl = (vi & 0x0F) * 4
    if hl < HEADER_LEN:
        raise MalformedPacket("bad_ihl", f"ihl {hl // 4}")
    if hl > n:
        raise MalformedPacket("truncated", f"ihl {hl // 4} beyond {n} bytes")
    total = (buf[TOTAL_LEN] << 8) | buf[TOTAL_LEN + 1]
    if total < hl or total > n:
        raise MalformedPacket("bad_total_length", f"total length {total}, header {hl}, buffer {n}")
    return hl, total


@dataclass(frozen=True, slots=True)
class Ipv4Repr:
    """An IPv4 header in values. ``payload_len`` is the number of bytes after the header.

    ``tos`` is the whole former TOS byte (DSCP << 2 | ECN). ``frag_offset`` is in bytes (multiple of 8).
    ``options`` are raw bytes whose length is a multiple of 4 (at most 40).
    """

    src: int
    dst: int
    protocol: int
    payload_len: int
    ttl: int = 64
    tos: int = 0
    ident: int = 0
    dont_frag: bool = False
    more_frags: bool = False
    frag_offset: int = 0
    options: bytes = b""

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview, verify_checksum: bool = True) -> Ipv4Repr:
        """Parse and validate the header of ``buf`` (see ``parse_packet`` for the payload too).

        ``verify_checksum=False`` skips the header checksum (frames the device marked DATA_VALID).
        """
        mv = memoryview(buf)
        hl, total = _check(mv)
        if verify_checksum and internet_checksum(mv[:hl]) != 0:
            raise MalformedPacket("bad_checksum", "ipv4 header")
        _vi, tos, _total, ident, ff, ttl, proto, _csum, src, dst = _HDR.unpack_from(mv, 0)
        return cls(
            src,
            dst,
            proto,
            total - hl,
            ttl,
            tos,
            ident,
            bool(ff & FLAG_DF),
            bool(ff & FLAG_MF),
            (ff & FRAG_OFFSET_MASK) * 8,
            bytes(mv[OPTIONS:hl]) if hl > HEADER_LEN else b"",
        )

    @classmethod
    def parse_packet(
        cls, buf: bytes | bytearray | memoryview, verify_checksum: bool = True
    ) -> tuple[Ipv4Repr, memoryview]:
        """Parse the header and return it with a zero-copy view of the payload (trimmed to total length)."""
        mv = memoryview(buf)
        r = cls.parse(mv, verify_checksum)
        hl = HEADER_LEN + len(r.options)
        return r, mv[hl:hl + r.payload_len]

    @property
    def header_len(self) -> int:
        return HEADER_LEN + len(self.options)

    @property
    def total_len(self) -> int:
        return HEADER_LEN + len(self.options) + self.payload_len

    def buffer_len(self) -> int:
        """Bytes ``emit`` writes: the header with options (the payload follows it)."""
        return HEADER_LEN + len(self.options)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write the header (with its checksum) at ``buf[offset:]``; the payload goes after ``buffer_len()``.

        Raises ValueError for values that cannot be encoded (options not a multiple of 4 or > 40 bytes,
        fragment offset not a multiple of 8, total length > 65535).
        """
        olen = len(self.options)
        if olen & 3 or olen > MAX_HEADER_LEN - HEADER_LEN:
            raise ValueError(f"ipv4 options must be a multiple of 4 bytes, at most 40 (got {olen})")
        if self.frag_offset & 7:
            raise ValueError(f"fragment offset {self.frag_offset} is not a multiple of 8")
        hl = HEADER_LEN + olen
        if hl + self.payload_len > 0xFFFF:
            raise ValueError(f"ipv4 total length {hl + self.payload_len} exceeds 65535")
        ff = (self.frag_offset >> 3) | (FLAG_DF if self.dont_frag else 0) | (FLAG_MF if self.more_frags else 0)
        _HDR.pack_into(
            buf, offset, 0x40 | (hl >> 2), self.tos, hl + self.payload_len, self.ident, ff,
            self.ttl, self.protocol, 0, self.src, self.dst,
        )
        if olen:
            buf[offset + OPTIONS:offset + hl] = self.options
        mv = memoryview(buf)
        csum = internet_checksum(mv[offset:offset + hl])
        _U16.pack_into(buf, offset + CHECKSUM, csum)

    def pretty(self) -> str:
        """tcpdump ``-v`` style: ``IP 198.18.0.1 > 198.18.0.2: (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 60)``."""
        flags = "+" if self.more_frags else ("DF" if self.dont_frag else "none")
        if self.more_frags and self.dont_frag:
            flags = "DF+"
        opts = f", options ({len(self.options)} bytes)" if self.options else ""
        return (
            f"IP {int_to_ip(self.src)} > {int_to_ip(self.dst)}: (tos 0x{self.tos:x}, ttl {self.ttl}, "
            f"id {self.ident}, offset {self.frag_offset}, flags [{flags}], "
            f"proto {protocol_name(self.protocol)} ({self.protocol}), length {self.total_len}{opts})"
        )
