"""ICMP for a host: echo responder, rate-limited error generation, received errors mapped to endpoints.

Read first: RFC 792 (message formats), RFC 1122 §3.2.2 (host requirements: never answer an ICMP error,
a broadcast or a non-first fragment with an error; §3.2.2.6 echo; §3.2.2.1 destination unreachable
codes, soft vs hard errors), RFC 1812 §4.3.2.8 (rate limiting generated errors), RFC 1191 §4 (the
next-hop MTU in "fragmentation needed" and the plateau table for routers that leave it 0),
RFC 5927 (ICMP attacks against TCP: check the quoted 4-tuple and sequence number), RFC 4884 (quote length).
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from typing import Any, NamedTuple

from aiostack.fastpath import checksum_update16, internet_checksum

# RFC 792 types and codes.
ECHO_REPLY = 0
DEST_UNREACH = 3
SOURCE_QUENCH = 4
REDIRECT = 5
ECHO_REQUEST = 8
TIME_EXCEEDED = 11
PARAM_PROBLEM = 12
UNREACH_NET = 0
UNREACH_HOST = 1
UNREACH_PROTOCOL = 2
UNREACH_PORT = 3
UNREACH_FRAG_NEEDED = 4
UNREACH_SOURCE_ROUTE = 5
TIME_EXCEEDED_TTL = 0
TIME_EXCEEDED_REASSEMBLY = 1

# Error kinds handed to endpoints (TcpConnection.on_icmp_error(kind, mtu), UdpEndpoint errors).
KIND_NET_UNREACHABLE = "net_unreachable"
KIND_HOST_UNREACHABLE = "host_unreachable"
KIND_PROTOCOL_UNREACHABLE = "protocol_unreachable"
KIND_PORT_UNREACHABLE = "port_unreachable"
KIND_FRAG_NEEDED = "frag_needed"
KIND_SOURCE_ROUTE_FAILED = "source_route_failed"
KIND_ADMIN_PROHIBITED = "admin_prohibited"
KIND_TIME_EXCEEDED = "ttl_exceeded"
KIND_PARAM_PROBLEM = "parameter_problem"

# RFC 1122 §3.2.2.1 / Linux icmp_err_convert: the errno an application sees for each kind.
KIND_ERRNO = {
    KIND_NET_UNREACHABLE: errno.ENETUNREACH,
    KIND_HOST_UNREACHABLE: errno.EHOSTUNREACH,
    KIND_PROTOCOL_UNREACHABLE: errno.ENOPROTOOPT,
    KIND_PORT_UNREACHABLE: errno.ECONNREFUSED,
    KIND_FRAG_NEEDED: errno.EMSGSIZE,
    KIND_SOURCE_ROUTE_FAILED: errno.EOPNOTSUPP,
    KIND_ADMIN_PROHIBITED: errno.EACCES,
    KIND_TIME_EXCEEDED: errno.EHOSTUNREACH,
    KIND_PARAM_PROBLEM: errno.EPROTO,
}

_UNREACH_KIND = {
    UNREACH_NET: KIND_NET_UNREACHABLE, UNREACH_HOST: KIND_HOST_UNREACHABLE,
    UNREACH_PROTOCOL: KIND_PROTOCOL_UNREACHABLE, UNREACH_PORT: KIND_PORT_UNREACHABLE,
    UNREACH_FRAG_NEEDED: KIND_FRAG_NEEDED, UNREACH_SOURCE_ROUTE: KIND_SOURCE_ROUTE_FAILED,
    6: KIND_NET_UNREACHABLE, 7: KIND_HOST_UNREACHABLE, 8: KIND_HOST_UNREACHABLE,
    9: KIND_ADMIN_PROHIBITED, 10: KIND_ADMIN_PROHIBITED, 11: KIND_NET_UNREACHABLE,
    12: KIND_HOST_UNREACHABLE, 13: KIND_ADMIN_PROHIBITED, 14: KIND_HOST_UNREACHABLE,
    15: KIND_HOST_UNREACHABLE,
}

# RFC 1191 §7: MTU plateaus, for "fragmentation needed" messages from routers that leave the field 0.
MTU_PLATEAUS = (65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68)
MIN_PMTU = 68  # RFC 791: every IPv4 link carries 68-byte datagrams
MAX_ERROR_LEN = 576  # RFC 1812 §4.3.2.3: the error datagram need not exceed 576 bytes

_HDR = struct.Struct("!BBHI")  # type, code, checksum, rest of header
_QUOTED_IP = struct.Struct("!BBHHHBBHII")
_PORTS = struct.Struct("!HHI")


class TokenBucket:
    """Token bucket rate limiter on virtual time (RFC 1812 §4.3.2.8; Linux icmp_msgs_per_sec /
    icmp_msgs_burst = 1000 / 50)."""

    __slots__ = ("rate_per_s", "burst", "tokens", "last_us")

    def __init__(self, rate_per_s: int, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self.tokens = float(self.burst)
        self.last_us: int | None = None

    def allow(self, now_us: int) -> bool:
        if self.last_us is not None and now_us > self.last_us:
            self.tokens = min(float(self.burst), self.tokens + (now_us - self.last_us) * self.rate_per_s / 1e6)
        if self.last_us is None or now_us > self.last_us:
            self.last_us = now_us
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def build_echo_reply(request: memoryview) -> bytearray:
    """RFC 792 echo reply: the request with type 0; identifier, sequence and data echoed back.

    The checksum is updated incrementally (RFC 1624) for the changed type byte.
    """
    reply = bytearray(request)
    old = (reply[0] << 8) | reply[1]
    reply[0] = ECHO_REPLY
    csum = (reply[2] << 8) | reply[3]
    new_csum = checksum_update16(csum, old, (ECHO_REPLY << 8) | reply[1])
    reply[2] = new_csum >> 8
    reply[3] = new_csum & 0xFF
    return reply


def build_echo_request(ident: int, seq: int, payload: bytes | bytearray | memoryview) -> bytearray:
    msg = bytearray(8 + len(payload))
    _HDR.pack_into(msg, 0, ECHO_REQUEST, 0, 0, (ident << 16) | seq)
    msg[8:] = payload
    struct.pack_into("!H", msg, 2, internet_checksum(msg))
    return msg


def build_error(icmp_type: int, code: int, rest: int, original_ip: memoryview) -> bytearray:
    """An ICMP error quoting the original datagram: its header and as much data as keeps the whole
    error within 576 bytes (RFC 1812 §4.3.2.3; RFC 792 requires at least the header + 64 bits)."""
    quote = original_ip[:MAX_ERROR_LEN - 20 - 8]
    msg = bytearray(8 + len(quote))
    _HDR.pack_into(msg, 0, icmp_type, code, 0, rest)
    msg[8:] = quote
    struct.pack_into("!H", msg, 2, internet_checksum(msg))
    return msg


class QuotedError(NamedTuple):
    """A received ICMP error, decoded down to the transport ports it quotes."""

    kind: str
    icmp_type: int
    code: int
    mtu: int | None  # next-hop MTU for KIND_FRAG_NEEDED (RFC 1191), else None
    protocol: int
    src: int  # quoted source: our address
    dst: int  # quoted destination: the peer
    src_port: int
    dst_port: int
    seq: int  # TCP sequence number quoted (RFC 5927 check); 0 for others


def parse_error(msg: memoryview) -> QuotedError | str:
    """Decode an ICMP error message; a string is the drop reason when it cannot be used."""
    if len(msg) < 8 + 20 + 8:
        return "error_truncated"
    icmp_type, code, _csum, rest = _HDR.unpack_from(msg, 0)
    mtu: int | None = None
    if icmp_type == DEST_UNREACH:
        kind = _UNREACH_KIND.get(code)
        if kind is None:
            return "error_bad_code"
        if code == UNREACH_FRAG_NEEDED:
            mtu = rest & 0xFFFF  # RFC 1191 §4: next-hop MTU in the low-order 16 bits
    elif icmp_type == TIME_EXCEEDED:
        kind = KIND_TIME_EXCEEDED
    elif icmp_type == PARAM_PROBLEM:
        kind = KIND_PARAM_PROBLEM
    else:
        return "error_unhandled_type"
    vi, _tos, qtotal, _id, _ff, _ttl, proto, _c, src, dst = _QUOTED_IP.unpack_from(msg, 8)
    ihl = (vi & 0x0F) * 4
    if vi >> 4 != 4 or ihl < 20:
        return "error_bad_quote"
    if len(msg) < 8 + ihl + 8:
        return "error_truncated"
    sport, dport, seq = _PORTS.unpack_from(msg, 8 + ihl)
    if mtu is not None:
        mtu = next_pmtu(mtu, qtotal)
    return QuotedError(kind, icmp_type, code, mtu, proto, src, dst, sport, dport, seq)


def next_pmtu(reported: int, quoted_total_len: int) -> int:
    """RFC 1191 §5: the new path MTU. A zero field (old routers) means the next plateau below the size of
    the quoted datagram; the result never drops below 68 (RFC 791)."""
    if reported >= MIN_PMTU:
        return reported
    for plateau in MTU_PLATEAUS:
        if plateau < quoted_total_len:
            return max(plateau, MIN_PMTU)
    return MIN_PMTU


class EchoReply(NamedTuple):
    src: int
    ident: int
    seq: int
    payload: bytes
    sent_us: int | None  # when the matching request left (None if unknown)
    now_us: int


class EchoError(NamedTuple):
    """An ICMP error about one of our echo requests (``ping``'s "Destination Host Unreachable")."""

    reporter: int  # who sent the error (a router, or the destination itself)
    kind: str
    errno: int
    dst: int  # where the request was going
    ident: int
    seq: int
    now_us: int


class PingEndpoint:
    """An ICMP echo "socket" for tools: ``send(dst, seq, payload, now_us)``; replies via ``next_event()``."""

    __slots__ = ("host", "ident", "events", "_sent", "_closed", "__weakref__")

    def __init__(self, host: Any, ident: int) -> None:
        self.host = host
        self.ident = ident
        self.events: deque[EchoReply | EchoError] = deque()
        self._sent: dict[int, int] = {}
        self._closed = False

    def send(self, dst: int, seq: int, payload: bytes = b"", *, now_us: int) -> None:
        if self._closed:
            raise OSError(errno.EBADF, "ping endpoint is closed")
        seq &= 0xFFFF
        if len(self._sent) > 4096:
            self._sent.clear()
        self._sent[seq] = now_us
        self.host._send_icmp(dst, build_echo_request(self.ident, seq, payload), now_us, owner=self)

    def _deliver(self, src: int, seq: int, payload: bytes, now_us: int) -> None:
        if len(self.events) >= 1024:
            self.host._counters_icmp.drop("echo_reply_queue_full")
            return
        self.events.append(EchoReply(src, self.ident, seq, payload, self._sent.pop(seq, None), now_us))

    def _error(self, err: EchoError) -> None:
        if len(self.events) < 1024:
            self.events.append(err)

    def next_event(self) -> EchoReply | EchoError | None:
        return self.events.popleft() if self.events else None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.host._release_ping(self)
