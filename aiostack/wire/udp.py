"""UDP datagrams.

Read first: RFC 768 (format, checksum over the IPv4 pseudo-header, an all-zero checksum meaning "none",
a computed zero sent as all ones), RFC 1122 §4.1.3.4 (a received checksum of zero is not checked),
RFC 1071 (checksum).

Layout (8 bytes)::

    | source port     | destination port|
    | length          | checksum        |
    | payload ...

``length`` covers header and payload. A buffer longer than ``length`` (padding) is trimmed to it; a
``length`` below 8 or beyond the buffer is ``bad_length``. For checksum offload,
``emit(..., partial_checksum=True)`` leaves the folded pseudo-header sum in the checksum field for the
device to complete (csum_offset = ``CHECKSUM``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from aiostack.errors import MalformedPacket
from aiostack.fastpath import checksum_partial, internet_checksum, pseudo_header_sum
from aiostack.wire.ipv4 import PROTO_UDP, int_to_ip

__all__ = ["SRC_PORT", "DST_PORT", "LENGTH", "CHECKSUM", "PAYLOAD", "HEADER_LEN", "UdpView", "UdpRepr"]

# Field offsets (RFC 768).
SRC_PORT = 0
DST_PORT = 2
LENGTH = 4
CHECKSUM = 6
PAYLOAD = 8
HEADER_LEN = 8

_HDR = struct.Struct("!HHHH")
_U16 = struct.Struct("!H")


class UdpView:
    """Zero-copy accessors over a UDP datagram (the IPv4 payload). Call ``check_len()`` first."""

    __slots__ = ("buf",)

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self.buf = memoryview(buf)

    def check_len(self) -> None:
        _check(self.buf)

    @property
    def src_port(self) -> int:
        return int(_U16.unpack_from(self.buf, SRC_PORT)[0])

    @property
    def dst_port(self) -> int:
        return int(_U16.unpack_from(self.buf, DST_PORT)[0])

    @property
    def length(self) -> int:
        return int(_U16.unpack_from(self.buf, LENGTH)[0])

    @property
    def checksum(self) -> int:
        return int(_U16.unpack_from(self.buf, CHECKSUM)[0])

    @property
    def payload(self) -> memoryview:
        return self.buf[PAYLOAD:self.length]

    def verify_checksum(self, src_ip: int, dst_ip: int) -> bool:
        """RFC 768 / RFC 1122 §4.1.3.4: true when the checksum is absent (0) or correct."""
        if self.checksum == 0:
            return True
        n = self.length
        return internet_checksum(self.buf[:n], pseudo_header_sum(src_ip, dst_ip, PROTO_UDP, n)) == 0


def _check(buf: memoryview) -> int:
    n = len(buf)
    if n < HEADER_LEN:
        raise MalformedPacket("truncated", f"udp datagram of {n} bytes")
    length = (buf[LENGTH] << 8) | buf[LENGTH + 1]
    if length < HEADER_LEN or length > n:
        raise MalformedPacket("bad_length", f"udp length {length} in {n} bytes")
    return length


@dataclass(frozen=True, slots=True)
class UdpRepr:
    """A UDP datagram in values; ``payload`` is a zero-copy memoryview after ``parse``.

    ``checksum_present`` tells whether the received datagram carried a checksum (non-zero field).
    """

    src_port: int
    dst_port: int
    payload: bytes | bytearray | memoryview = b""
    checksum_present: bool = True

    @classmethod
    def parse(
        cls, buf: bytes | bytearray | memoryview, src_ip: int, dst_ip: int, verify_checksum: bool = True
    ) -> UdpRepr:
        """Parse a datagram (the IPv4 payload); the checksum is verified unless absent or skipped."""
        mv = memoryview(buf)
        length = _check(mv)
        sp, dp, _len, csum = _HDR.unpack_from(mv, 0)
        # RFC 1122 §4.1.3.4: a zero checksum means the sender computed none.
        if verify_checksum and csum and internet_checksum(
            mv[:length], pseudo_header_sum(src_ip, dst_ip, PROTO_UDP, length)
        ):
            raise MalformedPacket("bad_checksum", "udp")
        return cls(sp, dp, mv[HEADER_LEN:length], csum != 0)

    def buffer_len(self) -> int:
        return HEADER_LEN + len(self.payload)

    def emit(
        self,
        buf: bytearray | memoryview,
        src_ip: int,
        dst_ip: int,
        offset: int = 0,
        *,
        partial_checksum: bool = False,
        no_checksum: bool = False,
    ) -> None:
        """Write the datagram at ``buf[offset:]``.

        The checksum is computed over the pseudo-header unless ``no_checksum`` (field 0, RFC 768) or
        ``partial_checksum`` (pseudo-header sum only, for the device to complete). Raises ValueError when
        the datagram would exceed 65535 bytes.
        """
        plen = len(self.payload)
        total = HEADER_LEN + plen
        if total > 0xFFFF:
            raise ValueError(f"udp datagram of {total} bytes exceeds 65535")
        _HDR.pack_into(buf, offset, self.src_port, self.dst_port, total, 0)
        if plen:
            buf[offset + HEADER_LEN:offset + total] = self.payload
        if no_checksum:
            return
        phs = pseudo_header_sum(src_ip, dst_ip, PROTO_UDP, total)
        if partial_checksum:
            csum = phs
        else:
            csum = (~checksum_partial(memoryview(buf)[offset:offset + total], phs)) & 0xFFFF
            # RFC 768: a computed zero is transmitted as all ones (zero means "no checksum").
            if csum == 0:
                csum = 0xFFFF
        _U16.pack_into(buf, offset + CHECKSUM, csum)

    def pretty(self, src_ip: int | None = None, dst_ip: int | None = None) -> str:
        """tcpdump style: ``IP 198.18.0.1.53 > 198.18.0.2.5000: UDP, length 12``."""
        if src_ip is None or dst_ip is None:
            head = f"{self.src_port} > {self.dst_port}"
        else:
            head = f"IP {int_to_ip(src_ip)}.{self.src_port} > {int_to_ip(dst_ip)}.{self.dst_port}"
        return f"{head}: UDP, length {len(self.payload)}"
