"""Unmodified asyncio code (only ``asyncio.*`` calls) run by ``asyncio.run`` and by ``aiostack.run``."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from .backends import aiostack_available

pytestmark = pytest.mark.timeout(60)


async def plain_asyncio_program() -> dict[str, Any]:
    """Knows nothing of aiostack."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello\n")
    line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()

    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo("localhost", port, type=socket.SOCK_STREAM, family=socket.AF_INET)

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.transport.sendto(data, addr)

    got: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            got.set_result(data)

    st, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    ct, _ = await loop.create_datagram_endpoint(Client, remote_addr=st.get_extra_info("sockname"))
    ct.sendto(b"dgram")
    dgram = await asyncio.wait_for(got, 10)
    ct.close()
    st.close()


    return {"line": line, "addr": infos[0][4][0], "dgram": dgram,
            "socket_type": type(writer.get_extra_info("socket")).__name__}


EXPECTED = {"line": b"hello\n", "addr": "127.0.0.1", "dgram": b"dgram"}


def _check(result: dict[str, Any]) -> None:
    assert {k: result[k] for k in EXPECTED} == EXPECTED


def test_oracle_asyncio_run() -> None:
    _check(asyncio.run(plain_asyncio_program()))


@pytest.mark.parametrize("use_uvloop", [False, True], ids=["asyncio", "uvloop"])
def test_aiostack_run(use_uvloop: bool) -> None:
    why = aiostack_available()
    if why:
        pytest.skip(why)
    import aiostack

    if use_uvloop:
        pytest.importorskip("uvloop")
    stack = aiostack.Stack()
    result = aiostack.run(plain_asyncio_program(), stack=stack, use_uvloop=use_uvloop)
    _check(result)
    # it went through aiostack, not the kernel
    stats = stack.stats()
    assert stats.get("tcp.segments_sent", 0) > 0 and stats.get("udp.datagrams_sent", 0) >= 2
    assert result["socket_type"] != "TransportSocket"
    assert not stack.live_transports()


@pytest.mark.parametrize("use_uvloop", [False, True], ids=["asyncio", "uvloop"])
def test_loop_factory(use_uvloop: bool) -> None:
    why = aiostack_available()
    if why:
        pytest.skip(why)
    import aiostack

    if use_uvloop:
        pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=aiostack.loop_factory(use_uvloop=use_uvloop)) as runner:
        _check(runner.run(plain_asyncio_program()))


@pytest.mark.parametrize("use_uvloop", [False, True], ids=["asyncio", "uvloop"])
def test_event_loop_policy(use_uvloop: bool) -> None:
    why = aiostack_available()
    if why:
        pytest.skip(why)
    import aiostack

    if use_uvloop:
        pytest.importorskip("uvloop")
    old = asyncio.get_event_loop_policy()
    stacks: list[aiostack.Stack] = []

    def stack_factory() -> aiostack.Stack:
        stacks.append(aiostack.Stack())
        return stacks[-1]

    asyncio.set_event_loop_policy(aiostack.EventLoopPolicy(use_uvloop=use_uvloop, stack_factory=stack_factory))
    try:
        result = asyncio.run(plain_asyncio_program())
    finally:
        asyncio.set_event_loop_policy(old)
    _check(result)
    assert result["socket_type"] == "TcpSocket"
    assert all(s.closed for s in stacks)  # asyncio.run's shutdown closed the loop's stack


@pytest.mark.timeout(60)
def test_dropin_start_tls_on_uvloop() -> None:
    """StreamWriter.start_tls on aiostack's uvloop-based loop (plain uvloop refuses foreign transports)."""
    why = aiostack_available()
    if why:
        pytest.skip(why)
    trustme = pytest.importorskip("trustme")
    pytest.importorskip("uvloop")
    import ssl

    import aiostack

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("aiostack.test").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def main() -> bytes:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()
            writer.write(b"GO\n")
            await writer.drain()
            await writer.start_tls(server_ctx)
            writer.write(b"secret:" + await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"STARTTLS\n")
        await reader.readline()
        await writer.start_tls(client_ctx, server_hostname="aiostack.test")
        writer.write(b"x\n")
        line = await reader.readline()
        writer.close()
        server.close()
        return line

    assert aiostack.run(main(), use_uvloop=True) == b"secret:x\n"
