"""UDP endpoints: bind, connect, a bounded datagram queue, ICMP errors delivered to the endpoint.

Read first: RFC 768 (header, checksum with the pseudo-header; a computed 0 is sent as 0xFFFF, a received
0 means "no checksum"), RFC 1122 §4.1.3.3-4.1.3.6 (ICMP errors passed to the application; checksum
checking), RFC 8085 §3.1 (receivers bound their queues).
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from typing import Any, NamedTuple

from aiostack.fastpath import checksum_partial, pseudo_header_sum

UDP_HEADER_LEN = 8
PROTO_UDP = 17
_UDP = struct.Struct("!HHHH")


class UdpDatagram(NamedTuple):
    data: bytes
    src_ip: int
    src_port: int


class UdpError(NamedTuple):
    """An ICMP error that quoted a datagram this endpoint sent (RFC 1122 §4.1.3.3)."""

    errno: int
    kind: str
    remote_ip: int
    remote_port: int

    def exception(self) -> OSError:
        if self.errno == errno.ECONNREFUSED:
            return ConnectionRefusedError(self.errno, "connection refused (ICMP port unreachable)")
        return OSError(self.errno, f"ICMP {self.kind.replace('_', ' ')}")


def build_udp(src: int, dst: int, sport: int, dport: int, data: bytes | bytearray | memoryview) -> bytearray:
    """A UDP packet with its RFC 768 checksum."""
    n = UDP_HEADER_LEN + len(data)
    pkt = bytearray(UDP_HEADER_LEN)
    _UDP.pack_into(pkt, 0, sport, dport, n, 0)
    pkt += data
    csum = ~checksum_partial(pkt, pseudo_header_sum(src, dst, PROTO_UDP, n)) & 0xFFFF
    _UDP.pack_into(pkt, 0, sport, dport, n, csum or 0xFFFF)  # RFC 768: a zero result is sent as all ones
    return pkt


class UdpEndpoint:
    """A bound UDP endpoint. The host delivers datagrams and errors; the owner drains ``next_event()``.

    ``local_ip`` 0 means any local address. Connected endpoints (``connect``) accept datagrams only from
    their peer and may ``send`` without an address.
    """

    __slots__ = ("host", "local_ip", "local_port", "remote_ip", "remote_port", "queue_limit_bytes",
                 "queue_bytes", "events", "closed", "datagrams_received", "datagrams_sent", "drops",
                 "__weakref__")

    def __init__(self, host: Any, local_ip: int, local_port: int, queue_limit_bytes: int) -> None:
        self.host = host
        self.local_ip = local_ip
        self.local_port = local_port
        self.remote_ip = 0
        self.remote_port = 0
        self.queue_limit_bytes = queue_limit_bytes
        self.queue_bytes = 0
        self.events: deque[UdpDatagram | UdpError] = deque()
        self.closed = False
        self.datagrams_received = 0
        self.datagrams_sent = 0
        self.drops = 0

    @property
    def connected(self) -> bool:
        return self.remote_port != 0

    def connect(self, remote_ip: int, remote_port: int) -> None:
        if self.closed:
            raise OSError(errno.EBADF, "endpoint is closed")
        if not 0 < remote_port <= 65535:
            raise ValueError(f"bad port {remote_port}")
        self.remote_ip = remote_ip
        self.remote_port = remote_port

    def sendto(self, data: bytes | bytearray | memoryview, remote_ip: int | None = None,
               remote_port: int | None = None, *, now_us: int) -> None:
        """Send one datagram; raises OSError for local errors (no route, too big with DF, closed)."""
        if self.closed:
            raise OSError(errno.EBADF, "endpoint is closed")
        if remote_ip is None or remote_port is None:
            if not self.connected:
                raise OSError(errno.EDESTADDRREQ, "destination address required")
            remote_ip, remote_port = self.remote_ip, self.remote_port
        if not 0 < remote_port <= 65535:
            raise ValueError(f"bad port {remote_port}")
        self.host._udp_output(self, data, remote_ip, remote_port, now_us)
        self.datagrams_sent += 1

    def send(self, data: bytes | bytearray | memoryview, *, now_us: int) -> None:
        self.sendto(data, now_us=now_us)

    def _deliver(self, data: bytes, src_ip: int, src_port: int) -> bool:
        """Queue a datagram; False (and nothing queued) when the byte limit would be exceeded."""
        n = len(data)
        if self.queue_bytes + n > self.queue_limit_bytes:
            self.drops += 1
            return False
        self.queue_bytes += n
        self.events.append(UdpDatagram(data, src_ip, src_port))
        self.datagrams_received += 1
        return True

    def _error(self, err: UdpError) -> None:
        if len(self.events) < 4096:
            self.events.append(err)

    def next_event(self) -> UdpDatagram | UdpError | None:
        if not self.events:
            return None
        ev = self.events.popleft()
        if isinstance(ev, UdpDatagram):
            self.queue_bytes -= len(ev.data)
        return ev

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.host.release(self)

    def sockname(self) -> tuple[int, int]:
        return self.local_ip, self.local_port

    def __repr__(self) -> str:
        return f"UdpEndpoint({self.local_ip:#x}:{self.local_port} -> {self.remote_ip:#x}:{self.remote_port})"
