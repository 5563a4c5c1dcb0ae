"""ARP for IPv4 over Ethernet.

Read first: RFC 826 (packet format and the receive algorithm), RFC 5227 §2.1.1 (ARP probes: sender IP
0.0.0.0) and §3 (announcements: sender IP == target IP), RFC 1122 §2.3.2.1 (cache and flooding rules).

Layout (28 bytes; Ethernet frames carry it padded to 60)::

    | htype=1         | ptype=0x0800    |
    | hlen=6 | plen=4 | operation       |
    | sender MAC (6)  ...
    | sender IP (4)   | target MAC (6) ...
    | target IP (4)                     |

Only hardware type Ethernet with protocol IPv4 is supported; anything else is
``MalformedPacket("unsupported")`` (RFC 826: "?Do I have the hardware type in ar$hrd?" - if not, drop).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from aiostack.errors import MalformedPacket
from aiostack.wire.ethernet import ETHERTYPE_IPV4, mac_to_str
from aiostack.wire.ipv4 import int_to_ip

__all__ = [
    "HTYPE", "PTYPE", "HLEN", "PLEN", "OPER", "SHA", "SPA", "THA", "TPA", "PACKET_LEN",
    "HTYPE_ETHERNET", "OP_REQUEST", "OP_REPLY", "ArpView", "ArpRepr",
]

# Field offsets (RFC 826 "Packet format").
HTYPE = 0
PTYPE = 2
HLEN = 4
PLEN = 5
OPER = 6
SHA = 8
SPA = 14
THA = 18
TPA = 24
PACKET_LEN = 28

HTYPE_ETHERNET = 1  # RFC 826 ares_hrd$Ethernet
OP_REQUEST = 1  # RFC 826 ares_op$REQUEST
OP_REPLY = 2  # RFC 826 ares_op$REPLY

_PKT = struct.Struct("!HHBBH6sI6sI")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class ArpView:
    """Zero-copy accessors over an ARP packet (the Ethernet payload). Call ``check_len()`` first."""

    __slots__ = ("buf",)

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self.buf = memoryview(buf)

    def check_len(self) -> None:
        if len(self.buf) < PACKET_LEN:
            raise MalformedPacket("truncated", f"arp packet of {len(self.buf)} bytes")

    @property
    def htype(self) -> int:
        return int(_U16.unpack_from(self.buf, HTYPE)[0])

    @property
    def ptype(self) -> int:
        return int(_U16.unpack_from(self.buf, PTYPE)[0])

    @property
    def hlen(self) -> int:
        return self.buf[HLEN]

    @property
    def plen(self) -> int:
        return self.buf[PLEN]

    @property
    def operation(self) -> int:
        return int(_U16.unpack_from(self.buf, OPER)[0])

    @property
    def sender_mac(self) -> bytes:
        return bytes(self.buf[SHA:SHA + 6])

    @property
    def sender_ip(self) -> int:
        return int(_U32.unpack_from(self.buf, SPA)[0])

    @property
    def target_mac(self) -> bytes:
        return bytes(self.buf[THA:THA + 6])

    @property
    def target_ip(self) -> int:
        return int(_U32.unpack_from(self.buf, TPA)[0])


@dataclass(frozen=True, slots=True)
class ArpRepr:
    """An Ethernet/IPv4 ARP packet: operation, sender and target MAC (bytes) and IPv4 (int)."""

    operation: int
    sender_mac: bytes
    sender_ip: int
    target_mac: bytes
    target_ip: int

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview) -> ArpRepr:
        """Parse an ARP packet; trailing bytes (Ethernet padding) are ignored."""
        if len(buf) < PACKET_LEN:
            raise MalformedPacket("truncated", f"arp packet of {len(buf)} bytes")
        htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _PKT.unpack_from(buf, 0)
        if htype != HTYPE_ETHERNET or ptype != ETHERTYPE_IPV4 or hlen != 6 or plen != 4:
            raise MalformedPacket("unsupported", f"arp htype {htype} ptype 0x{ptype:04x} hlen {hlen} plen {plen}")
        return cls(op, sha, spa, tha, tpa)

    @classmethod
    def request(cls, sender_mac: bytes, sender_ip: int, target_ip: int) -> ArpRepr:
        """A who-has request (target MAC zero, RFC 826); broadcast it."""
        return cls(OP_REQUEST, sender_mac, sender_ip, b"\x00" * 6, target_ip)

    def reply_from(self, my_mac: bytes) -> ArpRepr:
        """RFC 826: the reply to this request: swap sender and target, fill in our MAC."""
        return ArpRepr(OP_REPLY, my_mac, self.target_ip, self.sender_mac, self.sender_ip)

    def buffer_len(self) -> int:
        return PACKET_LEN

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        _PKT.pack_into(
            buf, offset, HTYPE_ETHERNET, ETHERTYPE_IPV4, 6, 4, self.operation,
            self.sender_mac, self.sender_ip, self.target_mac, self.target_ip,
        )

    def pretty(self) -> str:
        """tcpdump style: ``ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28``."""
        if self.operation == OP_REQUEST:
            return f"ARP, Request who-has {int_to_ip(self.target_ip)} tell {int_to_ip(self.sender_ip)}, length 28"
        if self.operation == OP_REPLY:
            return f"ARP, Reply {int_to_ip(self.sender_ip)} is-at {mac_to_str(self.sender_mac)}, length 28"
        return (
            f"ARP, Unknown operation ({self.operation}) {int_to_ip(self.sender_ip)} "
            f"{mac_to_str(self.sender_mac)} > {int_to_ip(self.target_ip)}, length 28"
        )
