"""StreamReader/StreamWriter behaviour, identical on kernel sockets and on aiostack."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
import sys
from typing import Any

import pytest

from .backends import Backend

pytestmark = pytest.mark.timeout(120)


async def _echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass


async def _stop(server: Any) -> None:
    server.close()
    await server.wait_closed()


async def test_echo(backend: Backend) -> None:
    server = await backend.server.start_server(_echo_handler, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(backend.server_host, port)
    for size in (1, 100, 1460, 1461, 65536, 200_000):
        msg = os.urandom(size)
        writer.write(msg)
        assert await reader.readexactly(size) == msg
    peer = writer.get_extra_info("peername")
    assert peer[:2] == (backend.server_host, port)
    sock = writer.get_extra_info("sockname")
    assert isinstance(sock[1], int) and sock[1] > 0
    writer.write_eof()
    assert await reader.read() == b""
    await _close(writer)
    await _stop(server)


async def _transfer(backend: Backend, total: int) -> None:
    """The peer stops reading: drain() must really wait; when it reads again, drain() resumes."""
    got = asyncio.get_running_loop().create_future()
    reading = asyncio.Event()
    digest_in = hashlib.sha256()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = 0
        await reading.wait()
        while data := await reader.read(1 << 20):
            digest_in.update(data)
            n += len(data)
        writer.close()
        got.set_result(n)

    server = await backend.server.start_server(sink, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(backend.server_host, port)
    transport = writer.transport
    chunk = os.urandom(1 << 20)
    digest_out = hashlib.sha256()
    sent = 0
    blocked_at = None
    while sent < total:
        piece = chunk[: min(len(chunk), total - sent)]
        writer.write(piece)
        digest_out.update(piece)
        sent += len(piece)
        if blocked_at is None:
            drain = asyncio.ensure_future(writer.drain())
            done, _ = await asyncio.wait({drain}, timeout=0.2)
            if not done:
                # (a receiver may still be growing its window: only a drain that stays pending counts)
                done, _ = await asyncio.wait({drain}, timeout=0.3)
            if not done:
                # The peer reads nothing: the drain stays pending...
                assert transport.get_write_buffer_size() > 0
                blocked_at = sent
                reading.set()  # ...and completes once the peer reads again.
                await asyncio.wait_for(drain, 30)
            else:
                await drain
        else:
            await writer.drain()
    assert blocked_at is not None, "drain() never waited although the peer did not read"
    writer.write_eof()
    assert await asyncio.wait_for(got, 60) == total
    assert digest_in.digest() == digest_out.digest()
    assert await reader.read() == b""
    await _close(writer)
    await _stop(server)


async def test_transfer_drain_waits(backend: Backend) -> None:
    await _transfer(backend, 16 << 20)


@pytest.mark.slow
async def test_transfer_64mib(backend: Backend) -> None:
    await _transfer(backend, 64 << 20)


async def test_half_close(backend: Backend) -> None:
    """write_eof on one side; the other side still answers, then closes."""

    async def answer_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()  # until EOF
        writer.write(b"got %d bytes" % len(data))
        await writer.drain()
        writer.close()

    server = await backend.server.start_server(answer_after_eof, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(backend.server_host, port)
    assert writer.can_write_eof()
    writer.write(b"x" * 5000)
    writer.write_eof()
    with pytest.raises(RuntimeError):
        writer.write(b"more")
    assert await reader.read() == b"got 5000 bytes"
    await _close(writer)
    await _stop(server)


async def test_abort(backend: Backend) -> None:
    """abort() drops buffered data and reports connection_lost(None) without waiting for the peer."""
    peer_saw: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    async def watch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await reader.readexactly(5))  # accepted and answering before the abort
            while await reader.read(65536):
                pass
            peer_saw.set_result(b"")
        except ConnectionResetError as exc:
            peer_saw.set_result(exc)
        writer.close()

    server = await backend.server.start_server(watch, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(backend.server_host, port)
    writer.write(b"hello")
    assert await reader.readexactly(5) == b"hello"
    writer.write(b"unsent or in flight")
    writer.transport.abort()
    assert writer.transport.is_closing()
    await writer.wait_closed()  # connection_lost(None): no exception
    # The peer sees the end either as EOF (the kernel's asyncio abort closes the socket) or as a reset.
    outcome = await asyncio.wait_for(peer_saw, 10)
    assert outcome == b"" or isinstance(outcome, ConnectionResetError)
    await _stop(server)


async def test_reset(backend: Backend) -> None:
    """The peer closes with SO_LINGER 0: a RST; the reader gets ConnectionResetError."""

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(4)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    server = await backend.server.start_server(reset, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(backend.server_host, port)
    writer.write(b"ping")
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(100), 10)
    writer.close()
    with pytest.raises(ConnectionResetError):
        await writer.wait_closed()
    await _stop(server)


async def test_refused(backend: Backend) -> None:
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(backend.client.open_connection(backend.server_host, backend.closed_port()), 10)


async def test_server_close_and_wait_closed(backend: Backend) -> None:
    server = await backend.server.start_server(_echo_handler, backend.server_host, 0)
    assert server.is_serving()
    assert server.get_loop() is asyncio.get_running_loop()
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(backend.server_host, port)
    writer.write(b"!")
    assert await reader.readexactly(1) == b"!"  # accepted (a closing listener resets what it did not)
    server.close()
    assert not server.is_serving()
    # closing the server stops accepting; the established connection keeps working
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(backend.client.open_connection(backend.server_host, port), 10)
    writer.write(b"still here")
    assert await reader.readexactly(10) == b"still here"
    waiter = asyncio.ensure_future(server.wait_closed())
    await _close(writer)
    await asyncio.wait_for(waiter, 10)


async def test_wait_closed_waits_for_clients(backend: Backend) -> None:
    if backend.kernel_server and (sys.version_info < (3, 12) or "uvloop" in repr(type(asyncio.get_running_loop()).__mro__)):
        pytest.skip("wait_closed waits for clients from Python 3.12 on (asyncio loop)")
    server = await backend.server.start_server(_echo_handler, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(backend.server_host, port)
    writer.write(b"x")
    await reader.readexactly(1)
    server.close()
    waiter = asyncio.ensure_future(server.wait_closed())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await _close(writer)
    await asyncio.wait_for(waiter, 10)


async def test_close_and_abort_clients(backend: Backend) -> None:
    server = await backend.server.start_server(_echo_handler, backend.server_host, 0)
    if not hasattr(server, "close_clients"):
        await _stop(server)
        pytest.skip("Server.close_clients/abort_clients come with Python 3.13")
    port = server.sockets[0].getsockname()[1]
    r1, w1 = await backend.client.open_connection(backend.server_host, port)
    r2, w2 = await backend.client.open_connection(backend.server_host, port)
    for r, w in ((r1, w1), (r2, w2)):
        w.write(b"x")
        await r.readexactly(1)
    server.close()
    server.close_clients()
    assert await asyncio.wait_for(r1.read(), 10) == b""
    assert await asyncio.wait_for(r2.read(), 10) == b""
    await _close(w1)
    await _close(w2)
    await asyncio.wait_for(server.wait_closed(), 10)


async def test_server_async_with_and_serve_forever(backend: Backend) -> None:
    server = await backend.server.start_server(_echo_handler, backend.server_host, 0, start_serving=False)
    assert not server.is_serving()
    port = server.sockets[0].getsockname()[1]
    async with server:
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        assert server.is_serving()
        reader, writer = await backend.client.open_connection(backend.server_host, port)
        writer.write(b"abc")
        assert await reader.readexactly(3) == b"abc"
        await _close(writer)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
    await server.wait_closed()


async def _many(backend: Backend, n: int) -> None:
    server = await backend.server.start_server(_echo_handler, backend.server_host, 0, backlog=n)
    port = server.sockets[0].getsockname()[1]

    async def one(i: int) -> bytes:
        reader, writer = await backend.client.open_connection(backend.server_host, port)
        msg = b"%08d" % i
        writer.write(msg)
        data = await reader.readexactly(8)
        await _close(writer)
        return data

    results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 120)
    assert results == [b"%08d" % i for i in range(n)]
    await _stop(server)


async def test_many_connections(backend: Backend) -> None:
    await _many(backend, 100)


@pytest.mark.slow
async def test_1000_connections(backend: Backend) -> None:
    await _many(backend, 1000)


async def test_socket_options(backend: Backend) -> None:
    server = await backend.server.start_server(_echo_handler, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(backend.server_host, port)
    sock = writer.get_extra_info("socket")
    assert sock is not None
    # asyncio turns Nagle off on its TCP transports
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
    assert not sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 5)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 5
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) > 0
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > 0
    assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
    assert sock.getpeername()[:2] == (backend.server_host, port)
    writer.write(b"ok")
    assert await reader.readexactly(2) == b"ok"
    await _close(writer)
    await _stop(server)


async def test_resolver(backend: Backend) -> None:
    server = await backend.server.start_server(_echo_handler, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    infos = await backend.client.getaddrinfo(backend.resolvable_name, port, type=socket.SOCK_STREAM)
    addrs = {ai[4][:2] for ai in infos if ai[0] == socket.AF_INET}
    assert (backend.server_host, port) in addrs
    assert all(ai[1] == socket.SOCK_STREAM for ai in infos)
    reader, writer = await backend.client.open_connection(backend.resolvable_name, port)
    writer.write(b"by name")
    assert await reader.readexactly(7) == b"by name"
    await _close(writer)
    with pytest.raises(socket.gaierror):
        await backend.client.getaddrinfo("no-such-host.invalid", 80)
    await _stop(server)
