"""The TAP offload path's virtio-net header codec, over ``aiostack.wire.vnet``.

Read first: virtio 1.2 §5.1.6 (``struct virtio_net_hdr``: flags, gso_type, hdr_len, gso_size,
csum_start, csum_offset[, num_buffers]; little-endian for a modern device, which is what tun uses on a
little-endian host, see TUNSETVNETLE in include/uapi/linux/if_tun.h).

Received: a frame whose header has no flags and no GSO type is handed up as a plain ``memoryview`` of the
Ethernet frame (nothing to do for it); anything else becomes an ``OffloadFrame`` (partial checksum to
trust or complete, and/or a GSO super-frame). Sent: a plain frame gets an all-zero header, an
``OffloadFrame`` its own header. Both directions avoid copying the frame: the header is a separate
buffer in ``os.writev``, and received frames are views into the bytes the kernel wrote.
"""

from __future__ import annotations

from typing import Any

from aiostack.errors import MalformedPacket
from aiostack.link.base import Frame
from aiostack.wire import vnet

ETH_HLEN = 14


class Codec:
    """Decode/encode frames for a TAP opened with IFF_VNET_HDR and header size ``hdr_len``."""

    __slots__ = ("hdr_len", "zero", "_buf")

    def __init__(self, hdr_len: int) -> None:
        if hdr_len not in (10, 12):
            raise ValueError("virtio_net_hdr is 10 or 12 bytes")
        self.hdr_len = hdr_len
        self.zero = bytes(hdr_len)
        self._buf = bytearray(hdr_len)  # num_buffers (bytes 10-11) stays 0: one buffer per frame on write

    def decode(self, data: bytes) -> Frame | None:
        """One read from the TAP -> a plain frame view, an ``OffloadFrame``, or None if malformed."""
        h = self.hdr_len
        if len(data) < h + ETH_HLEN:
            return None
        if not data[0] and not data[1]:  # flags == 0, gso_type == VIRTIO_NET_HDR_GSO_NONE
            return memoryview(data)[h:]
        try:
            return vnet.OffloadFrame.from_vnet(data, h)
        except MalformedPacket:  # bad GSO type/size or checksum position: the caller counts it
            return None

    def encode(self, f: Frame) -> tuple[Any, Any]:
        """The buffers ``os.writev`` writes for one frame: (virtio_net_hdr, Ethernet frame).

        The header buffer is reused for every frame: ``os.writev`` has consumed it when it returns.
        """
        if isinstance(f, (bytes, bytearray, memoryview)):
            return (self.zero, f)
        buf = self._buf
        vnet.pack_vnet_header(buf, 0, f.flags, f.gso_type, f.hdr_len, f.gso_size, f.csum_start, f.csum_offset)
        return (buf, f.data)
