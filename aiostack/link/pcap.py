"""``PcapWriter``: records every frame a device sends and receives to a classic pcap file.

Format: the libpcap "classic" file (https://wiki.wireshark.org/Development/LibpcapFileFormat, and
draft-ietf-opsawg-pcap): a 24-byte global header (magic 0xa1b2c3d4, version 2.4, microsecond
timestamps, snaplen, LINKTYPE_ETHERNET = 1), then per record a 16-byte header (ts_sec, ts_usec,
incl_len, orig_len) and the frame bytes. Written little-endian (the magic tells readers the order).

An ``OffloadFrame`` is written as its plain Ethernet frame (the virtio-net header is metadata, not wire
bytes); a GSO super-frame is recorded as one large frame, as tcpdump on a TAP shows it.

Records are buffered and written when the buffer passes ``buffer_bytes``, on ``flush()`` and on
``close()``. Timestamps come from ``clock`` (``now_us``; e.g. a Netsim's virtual time) or the wall clock.
The writer works standalone too: ``PcapWriter.open(path)`` then ``write(frame, now_us)``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO

from aiostack.link.base import Device, Frame, frame_data
from aiostack.link.middleware import Middleware

PCAP_MAGIC_US = 0xA1B2C3D4  # microsecond-resolution timestamps
PCAP_VERSION = (2, 4)
LINKTYPE_ETHERNET = 1  # https://www.tcpdump.org/linktypes.html
DEFAULT_SNAPLEN = 262144  # tcpdump's default; holds a 64 KiB GSO super-frame whole
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


def _wall_clock_us() -> int:
    return time.time_ns() // 1000


class PcapFile:
    """A classic pcap file being written (no device; see ``PcapWriter`` for the middleware)."""

    def __init__(
        self,
        file: BinaryIO,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        buffer_bytes: int = 1 << 20,
        close_file: bool = True,
    ) -> None:
        self._file: BinaryIO | None = file
        self.snaplen = snaplen
        self.buffer_bytes = buffer_bytes
        self._close_file = close_file
        self._buf = bytearray(_GLOBAL.pack(PCAP_MAGIC_US, *PCAP_VERSION, 0, 0, snaplen, LINKTYPE_ETHERNET))
        self.records = 0

    @classmethod
    def open(cls, path: str, *, snaplen: int = DEFAULT_SNAPLEN, buffer_bytes: int = 1 << 20) -> PcapFile:
        return cls(open(path, "wb"), snaplen=snaplen, buffer_bytes=buffer_bytes)  # noqa: SIM115

    def write(self, frame: Frame, now_us: int) -> None:
        if self._file is None:
            raise ValueError("write to a closed pcap file")
        data = frame_data(frame)
        n = data.nbytes if isinstance(data, memoryview) else len(data)
        incl = min(n, self.snaplen)
        buf = self._buf
        buf += _RECORD.pack(now_us // 1_000_000, now_us % 1_000_000, incl, n)
        buf += data if incl == n else data[:incl]
        self.records += 1
        if len(buf) >= self.buffer_bytes:
            self.flush()

    def flush(self) -> None:
        if self._file is not None and self._buf:
            self._file.write(self._buf)
            self._file.flush()
            self._buf = bytearray()

    def close(self) -> None:
        if self._file is None:
            return
        self.flush()
        if self._close_file:
            self._file.close()
        self._file = None


class PcapWriter(Middleware):
    """Wraps a device and records both directions to ``path`` (or an open binary ``file``)."""

    def __init__(
        self,
        inner: Device,
        path: str | None = None,
        *,
        file: BinaryIO | None = None,
        clock: Callable[[], int] | None = None,
        snaplen: int = DEFAULT_SNAPLEN,
        buffer_bytes: int = 1 << 20,
        rx: bool = True,
        tx: bool = True,
    ) -> None:
        super().__init__(inner)
        if (path is None) == (file is None):
            raise ValueError("give exactly one of path or file")
        if file is None:
            assert path is not None
            self.pcap = PcapFile(open(path, "wb"), snaplen=snaplen, buffer_bytes=buffer_bytes)  # noqa: SIM115
        else:
            self.pcap = PcapFile(file, snaplen=snaplen, buffer_bytes=buffer_bytes, close_file=False)
        self._clock = clock or _wall_clock_us
        self._rx = rx
        self._tx = tx

    def receive_batch(self, max_frames: int) -> list[Frame]:
        frames = self.inner.receive_batch(max_frames)
        if frames and self._rx:
            now = self._clock()
            w = self.pcap.write
            for f in frames:
                w(f, now)
        return frames

    def send_batch(self, frames: Sequence[Frame]) -> None:
        if frames and self._tx:
            now = self._clock()
            w = self.pcap.write
            for f in frames:
                w(f, now)
        self.inner.send_batch(frames)

    def flush(self) -> None:
        self.pcap.flush()

    def close(self) -> None:
        try:
            self.pcap.close()
        finally:
            super().close()
