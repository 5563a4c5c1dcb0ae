"""Checksum helpers shared by the wire modules (thin wrappers over ``aiostack.fastpath``).

Read first: RFC 1071 (the internet checksum), RFC 1624 (incremental update), RFC 9293 §3.1 and RFC 768
(the IPv4 pseudo-header of TCP and UDP).

Vocabulary used across aiostack:

* a *partial sum* is the folded one's-complement sum, not complemented (``checksum_partial``);
* a *checksum* is the complement of the folded sum over the data with its checksum field zeroed
  (``internet_checksum``); data that carries a correct checksum sums to 0xFFFF, so ``internet_checksum``
  over it is 0;
* a *partial checksum* (virtio NEEDS_CSUM, Linux CHECKSUM_PARTIAL) is a checksum field holding only the
  folded pseudo-header sum, for a device (or ``complete_partial``) to finish.
"""

from __future__ import annotations

import struct

from aiostack.fastpath import (
    checksum_fold,
    checksum_partial,
    checksum_update16,
    internet_checksum,
    pseudo_header_sum,
)

__all__ = [
    "checksum_fold",
    "checksum_partial",
    "checksum_update16",
    "internet_checksum",
    "pseudo_header_sum",
    "transport_checksum",
    "verify_transport_checksum",
    "complete_partial",
]

_U16 = struct.Struct("!H")


def transport_checksum(segment: bytes | bytearray | memoryview, src_ip: int, dst_ip: int, protocol: int) -> int:
    """The TCP/UDP checksum of ``segment`` (its checksum field zeroed) over the IPv4 pseudo-header."""
    return internet_checksum(segment, pseudo_header_sum(src_ip, dst_ip, protocol, len(segment)))


def verify_transport_checksum(
    segment: bytes | bytearray | memoryview, src_ip: int, dst_ip: int, protocol: int
) -> bool:
    """True when ``segment`` (checksum field included) is consistent with the pseudo-header."""
    return internet_checksum(segment, pseudo_header_sum(src_ip, dst_ip, protocol, len(segment))) == 0


def complete_partial(buf: bytearray | memoryview, csum_start: int, csum_offset: int) -> None:
    """Finish a partial checksum in place: sum ``buf[csum_start:]`` (field included), store the
    complement at ``csum_start + csum_offset``; a computed 0 is stored as 0xFFFF (Linux CSUM_MANGLED_0,
    RFC 768). Raises ValueError when the field lies outside ``buf``.
    """
    pos = csum_start + csum_offset
    if csum_start < 0 or csum_offset < 0 or pos + 2 > len(buf):
        raise ValueError(f"checksum position {csum_start}+{csum_offset} outside {len(buf)} bytes")
    csum = (~checksum_partial(memoryview(buf)[csum_start:])) & 0xFFFF
    _U16.pack_into(buf, pos, csum or 0xFFFF)
