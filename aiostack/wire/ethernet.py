"""Ethernet II frames (DIX), as carried on TAP devices and the in-memory links.

Read first: IEEE 802.3 clause 3 (MAC frame format; aiostack sees frames without preamble and FCS),
RFC 894 (IPv4 over Ethernet: EtherType 0x0800), RFC 826 (ARP: EtherType 0x0806).

Layout (14 bytes)::

    0      6      12     14
    | dst  | src  | type | payload ...

MAC addresses are 6-byte ``bytes`` everywhere in aiostack; ``mac_to_str``/``mac_from_str`` convert for
people. Frames shorter than 60 bytes are padded by senders; receivers ignore the padding (IPv4 trims by its
total length).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from aiostack.errors import MalformedPacket

__all__ = [
    "DST",
    "SRC",
    "ETHERTYPE",
    "PAYLOAD",
    "HEADER_LEN",
    "MIN_FRAME_LEN",
    "ETHERTYPE_IPV4",
    "ETHERTYPE_ARP",
    "ETHERTYPE_VLAN",
    "ETHERTYPE_IPV6",
    "BROADCAST",
    "ZERO_MAC",
    "EthernetView",
    "EthernetRepr",
    "mac_to_str",
    "mac_from_str",
    "ethertype_name",
]

# Field offsets (bytes from the start of the frame).
DST = 0
SRC = 6
ETHERTYPE = 12
PAYLOAD = 14
HEADER_LEN = 14
# IEEE 802.3 §4.4.2: minimum frame is 64 bytes including the 4-byte FCS, so 60 without it.
MIN_FRAME_LEN = 60

# EtherTypes (IEEE registry): RFC 894 IPv4, RFC 826 ARP, 802.1Q VLAN tag, RFC 8200/2464 IPv6.
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_IPV6 = 0x86DD

BROADCAST = b"\xff\xff\xff\xff\xff\xff"
ZERO_MAC = b"\x00\x00\x00\x00\x00\x00"

_HDR = struct.Struct("!6s6sH")
_U16 = struct.Struct("!H")

_ETHERTYPE_NAMES = {ETHERTYPE_IPV4: "IPv4", ETHERTYPE_ARP: "ARP", ETHERTYPE_VLAN: "802.1Q", ETHERTYPE_IPV6: "IPv6"}


def mac_to_str(mac: bytes | bytearray | memoryview) -> str:
    """``b"\\x02\\x00\\x00\\x00\\x00\\x01"`` -> ``"02:00:00:00:00:01"``."""
    return bytes(mac).hex(":")


def mac_from_str(text: str) -> bytes:
    """``"02:00:00:00:00:01"`` (or ``-`` separated) -> 6 bytes. Raises ValueError on anything else."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(1 <= len(p) <= 2 for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"not a MAC address: {text!r}") from None


def ethertype_name(ethertype: int) -> str:
    return _ETHERTYPE_NAMES.get(ethertype, "Unknown")


class EthernetView:
    """Zero-copy accessors over an Ethernet II frame. Call ``check_len()`` before reading fields."""

    __slots__ = ("buf",)

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self.buf = memoryview(buf)

    def check_len(self) -> None:
        if len(self.buf) < HEADER_LEN:
            raise MalformedPacket("truncated", f"ethernet frame of {len(self.buf)} bytes")

    @property
    def dst(self) -> bytes:
        return bytes(self.buf[DST:DST + 6])

    @property
    def src(self) -> bytes:
        return bytes(self.buf[SRC:SRC + 6])

    @property
    def ethertype(self) -> int:
        return int(_U16.unpack_from(self.buf, ETHERTYPE)[0])

    @property
    def payload(self) -> memoryview:
        return self.buf[PAYLOAD:]


@dataclass(frozen=True, slots=True)
class EthernetRepr:
    """The Ethernet II header: destination and source MAC (6-byte ``bytes``) and EtherType."""

    dst: bytes
    src: bytes
    ethertype: int

    @classmethod
    def parse(cls, buf: bytes | bytearray | memoryview) -> EthernetRepr:
        """Parse the header of ``buf``; the payload is ``buf[HEADER_LEN:]`` (see ``parse_frame``)."""
        if len(buf) < HEADER_LEN:
            raise MalformedPacket("truncated", f"ethernet frame of {len(buf)} bytes")
        dst, src, ethertype = _HDR.unpack_from(buf, 0)
        return cls(dst, src, ethertype)

    @staticmethod
    def parse_frame(buf: bytes | bytearray | memoryview) -> tuple[EthernetRepr, memoryview]:
        """Parse the header and return it with a zero-copy view of the payload."""
        mv = memoryview(buf)
        return EthernetRepr.parse(mv), mv[HEADER_LEN:]

    def buffer_len(self) -> int:
        return HEADER_LEN

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write the 14-byte header at ``buf[offset:]`` (the payload follows at ``offset + HEADER_LEN``)."""
        _HDR.pack_into(buf, offset, self.dst, self.src, self.ethertype)

    def pretty(self, length: int | None = None) -> str:
        """tcpdump ``-e`` style: ``02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42``."""
        s = f"{mac_to_str(self.src)} > {mac_to_str(self.dst)}, ethertype {ethertype_name(self.ethertype)} (0x{self.ethertype:04x})"
        return s if length is None else f"{s}, length {length}"
