"""The virtio-net header and ``OffloadFrame``, the frame-with-offload-metadata type of core and link.

Read first: the virtio 1.x specification §5.1.6 "Device Operation" (struct virtio_net_hdr, the
NEEDS_CSUM / DATA_VALID flags and GSO types), Linux ``include/uapi/linux/virtio_net.h`` and
``Documentation/networking/tuntap.rst`` (IFF_VNET_HDR, TUNSETVNETHDRSZ, TUNSETOFFLOAD), and
``Documentation/networking/checksum-offloads.rst`` (CHECKSUM_PARTIAL: csum_start/csum_offset).

Layout (10 bytes; 12 with ``num_buffers`` when the TAP was set up with TUNSETVNETHDRSZ 12)::

    | flags u8 | gso_type u8 | hdr_len u16 | gso_size u16 | csum_start u16 | csum_offset u16 | [num_buffers u16]

The multi-byte fields are in the host's native byte order, which is what a TAP device uses unless
TUNSETVNETLE/TUNSETVNETBE said otherwise (little-endian on x86-64, also virtio 1.0's order).

Semantics, as the kernel applies them on a TAP device (both directions):

* ``flags & VIRTIO_NET_HDR_F_NEEDS_CSUM``: the frame carries a *partial* checksum. The bytes from
  ``csum_start`` (offset from the start of the Ethernet header) to the end must be summed (RFC 1071) and
  the complement stored at ``csum_start + csum_offset``; the field already holds the folded pseudo-header
  sum. For TCP/IPv4: ``csum_start`` = 14 + IP header length, ``csum_offset`` = 16 (UDP: 6). A receiver
  must not verify such a checksum (the data came from a local sender and is correct by construction).
* ``flags & VIRTIO_NET_HDR_F_DATA_VALID``: the checksum was already verified (receive side only).
* ``gso_type != GSO_NONE``: ``data`` is a super-frame (IP packet up to 64 KiB) with one set of headers;
  the device splits it into segments of ``gso_size`` payload bytes, fixing lengths, IDs, sequence numbers
  and checksums. ``hdr_len`` is the length of all headers (Ethernet + IP + TCP/UDP); GSO always comes with
  NEEDS_CSUM. ``GSO_ECN`` may be or-ed into ``gso_type`` when the super-frame has CWR set (RFC 3168).

``OffloadFrame`` carries ``data`` (a bytes-like frame starting at the Ethernet header, no vnet header)
plus the six header fields. A plain frame needs no ``OffloadFrame``: devices accept bare bytes too.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from aiostack.errors import MalformedPacket
from aiostack.fastpath import internet_checksum, pseudo_header_sum
from aiostack.wire import ethernet as _ethernet
from aiostack.wire import ipv4 as _ipv4
from aiostack.wire import tcp as _tcp
from aiostack.wire import udp as _udp
from aiostack.wire.checksum import complete_partial

__all__ = [
    "FLAGS", "GSO_TYPE", "HDR_LEN", "GSO_SIZE", "CSUM_START", "CSUM_OFFSET", "NUM_BUFFERS",
    "VNET_HDR_LEN", "VNET_HDR_MRG_LEN",
    "VIRTIO_NET_HDR_F_NEEDS_CSUM", "VIRTIO_NET_HDR_F_DATA_VALID", "NEEDS_CSUM", "DATA_VALID",
    "GSO_NONE", "GSO_TCPV4", "GSO_UDP", "GSO_TCPV6", "GSO_UDP_L4", "GSO_ECN",
    "VnetHeader", "OffloadFrame", "pack_vnet_header", "unpack_vnet_header", "complete_checksum", "segment_gso",
]

# Field offsets (struct virtio_net_hdr).
FLAGS = 0
GSO_TYPE = 1
HDR_LEN = 2
GSO_SIZE = 4
CSUM_START = 6
CSUM_OFFSET = 8
NUM_BUFFERS = 10  # only in the 12-byte struct virtio_net_hdr_mrg_rxbuf
VNET_HDR_LEN = 10
VNET_HDR_MRG_LEN = 12

# virtio 1.x §5.1.6: header flags.
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
VIRTIO_NET_HDR_F_DATA_VALID = 2
NEEDS_CSUM = VIRTIO_NET_HDR_F_NEEDS_CSUM
DATA_VALID = VIRTIO_NET_HDR_F_DATA_VALID

# virtio 1.x §5.1.6: GSO types (VIRTIO_NET_HDR_GSO_*).
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_UDP = 3  # UFO (IPv4 fragmentation offload), deprecated
GSO_TCPV6 = 4
GSO_UDP_L4 = 5  # USO (Linux 6.2+)
GSO_ECN = 0x80  # or-ed in: the TCP super-frame has CWR set

_KNOWN_GSO = frozenset({GSO_NONE, GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4})

_HDR = struct.Struct("=BBHHHH")
_U16_NATIVE = struct.Struct("=H")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

Buffer = bytes | bytearray | memoryview


class VnetHeader(NamedTuple):
    """``struct virtio_net_hdr`` in values (see the module docstring for the meaning of each field)."""

    flags: int = 0
    gso_type: int = GSO_NONE
    hdr_len: int = 0
    gso_size: int = 0
    csum_start: int = 0
    csum_offset: int = 0

    @classmethod
    def unpack(cls, buf: Buffer, offset: int = 0) -> VnetHeader:
        """Read the first 10 bytes at ``buf[offset:]`` (a 12-byte header's ``num_buffers`` is ignored)."""
        if len(buf) - offset < VNET_HDR_LEN:
            raise MalformedPacket("truncated", f"vnet header of {len(buf) - offset} bytes")
        return cls._make(_HDR.unpack_from(buf, offset))

    def pack_into(self, buf: bytearray | memoryview, offset: int = 0, header_len: int = VNET_HDR_LEN) -> None:
        """Write the header (``header_len`` 10, or 12 with ``num_buffers`` = 0) at ``buf[offset:]``."""
        _HDR.pack_into(buf, offset, *self)
        if header_len == VNET_HDR_MRG_LEN:
            _U16_NATIVE.pack_into(buf, offset + NUM_BUFFERS, 0)
        elif header_len != VNET_HDR_LEN:
            raise ValueError(f"vnet header length must be 10 or 12, not {header_len}")

    def pack(self, header_len: int = VNET_HDR_LEN) -> bytes:
        buf = bytearray(header_len)
        self.pack_into(buf, 0, header_len)
        return bytes(buf)


def pack_vnet_header(
    buf: bytearray | memoryview,
    offset: int,
    flags: int,
    gso_type: int,
    hdr_len: int,
    gso_size: int,
    csum_start: int,
    csum_offset: int,
) -> None:
    """Write a 10-byte virtio_net_hdr at ``buf[offset:]`` (hot-path form of ``VnetHeader.pack_into``)."""
    _HDR.pack_into(buf, offset, flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def unpack_vnet_header(buf: Buffer, offset: int = 0) -> tuple[int, int, int, int, int, int]:
    """(flags, gso_type, hdr_len, gso_size, csum_start, csum_offset) from ``buf[offset:]``."""
    if len(buf) - offset < VNET_HDR_LEN:
        raise MalformedPacket("truncated", f"vnet header of {len(buf) - offset} bytes")
    return _HDR.unpack_from(buf, offset)


class OffloadFrame(NamedTuple):
    """An Ethernet frame plus virtio-net offload metadata, as exchanged by core (Host) and link (Tap...).

    ``data`` is the frame from the destination MAC on (bytes, bytearray or memoryview; no vnet header, no
    FCS). The other fields are those of ``struct virtio_net_hdr``:

    * ``flags``: ``NEEDS_CSUM`` (checksum partial: complete it from ``csum_start``, store at
      ``csum_start + csum_offset``) and/or ``DATA_VALID`` (receive only: checksum already verified).
    * ``gso_type``/``gso_size``/``hdr_len``: a GSO super-frame to be cut into ``gso_size``-byte payloads
      (``hdr_len`` = Ethernet + IP + TCP header bytes); ``GSO_NONE`` for a single frame.

    Offsets are from the start of ``data`` (the Ethernet header). Sending side (core): TCP over IPv4 with
    checksum offload is ``OffloadFrame(frame, NEEDS_CSUM, csum_start=14 + ip_hl, csum_offset=16)``, and a
    TSO super-segment adds ``gso_type=GSO_TCPV4, gso_size=mss, hdr_len=14 + ip_hl + tcp_hl``. Receiving
    side (link -> core): verify checksums only when neither NEEDS_CSUM nor DATA_VALID is set; accept
    super-frames of up to 64 KiB (GRO) as one packet.

    A NamedTuple: cheap to create, immutable; ``len(frame)`` is the tuple's length, so use
    ``frame.frame_len`` for the byte count.
    """

    data: Buffer
    flags: int = 0
    gso_type: int = GSO_NONE
    gso_size: int = 0
    hdr_len: int = 0
    csum_start: int = 0
    csum_offset: int = 0

    @property
    def frame_len(self) -> int:
        return len(self.data)

    @property
    def needs_csum(self) -> bool:
        return bool(self.flags & NEEDS_CSUM)

    @property
    def data_valid(self) -> bool:
        return bool(self.flags & DATA_VALID)

    @property
    def checksum_trusted(self) -> bool:
        """True when the receiver must skip checksum verification (NEEDS_CSUM or DATA_VALID)."""
        return bool(self.flags & (NEEDS_CSUM | DATA_VALID))

    @property
    def is_gso(self) -> bool:
        return (self.gso_type & ~GSO_ECN) != GSO_NONE

    def header(self) -> VnetHeader:
        return VnetHeader(self.flags, self.gso_type, self.hdr_len, self.gso_size, self.csum_start, self.csum_offset)

    def pack_header_into(self, buf: bytearray | memoryview, offset: int = 0, header_len: int = VNET_HDR_LEN) -> None:
        """Write this frame's virtio_net_hdr (10 or 12 bytes) at ``buf[offset:]``."""
        self.header().pack_into(buf, offset, header_len)

    def to_bytes(self, header_len: int = VNET_HDR_LEN) -> bytes:
        """vnet header + frame, as written to a TAP device with IFF_VNET_HDR (one copy)."""
        out = bytearray(header_len + len(self.data))
        self.pack_header_into(out, 0, header_len)
        out[header_len:] = self.data
        return bytes(out)

    @classmethod
    def from_vnet(cls, buf: Buffer, header_len: int = VNET_HDR_LEN) -> OffloadFrame:
        """Split what a TAP read returned (vnet header + frame) without copying the frame.

        Raises MalformedPacket for a short buffer (``truncated``), an unknown GSO type (``bad_gso_type``),
        a GSO frame with ``gso_size`` 0 (``bad_gso_size``) or a checksum position outside the frame
        (``bad_csum_offset``).
        """
        mv = memoryview(buf)
        if len(mv) < header_len:
            raise MalformedPacket("truncated", f"vnet frame of {len(mv)} bytes")
        flags, gso_type, hdr_len, gso_size, csum_start, csum_offset = _HDR.unpack_from(mv, 0)
        data = mv[header_len:]
        if gso_type & ~GSO_ECN not in _KNOWN_GSO:
            raise MalformedPacket("bad_gso_type", f"gso type {gso_type}")
        if gso_type & ~GSO_ECN != GSO_NONE and gso_size == 0:
            raise MalformedPacket("bad_gso_size", "gso frame with gso_size 0")
        if flags & NEEDS_CSUM and csum_start + csum_offset + 2 > len(data):
            raise MalformedPacket("bad_csum_offset", f"csum at {csum_start}+{csum_offset} in {len(data)} bytes")
        return cls(data, flags, gso_type, gso_size, hdr_len, csum_start, csum_offset)


def complete_checksum(frame: OffloadFrame) -> bytearray:
    """Do in software what a NEEDS_CSUM device does: return a copy of ``frame.data`` with the checksum
    completed (RFC 1071 sum from ``csum_start`` to the end, field included, complemented, stored at
    ``csum_start + csum_offset``). A frame without NEEDS_CSUM is returned copied unchanged.

    A computed zero is stored as 0xFFFF, as Linux's skb_checksum_help does (CSUM_MANGLED_0; RFC 768 for
    UDP; harmless for TCP, where 0 and 0xFFFF are the same one's-complement number).
    """
    out = bytearray(frame.data)
    if frame.flags & NEEDS_CSUM:
        complete_partial(out, frame.csum_start, frame.csum_offset)
    return out


def segment_gso(frame: OffloadFrame) -> list[bytearray]:
    """Do in software what a GSO device does: cut a super-frame into wire frames with full checksums.

    Supports ``GSO_TCPV4`` (TSO; RFC 9293 §3.1, Linux ``tcp_gso_segment``) and ``GSO_UDP_L4`` (USO) over
    IPv4 in Ethernet II; ``GSO_NONE`` returns the one frame (its partial checksum completed). Each TCP
    segment carries ``gso_size`` payload bytes (the last one the rest) with the sequence number advanced,
    FIN and PSH only on the last segment and CWR only on the first (RFC 3168 §6.1.2; Linux clears it on
    the others); each IPv4 header gets its total length, identification + i (mod 2**16) and checksum.
    Header lengths are taken from the packet itself, not from ``hdr_len`` (a hint, as in Linux).

    Raises MalformedPacket when the frame is not what its GSO type says (``unsupported_gso`` for other
    types, ``truncated``/``bad_ihl``/``bad_data_offset``/... for broken headers).
    """
    gso = frame.gso_type & ~GSO_ECN
    data = memoryview(frame.data)
    if gso == GSO_NONE:
        return [complete_checksum(frame)]
    if gso not in (GSO_TCPV4, GSO_UDP_L4):
        raise MalformedPacket("unsupported_gso", f"gso type {frame.gso_type}")
    if frame.gso_size <= 0:
        raise MalformedPacket("bad_gso_size", "gso frame with gso_size 0")
    eth_len = _ethernet.HEADER_LEN
    if len(data) < eth_len or _U16.unpack_from(data, _ethernet.ETHERTYPE)[0] != _ethernet.ETHERTYPE_IPV4:
        raise MalformedPacket("unsupported_gso", "gso frame is not IPv4 over Ethernet")
    ip = _ipv4.Ipv4Repr.parse(data[eth_len:], verify_checksum=False)
    ip_hl = ip.header_len
    l4_off = eth_len + ip_hl
    l4 = data[l4_off:l4_off + ip.payload_len]
    want = _ipv4.PROTO_TCP if gso == GSO_TCPV4 else _ipv4.PROTO_UDP
    if ip.protocol != want:
        raise MalformedPacket("unsupported_gso", f"gso type {gso} with ip protocol {ip.protocol}")
    if gso == GSO_TCPV4:
        view = _tcp.TcpView(l4)
        view.check_len()
        l4_hl = view.header_len
    else:
        if len(l4) < _udp.HEADER_LEN:
            raise MalformedPacket("truncated", f"udp header of {len(l4)} bytes")
        l4_hl = _udp.HEADER_LEN
    hdrs = data[:l4_off + l4_hl]
    payload = l4[l4_hl:]
    size = frame.gso_size
    count = max(1, -(-len(payload) // size))
    out: list[bytearray] = []
    seq = int(_U32.unpack_from(l4, _tcp.SEQ)[0]) if gso == GSO_TCPV4 else 0
    flags = l4[_tcp.FLAGS] if gso == GSO_TCPV4 else 0
    for i in range(count):
        chunk = payload[i * size:(i + 1) * size]
        seg_len = l4_hl + len(chunk)
        buf = bytearray(len(hdrs) + len(chunk))
        buf[:len(hdrs)] = hdrs
        buf[len(hdrs):] = chunk
        # IPv4: total length, identification, header checksum (RFC 791 §3.1).
        _U16.pack_into(buf, eth_len + _ipv4.TOTAL_LEN, ip_hl + seg_len)
        _U16.pack_into(buf, eth_len + _ipv4.IDENT, (ip.ident + i) & 0xFFFF)
        _U16.pack_into(buf, eth_len + _ipv4.CHECKSUM, 0)
        _U16.pack_into(buf, eth_len + _ipv4.CHECKSUM, internet_checksum(memoryview(buf)[eth_len:l4_off]))
        if gso == GSO_TCPV4:
            _U32.pack_into(buf, l4_off + _tcp.SEQ, (seq + i * size) & 0xFFFFFFFF)
            f = flags
            if i < count - 1:
                f &= ~(_tcp.FIN | _tcp.PSH)
            if i > 0:
                f &= ~_tcp.CWR
            buf[l4_off + _tcp.FLAGS] = f
            field = l4_off + _tcp.CHECKSUM
        else:
            _U16.pack_into(buf, l4_off + _udp.LENGTH, seg_len)
            field = l4_off + _udp.CHECKSUM
        _U16.pack_into(buf, field, 0)
        csum = internet_checksum(memoryview(buf)[l4_off:], pseudo_header_sum(ip.src, ip.dst, ip.protocol, seg_len))
        # RFC 768: a computed zero is sent as all ones (same value for TCP in one's complement).
        _U16.pack_into(buf, field, csum or 0xFFFF)
        out.append(buf)
    return out
