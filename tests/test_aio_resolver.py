"""The DNS stub resolver over aiostack's own UDP, against a dnslib server on the other stack of a pair."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

dnslib = pytest.importorskip("dnslib")

from aiostack import Stack  # noqa: E402
from aiostack.aio.resolver import decode_response, encode_query  # noqa: E402

pytestmark = pytest.mark.timeout(60)

ZONE = {
    "www.example.test": ("A", "198.18.0.2"),
    "alias.example.test": ("CNAME", "www.example.test"),
    "multi.example.test": ("A", ["198.18.0.7", "198.18.0.8"]),
}


class DnsServer(asyncio.DatagramProtocol):
    """A tiny authoritative server built with dnslib; ``drop_first`` queries are ignored (lost)."""

    def __init__(self, drop_first: int = 0) -> None:
        self.transport: Any = None
        self.queries: list[str] = []
        self.drop_first = drop_first

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        req = dnslib.DNSRecord.parse(data)
        qname = str(req.q.qname).rstrip(".")
        self.queries.append(qname)
        if len(self.queries) <= self.drop_first:
            return
        reply = req.reply()
        entry = ZONE.get(qname)
        if entry is None:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        else:
            kind, value = entry
            if kind == "CNAME":
                reply.add_answer(dnslib.RR(qname, dnslib.QTYPE.CNAME, rdata=dnslib.CNAME(value), ttl=60))
                reply.add_answer(dnslib.RR(value, dnslib.QTYPE.A, rdata=dnslib.A(ZONE[value][1]), ttl=60))
            else:
                for v in value if isinstance(value, list) else [value]:
                    reply.add_answer(dnslib.RR(qname, dnslib.QTYPE.A, rdata=dnslib.A(v), ttl=60))
        self.transport.sendto(reply.pack(), addr)


async def _pair(drop_first: int = 0, *, timeout: float = 0.3, attempts: int = 2,
                dns_port: int = 53) -> tuple[Stack, Stack, DnsServer]:
    a, b = Stack.pair(nameservers=[("198.18.0.2", dns_port)], resolver_timeout=timeout,
                      resolver_attempts=attempts, hosts={"fixed.test": "198.18.0.9"})
    await a.start()
    await b.start()
    _, server = await b.create_datagram_endpoint(lambda: DnsServer(drop_first), local_addr=("198.18.0.2", 53))
    return a, b, server


async def test_resolve_through_dns_and_connect_by_name() -> None:
    a, b, dns = await _pair()

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from b")
        writer.close()

    srv = await b.start_server(hello, "198.18.0.2", 8080)
    infos = await a.getaddrinfo("www.example.test", 8080, type=socket.SOCK_STREAM)
    assert [ai[4] for ai in infos] == [("198.18.0.2", 8080)]
    reader, writer = await a.open_connection("www.example.test", 8080)
    assert await reader.read() == b"hello from b"
    writer.close()
    # the second lookup came from the cache (TTL 60 s)
    assert dns.queries == ["www.example.test"]
    srv.close()
    await srv.wait_closed()
    await a.close()
    await b.close()


async def test_cname_and_several_addresses() -> None:
    a, b, dns = await _pair()
    assert await a.resolver.resolve("alias.example.test") == ["198.18.0.2"]
    assert await a.resolver.resolve("multi.example.test") == ["198.18.0.7", "198.18.0.8"]
    await a.close()
    await b.close()


async def test_nxdomain() -> None:
    a, b, dns = await _pair()
    with pytest.raises(socket.gaierror) as info:
        await a.getaddrinfo("missing.example.test", 80)
    assert info.value.errno == socket.EAI_NONAME
    await a.close()
    await b.close()


async def test_hosts_table_first() -> None:
    a, b, dns = await _pair()
    assert await a.resolver.resolve("FIXED.test.") == ["198.18.0.9"]
    assert await a.resolver.resolve("localhost") == ["127.0.0.1"]
    assert await a.resolver.resolve("198.18.0.44") == ["198.18.0.44"]
    assert dns.queries == []
    await a.close()
    await b.close()


async def test_retry_after_a_lost_query() -> None:
    a, b, dns = await _pair(drop_first=1, timeout=0.2)
    assert await a.resolver.resolve("www.example.test") == ["198.18.0.2"]
    assert dns.queries == ["www.example.test", "www.example.test"]
    await a.close()
    await b.close()


async def test_no_answer_is_eai_again() -> None:
    a, b, dns = await _pair(drop_first=100, timeout=0.1, attempts=3)
    with pytest.raises(socket.gaierror) as info:
        await a.resolver.resolve("www.example.test")
    assert info.value.errno == socket.EAI_AGAIN
    assert len(dns.queries) == 3
    await a.close()
    await b.close()


async def test_server_port_closed_fails_fast() -> None:
    """ICMP port unreachable from the server host: no waiting for the timeout."""
    a, b, dns = await _pair(timeout=30, attempts=1, dns_port=5353)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(socket.gaierror):
        await a.resolver.resolve("www.example.test")
    assert loop.time() - t0 < 5
    await a.close()
    await b.close()


def test_wire_format_against_dnslib() -> None:
    q = dnslib.DNSRecord.parse(encode_query(0x1234, "www.Example.test"))
    assert q.header.id == 0x1234 and q.header.rd == 1
    assert str(q.q.qname) == "www.Example.test." and q.q.qtype == dnslib.QTYPE.A
    reply = q.reply()
    reply.add_answer(dnslib.RR("www.Example.test", dnslib.QTYPE.A, rdata=dnslib.A("10.1.2.3"), ttl=5))
    assert decode_response(reply.pack(), 0x1234, "www.example.test") == (0, [("10.1.2.3", 5)])
