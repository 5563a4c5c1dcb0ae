"""A DNS stub resolver over aiostack's own UDP: the socket library's resolver in a textbook stack.

Read first: RFC 1035 §4.1 (message format: header, question, resource records; §4.1.4 name
compression), RFC 1123 §6.1.3.3 (stub resolvers retransmit and try each server), RFC 2308 (NXDOMAIN).

Order of lookups: IPv4 literals; ``localhost`` (when the stack has a loopback interface); the static
hosts table; then the stack's name servers, A records only, ``timeout`` seconds per try and ``attempts``
rounds over all servers. Answers are cached for their TTL. Failures raise ``socket.gaierror`` like the
C library: EAI_NONAME for a name that does not exist, EAI_AGAIN when no server answered.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiostack.aio.stack import Stack

DNS_PORT = 53  # RFC 1035 §4.2
TYPE_A = 1  # RFC 1035 §3.2.2
TYPE_CNAME = 5
CLASS_IN = 1  # RFC 1035 §3.2.4
FLAG_RD = 0x0100  # recursion desired (RFC 1035 §4.1.1)
RCODE_NXDOMAIN = 3  # RFC 1035 §4.1.1
MAX_UDP_PAYLOAD = 512  # RFC 1035 §4.2.1 (no EDNS0)
MAX_CNAME_CHAIN = 8
_HEADER = struct.Struct("!HHHHHH")
_QTAIL = struct.Struct("!HH")
_RR = struct.Struct("!HHIH")


class DnsError(Exception):
    """A malformed or unexpected DNS reply (dropped, never raised to the caller)."""


def encode_query(qid: int, name: str) -> bytes:
    """One A/IN question with recursion desired (RFC 1035 §4.1.1-4.1.2)."""
    out = bytearray(_HEADER.pack(qid, FLAG_RD, 1, 0, 0, 0))
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna")
        if not 0 < len(raw) < 64:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out.append(len(raw))
        out += raw
    out.append(0)
    out += _QTAIL.pack(TYPE_A, CLASS_IN)
    return bytes(out)


def _read_name(msg: bytes, pos: int) -> tuple[str, int]:
    """A possibly compressed name at ``pos``; returns (name, position after it) (RFC 1035 §4.1.4)."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        if pos >= len(msg):
            raise DnsError("name runs past the message")
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(msg):
                raise DnsError("truncated pointer")
            if end < 0:
                end = pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            jumps += 1
            if jumps > 32:
                raise DnsError("pointer loop")
            continue
        if n & 0xC0:
            raise DnsError("bad label type")
        pos += 1
        if n == 0:
            break
        if pos + n > len(msg):
            raise DnsError("label runs past the message")
        labels.append(msg[pos:pos + n].decode("ascii", "replace").lower())
        pos += n
    return ".".join(labels), (end if end >= 0 else pos)


def decode_response(msg: bytes, qid: int, name: str) -> tuple[int, list[tuple[str, int]]]:
    """(rcode, [(address, ttl)]) for the A records answering ``name`` (following CNAMEs)."""
    if len(msg) < _HEADER.size:
        raise DnsError("short header")
    rid, flags, qd, an, _ns, _ar = _HEADER.unpack_from(msg, 0)
    if rid != qid or not flags & 0x8000:
        raise DnsError("not our answer")
    rcode = flags & 0x000F
    pos = _HEADER.size
    for _ in range(qd):
        _, pos = _read_name(msg, pos)
        pos += _QTAIL.size
    records: list[tuple[str, int, int, bytes]] = []
    for _ in range(an):
        rname, pos = _read_name(msg, pos)
        if pos + _RR.size > len(msg):
            raise DnsError("truncated record")
        rtype, rclass, ttl, rdlen = _RR.unpack_from(msg, pos)
        pos += _RR.size
        rdata_at = pos
        pos += rdlen
        if pos > len(msg):
            raise DnsError("truncated rdata")
        if rclass != CLASS_IN:
            continue
        if rtype == TYPE_CNAME:
            target, _ = _read_name(msg, rdata_at)
            records.append((rname, rtype, ttl, target.encode()))
        elif rtype == TYPE_A and rdlen == 4:
            records.append((rname, rtype, ttl, msg[rdata_at:pos]))
    want = name.rstrip(".").lower()
    for _ in range(MAX_CNAME_CHAIN):
        cname = next((r for r in records if r[0] == want and r[1] == TYPE_CNAME), None)
        if cname is None:
            break
        want = cname[3].decode()
    addrs = [(socket.inet_ntoa(r[3]), r[2]) for r in records if r[0] == want and r[1] == TYPE_A]
    return rcode, addrs


