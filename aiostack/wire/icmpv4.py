"""ICMPv4 messages.

Read first: RFC 792 (message formats: echo, destination unreachable, time exceeded), RFC 1122 §3.2.2
(what a host must do with each), RFC 1191 §4 (the next-hop MTU in "fragmentation needed"),
RFC 1812 §4.3.2.3 (errors quote the IP header and at least 8 bytes of the offending datagram),
RFC 1071 (checksum over the whole message).

Layout (8 bytes plus data)::

    | type   | code   | checksum        |
    | rest of header (4 bytes)          |   echo: identifier, sequence; unreachable: unused, next-hop MTU
    | data ...                          |   echo: payload; errors: quoted IP header + 8 bytes

``Icmpv4Repr`` keeps the rest-of-header word as ``rest`` and offers the per-type fields as properties
(``ident``, ``seq``, ``next_hop_mtu``) plus constructors for the messages a host sends. ``quoted()`` reads
the IP header and first 8 bytes quoted by an error message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from aiostack.errors import MalformedPacket
from aiostack.fastpath import checksum_partial, internet_checksum
from aiostack.wire.ipv4 import FLAG_DF, FLAG_MF, FRAG_OFFSET_MASK, PROTO_TCP, PROTO_UDP, Ipv4Repr, int_to_ip

__all__ = [
    "TYPE", "CODE", "CHECKSUM", "REST", "IDENT", "SEQ", "NEXT_HOP_MTU", "DATA", "HEADER_LEN",
    "ECHO_REPLY", "DEST_UNREACHABLE", "SOURCE_QUENCH", "REDIRECT", "ECHO_REQUEST", "TIME_EXCEEDED",
    "PARAMETER_PROBLEM",
    "UNREACH_NET", "UNREACH_HOST", "UNREACH_PROTOCOL", "UNREACH_PORT", "UNREACH_FRAG_NEEDED",
    "UNREACH_SOURCE_ROUTE", "UNREACH_NET_UNKNOWN", "UNREACH_HOST_UNKNOWN", "UNREACH_ADMIN_PROHIBITED",
    "TIME_EXCEEDED_TTL", "TIME_EXCEEDED_REASSEMBLY", "QUOTED_L4_LEN",
    "Icmpv4View", "Icmpv4Repr",
]

# Field offsets (RFC 792).
TYPE = 0
CODE = 1
CHECKSUM = 2
REST = 4
IDENT = 4  # echo
SEQ = 6  # echo
NEXT_HOP_MTU = 6  # RFC 1191 §4: low 16 bits of the rest word in "fragmentation needed"
DATA = 8
HEADER_LEN = 8

# Types (RFC 792).
ECHO_REPLY = 0
DEST_UNREACHABLE = 3
SOURCE_QUENCH = 4
REDIRECT = 5
ECHO_REQUEST = 8
TIME_EXCEEDED = 11
PARAMETER_PROBLEM = 12

# Destination unreachable codes (RFC 792; 6..13 from RFC 1122 §3.2.2.1 and RFC 1812 §5.2.7.1).
UNREACH_NET = 0
UNREACH_HOST = 1
UNREACH_PROTOCOL = 2
UNREACH_PORT = 3
UNREACH_FRAG_NEEDED = 4  # RFC 1191: carries the next-hop MTU
UNREACH_SOURCE_ROUTE = 5
UNREACH_NET_UNKNOWN = 6
UNREACH_HOST_UNKNOWN = 7
UNREACH_ADMIN_PROHIBITED = 13

# Time exceeded codes (RFC 792).
TIME_EXCEEDED_TTL = 0
TIME_EXCEEDED_REASSEMBLY = 1

# RFC 792 / RFC 1812 §4.3.2.3: errors quote the IP header plus (at least) the first 64 bits of data.
QUOTED_L4_LEN = 8

_HDR = struct.Struct("!BBHI")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_QUOTED_IP = struct.Struct("!BBHHHBBHII")

_UNREACH_TEXT = {
    UNREACH_NET: "net {dst} unreachable",
    UNREACH_HOST: "host {dst} unreachable",
    UNREACH_PROTOCOL: "{dst} protocol {proto} unreachable",
    UNREACH_SOURCE_ROUTE: "{dst} unreachable - source route failed",
    UNREACH_NET_UNKNOWN: "net {dst} unreachable - unknown",
    UNREACH_HOST_UNKNOWN: "host {dst} unreachable - unknown",
    UNREACH_ADMIN_PROHIBITED: "host {dst} unreachable - admin prohibited filter",
}


class Icmpv4View:
    """Zero-copy accessors over an ICMPv4 message (the IPv4 payload). Call ``check_len()`` first."""

    __slots__ = ("buf",)

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self.buf = memoryview(buf)

    def check_len(self) -> None:
        if len(self.buf) < HEADER_LEN:
            raise MalformedPacket("truncated", f"icmp message of {len(self.buf)} bytes")

    @property
    def type(self) -> int:
        return self.buf[TYPE]

    @property
    def code(self) -> int:
        return self.buf[CODE]

    @property
    def checksum(self) -> int:
        return int(_U16.unpack_from(self.buf, CHECKSUM)[0])

    @property
    def rest(self) -> int:
        return int(_U32.unpack_from(self.buf, REST)[0])

    @property
    def ident(self) -> int:
        return int(_U16.unpack_from(self.buf, IDENT)[0])

    @property
    def seq(self) -> int:
        return int(_U16.unpack_from(self.buf, SEQ)[0])

    @property
    def next_hop_mtu(self) -> int:
        return int(_U16.unpack_from(self.buf, NEXT_HOP_MTU)[0])

    @property
    def data(self) -> memoryview:
        return self.buf[DATA:]

    def verify_checksum(self) -> bool:
        return internet_checksum(self.buf) == 0


@dataclass(frozen=True, slots=True)
class Icmpv4Repr:
    """An ICMPv4 message: ``type``, ``code``, the 32-bit rest-of-header word and the data.

    After ``parse`` the data is a zero-copy memoryview into the received buffer.
    """

    type: int
    code: int
    rest: int = 0
    data: bytes | bytearray | memoryview = b""

    # --- constructors for what a host sends -----------------------------------------------------------

    @classmethod
    def echo_request(cls, ident: int, seq: int, payload: bytes | bytearray | memoryview = b"") -> Icmpv4Repr:
        return cls(ECHO_REQUEST, 0, (ident << 16) | seq, payload)

    @classmethod
    def echo_reply(cls, ident: int, seq: int, payload: bytes | bytearray | memoryview = b"") -> Icmpv4Repr:
        """RFC 792 / RFC 1122 §3.2.2.6: same identifier, sequence number and data as the request."""
        return cls(ECHO_REPLY, 0, (ident << 16) | seq, payload)

    @classmethod
    def dest_unreachable(
        cls, code: int, quoted: bytes | bytearray | memoryview, next_hop_mtu: int = 0
    ) -> Icmpv4Repr:
        """``quoted`` is the offending datagram's IP header + at least 8 bytes (RFC 1812 §4.3.2.3).

        ``next_hop_mtu`` goes in the low 16 bits for code 4 (RFC 1191 §4); the high 16 bits stay zero.
        """
        return cls(DEST_UNREACHABLE, code, next_hop_mtu & 0xFFFF, quoted)

    @classmethod
    def time_exceeded(cls, code: int, quoted: bytes | bytearray | memoryview) -> Icmpv4Repr:
        return cls(TIME_EXCEEDED, code, 0, quoted)

    # --- per-type fields ---------------------------------------------------------------------------------

    @property
    def ident(self) -> int:
        """Echo identifier (high 16 bits of the rest word)."""
        return self.rest >> 16

    @property
    def seq(self) -> int:
        """Echo sequence number (low 16 bits of the rest word)."""
        return self.rest & 0xFFFF

    @property
    def next_hop_mtu(self) -> int:
        """RFC 1191 §4: next-hop MTU of a "fragmentation needed" message (0 from pre-RFC 1191 routers)."""
        return self.rest & 0xFFFF

    @property
    def is_error(self) -> bool:
        """RFC 1122 §3.2.2: the error messages that quote a datagram."""
        return self.type in (DEST_UNREACHABLE, SOURCE_QUENCH, REDIRECT, TIME_EXCEEDED, PARAMETER_PROBLEM)

    def quoted(self) -> tuple[Ipv4Repr, memoryview]:
        """The quoted IP header and the first (up to) 8 bytes after it, for finding the connection.

        The quoted header is not checksum-verified and its total length may exceed what was quoted
        (RFC 1812 §4.3.2.3). Raises MalformedPacket when fewer than the header + 8 bytes are present
        (RFC 792 requires 64 bits of data) or the header is not IPv4.
        """
        mv = memoryview(self.data)
        n = len(mv)
        if n < 20:
            raise MalformedPacket("truncated", f"quoted datagram of {n} bytes")
        vi, tos, total, ident, ff, ttl, proto, _csum, src, dst = _QUOTED_IP.unpack_from(mv, 0)
        if vi >> 4 != 4:
            raise MalformedPacket("bad_version", f"quoted ip version {vi >> 4}")
        hl = (vi & 0x0F) * 4
        if hl < 20:
            raise MalformedPacket("bad_ihl", f"quoted ihl {hl // 4}")
        if n < hl + QUOTED_L4_LEN:
            raise MalformedPacket("truncated", f"quoted datagram of {n} bytes, header {hl}")
        if total < hl:
            raise MalformedPacket("bad_total_length", f"quoted total length {total}")
        ip = Ipv4Repr(
            src, dst, proto, total - hl, ttl, tos, ident, bool(ff & FLAG_DF), bool(ff & FLAG_MF),
            (ff & FRAG_OFFSET_MASK) * 8, bytes(mv[20:hl]),
        )
        return ip, mv[hl:hl + QUOTED_L4_LEN]

    # --- bytes -------------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview, verify_checksum: bool = True) -> Icmpv4Repr:
        """Parse a whole message (exactly the IPv4 payload); the checksum covers all of it."""
        mv = memoryview(buf)
        if len(mv) < HEADER_LEN:
            raise MalformedPacket("truncated", f"icmp message of {len(mv)} bytes")
        if verify_checksum and internet_checksum(mv) != 0:
            raise MalformedPacket("bad_checksum", "icmp")
        t, c, _csum, rest = _HDR.unpack_from(mv, 0)
        return cls(t, c, rest, mv[HEADER_LEN:])

    def buffer_len(self) -> int:
        return HEADER_LEN + len(self.data)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write the message with its checksum at ``buf[offset:]``."""
        n = HEADER_LEN + len(self.data)
        _HDR.pack_into(buf, offset, self.type, self.code, 0, self.rest)
        if self.data:
            buf[offset + HEADER_LEN:offset + n] = self.data
        csum = (~checksum_partial(memoryview(buf)[offset:offset + n])) & 0xFFFF
        _U16.pack_into(buf, offset + CHECKSUM, csum)

    def pretty(self, src_ip: int | None = None, dst_ip: int | None = None) -> str:
        """tcpdump style: ``IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 1, seq 2, length 64``."""
        head = "" if src_ip is None or dst_ip is None else f"IP {int_to_ip(src_ip)} > {int_to_ip(dst_ip)}: "
        return f"{head}ICMP {self._describe()}, length {self.buffer_len()}"

    def _describe(self) -> str:
        t = self.type
        if t == ECHO_REQUEST or t == ECHO_REPLY:
            word = "request" if t == ECHO_REQUEST else "reply"
            return f"echo {word}, id {self.ident}, seq {self.seq}"
        if t == TIME_EXCEEDED:
            return "time exceeded in-transit" if self.code == 0 else "ip reassembly time exceeded"
        if t != DEST_UNREACHABLE:
            return f"type {t}, code {self.code}"
        try:
            ip, l4 = self.quoted()
        except MalformedPacket:
            return f"unreachable, code {self.code}"
        dst = int_to_ip(ip.dst)
        if self.code == UNREACH_FRAG_NEEDED:
            return f"{dst} unreachable - need to frag (mtu {self.next_hop_mtu})"
        if self.code == UNREACH_PORT:
            proto = {PROTO_TCP: "tcp", PROTO_UDP: "udp"}.get(ip.protocol, f"proto-{ip.protocol}")
            port = (l4[2] << 8) | l4[3]
            return f"{dst} {proto} port {port} unreachable"
        text = _UNREACH_TEXT.get(self.code)
        if text is None:
            return f"{dst} unreachable - #{self.code}"
        return text.format(dst=dst, proto=ip.protocol)
