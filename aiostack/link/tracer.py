"""``Tracer``: one tcpdump-like line per frame sent or received through a device.

Line format: ``<seconds.micro> <dir> <summary>`` where ``dir`` is ``>`` (sent) or ``<`` (received) and
the summary comes from ``aiostack.wire.pretty`` when it offers a frame formatter, else from a small
built-in decoder of Ethernet, ARP, IPv4, ICMP, UDP and TCP headers (RFC 826, 791, 792, 768, 9293) that
never raises: a header it cannot read is shown as ``truncated``.
"""

from __future__ import annotations

import importlib
import struct
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO, cast

from aiostack.link.base import Device, Frame, frame_data, is_offload
from aiostack.link.middleware import Middleware

_TCP_FLAGS = "FSRPAUEC"  # FIN SYN RST PSH ACK URG ECE CWR, RFC 9293 §3.1 / RFC 3168 bit order
_TCPDUMP_FLAGS = {"F": "F", "S": "S", "R": "R", "P": "P", "A": ".", "U": "U", "E": "E", "C": "W"}


def _mac(b: bytes | memoryview) -> str:
    return ":".join(f"{x:02x}" for x in bytes(b))


def _ip(b: bytes | memoryview) -> str:
    return ".".join(str(x) for x in bytes(b))


def summarize(frame: bytes | bytearray | memoryview) -> str:
    """A tcpdump-like one-line summary of an Ethernet frame (built-in decoder; never raises)."""
    mv = memoryview(frame)
    n = mv.nbytes
    if n < 14:
        return f"truncated ethernet, length {n}"
    etype = (mv[12] << 8) | mv[13]
    l2 = f"{_mac(mv[6:12])} > {_mac(mv[0:6])}"
    if etype == 0x0806:  # RFC 826 ARP
        if n < 42:
            return f"{l2}, ARP, truncated, length {n}"
        op = (mv[20] << 8) | mv[21]
        if op == 1:
            return f"{l2}, ARP, Request who-has {_ip(mv[38:42])} tell {_ip(mv[28:32])}, length {n}"
        if op == 2:
            return f"{l2}, ARP, Reply {_ip(mv[28:32])} is-at {_mac(mv[22:28])}, length {n}"
        return f"{l2}, ARP, op {op}, length {n}"
    if etype != 0x0800:
        return f"{l2}, ethertype 0x{etype:04x}, length {n}"
    ip = mv[14:]
    if ip.nbytes < 20 or ip[0] >> 4 != 4:
        return f"{l2}, IPv4, truncated or bad version, length {n}"
    ihl = (ip[0] & 0x0F) * 4
    total = (ip[2] << 8) | ip[3]
    frag = ((ip[6] << 8) | ip[7])
    proto = ip[9]
    src, dst = _ip(ip[12:16]), _ip(ip[16:20])
    ttl = ip[8]
    l4 = ip[ihl:total] if ihl >= 20 and total <= ip.nbytes else ip[ihl:]
    head = f"IP (ttl {ttl}, length {total})"
    if frag & 0x1FFF:  # a non-first fragment carries no transport header (RFC 791)
        return f"{head} {src} > {dst}: frag offset {(frag & 0x1FFF) * 8}"
    if proto == 6:  # TCP, RFC 9293 §3.1
        if l4.nbytes < 20:
            return f"{head} {src} > {dst}: tcp truncated"
        sport, dport, seq, ack, off, flags, win = struct.unpack_from("!HHIIBBH", l4)
        doff = (off >> 4) * 4
        fl = "".join(_TCPDUMP_FLAGS[c] for i, c in enumerate(_TCP_FLAGS) if flags & (1 << i)) or "none"
        plen = max(0, l4.nbytes - doff)
        s = f"{head} {src}.{sport} > {dst}.{dport}: Flags [{fl}], seq {seq}"
        if flags & 0x10:
            s += f", ack {ack}"
        return s + f", win {win}, length {plen}"
    if proto == 17:  # UDP, RFC 768
        if l4.nbytes < 8:
            return f"{head} {src} > {dst}: udp truncated"
        sport, dport, ulen = struct.unpack_from("!HHH", l4)
        return f"{head} {src}.{sport} > {dst}.{dport}: UDP, length {max(0, ulen - 8)}"
    if proto == 1:  # ICMP, RFC 792
        if l4.nbytes < 4:
            return f"{head} {src} > {dst}: ICMP truncated"
        typ, code = l4[0], l4[1]
        names = {0: "echo reply", 8: "echo request", 3: "unreachable", 11: "time exceeded"}
        what = names.get(typ, f"type {typ}")
        if typ in (0, 8) and l4.nbytes >= 8:
            ident, seqn = struct.unpack_from("!HH", l4, 4)
            what += f", id {ident}, seq {seqn}"
        elif typ == 3:
            what += f", code {code}"
        return f"{head} {src} > {dst}: ICMP {what}, length {l4.nbytes}"
    return f"{head} {src} > {dst}: ip-proto-{proto}"


def _default_formatter() -> Callable[[bytes | bytearray | memoryview], str]:
    """``aiostack.wire.pretty``'s frame formatter when the wire layer has one, else ``summarize``."""
    try:
        pretty = importlib.import_module("aiostack.wire.pretty")
    except ImportError:
        return summarize
    for name in ("pretty_frame", "frame_summary", "format_frame", "summarize_frame"):
        fn = getattr(pretty, name, None)
        if callable(fn):
            return cast(Callable[[bytes | bytearray | memoryview], str], fn)
    return summarize


class Tracer(Middleware):
    """Wraps a device and writes one line per frame to ``out`` (default stderr) or to ``sink``."""

    def __init__(
        self,
        inner: Device,
        out: TextIO | None = None,
        *,
        sink: Callable[[str], None] | None = None,
        clock: Callable[[], int] | None = None,
        formatter: Callable[[bytes | bytearray | memoryview], str] | None = None,
    ) -> None:
        super().__init__(inner)
        if sink is None:
            stream = out if out is not None else sys.stderr

            def sink(line: str) -> None:
                stream.write(line + "\n")

        self._sink = sink
        self._clock = clock or (lambda: time.time_ns() // 1000)
        self._fmt = formatter or _default_formatter()

    def _line(self, direction: str, f: Frame, now: int) -> str:
        try:
            text = self._fmt(frame_data(f))
        except Exception as exc:  # a formatter must never break the data path
            text = f"undecodable frame ({exc.__class__.__name__})"
        if is_offload(f):
            # virtio-net metadata: checksum flags, GSO type and segment size (like tcpdump's "gso" hints)
            text += f" [vnet flags {getattr(f, 'flags', 0)} gso {getattr(f, 'gso_type', 0)}/{getattr(f, 'gso_size', 0)}]"
        return f"{now // 1_000_000}.{now % 1_000_000:06d} {direction} {text}"

    def receive_batch(self, max_frames: int) -> list[Frame]:
        frames = self.inner.receive_batch(max_frames)
        if frames:
            now = self._clock()
            for f in frames:
                self._sink(self._line("<", f, now))
        return frames

    def send_batch(self, frames: Sequence[Frame]) -> None:
        if frames:
            now = self._clock()
            for f in frames:
                self._sink(self._line(">", f, now))
        self.inner.send_batch(frames)