class _Reply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(bytes(data))

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(b"")  # ICMP unreachable: this server will not answer


class Resolver:
    def __init__(self, stack: Stack, *, hosts: dict[str, str] | None = None,
                 nameservers: Sequence[str | tuple[str, int]] = (), timeout: float = 2.0,
                 attempts: int = 2) -> None:
        self._stack = stack
        self.hosts: dict[str, str] = {k.rstrip(".").lower(): v for k, v in (hosts or {}).items()}
        self.nameservers: list[tuple[str, int]] = [
            (ns, DNS_PORT) if isinstance(ns, str) else (ns[0], int(ns[1])) for ns in nameservers]
        self.timeout = timeout
        self.attempts = attempts
        self._cache: dict[str, tuple[list[str], float]] = {}
        self.queries_sent = 0

    def add_host(self, name: str, address: str) -> None:
        self.hosts[name.rstrip(".").lower()] = address

    async def resolve(self, name: str, *, numeric_only: bool = False) -> list[str]:
        """IPv4 addresses of ``name`` as dotted quads."""
        try:
            socket.inet_pton(socket.AF_INET, name)
            return [name]
        except OSError:
            pass
        if numeric_only:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        key = name.rstrip(".").lower()
        if key == "localhost" or key.endswith(".localhost"):
            return ["127.0.0.1"]
        fixed = self.hosts.get(key)
        if fixed is not None:
            return [fixed]
        loop = asyncio.get_running_loop()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > loop.time():
            return list(hit[0])
        if not self.nameservers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return await self._query(key)

    async def _query(self, name: str) -> list[str]:
        stack = self._stack
        loop = asyncio.get_running_loop()
        # One connected endpoint per server: replies from elsewhere are not accepted (RFC 5452 §9.1) and
        # an ICMP port/host unreachable ends the wait for that server at once (RFC 1122 §4.1.3.3).
        endpoints: dict[tuple[str, int], tuple[Any, _Reply]] = {}
        try:
            for _ in range(self.attempts):
                for server in self.nameservers:
                    ep = endpoints.get(server)
                    if ep is None:
                        ep = endpoints[server] = await stack.create_datagram_endpoint(_Reply, remote_addr=server)
                    transport, proto = ep
                    qid = stack.rng.getrandbits(16)  # RFC 5452 §4: unpredictable query ids
                    transport.sendto(encode_query(qid, name))
                    self.queries_sent += 1
                    deadline = loop.time() + self.timeout
                    while True:
                        left = deadline - loop.time()
                        if left <= 0:
                            break
                        try:
                            msg = await asyncio.wait_for(proto.queue.get(), left)
                        except TimeoutError:
                            break
                        if not msg:
                            break
                        try:
                            rcode, answers = decode_response(msg, qid, name)
                        except (DnsError, UnicodeError):
                            continue  # not ours or malformed: keep waiting (RFC 5452 §9.1)
                        if rcode == RCODE_NXDOMAIN:
                            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
                        if rcode == 0 and answers:
                            addrs = [a for a, _ in answers]
                            ttl = min(t for _, t in answers)
                            if ttl > 0:
                                self._cache[name] = (addrs, loop.time() + ttl)
                            return addrs
                        if rcode == 0:
                            raise socket.gaierror(socket.EAI_NODATA, "No address associated with hostname")
                        break  # SERVFAIL/REFUSED...: try the next server
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        finally:
            for transport, _proto in endpoints.values():
                transport.close()
