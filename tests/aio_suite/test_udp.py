"""Datagram endpoints: round trip, errors from ICMP, the transport's methods."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .backends import Backend

pytestmark = pytest.mark.timeout(60)


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self, echo: bool = False) -> None:
        self.echo = echo
        self.queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        self.errors: asyncio.Queue[Exception] = asyncio.Queue()
        self.transport: Any = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.echo:
            self.transport.sendto(data.upper(), addr)
        self.queue.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.put_nowait(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def test_udp_round_trip(backend: Backend) -> None:
    st, sp = await backend.server.create_datagram_endpoint(
        lambda: Datagrams(echo=True), local_addr=(backend.server_host, 0))
    port = st.get_extra_info("sockname")[1]
    ct, cp = await backend.client.create_datagram_endpoint(Datagrams, remote_addr=(backend.server_host, port))
    assert ct.get_extra_info("peername")[:2] == (backend.server_host, port)
    for msg in (b"a", b"hello", bytes(1400), bytes(8000)):
        ct.sendto(msg)
        data, addr = await asyncio.wait_for(cp.queue.get(), 10)
        assert data == msg.upper()
        assert addr[:2] == (backend.server_host, port)
        got, frm = await sp.queue.get()
        assert got == msg and frm[:2] == ct.get_extra_info("sockname")[:2]
    assert ct.get_write_buffer_size() == 0
    with pytest.raises(TypeError):
        ct.sendto("text")
    ct.close()
    assert await asyncio.wait_for(cp.lost, 5) is None
    st.abort()
    assert await asyncio.wait_for(sp.lost, 5) is None
    assert st.is_closing()


async def test_udp_unconnected_sendto(backend: Backend) -> None:
    st, sp = await backend.server.create_datagram_endpoint(
        lambda: Datagrams(echo=True), local_addr=(backend.server_host, 0))
    port = st.get_extra_info("sockname")[1]
    ct, cp = await backend.client.create_datagram_endpoint(Datagrams, local_addr=("0.0.0.0", 0))
    ct.sendto(b"ping", (backend.server_host, port))
    data, addr = await asyncio.wait_for(cp.queue.get(), 10)
    assert data == b"PING" and addr[:2] == (backend.server_host, port)
    ct.close()
    st.close()
    await cp.lost
    await sp.lost


async def test_udp_error_received(backend: Backend) -> None:
    """A connected endpoint sending to a closed port learns about it from the ICMP port unreachable."""
    ct, cp = await backend.client.create_datagram_endpoint(
        Datagrams, remote_addr=(backend.server_host, backend.closed_port()))
    exc = None
    for _ in range(5):
        ct.sendto(b"anyone?")
        try:
            exc = await asyncio.wait_for(cp.errors.get(), 2)
            break
        except TimeoutError:
            continue
    assert isinstance(exc, ConnectionRefusedError)
    ct.close()
    await cp.lost
