"""Transport and Protocol contract (DESIGN §5): method set, callback order, BufferedProtocol, TLS."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from typing import Any

import pytest

from .backends import Backend
from .conftest import ExceptionCalls

pytestmark = pytest.mark.timeout(60)


class Recorder(asyncio.Protocol):
    """Records every callback in order; keeps the half-open connection when asked."""

    def __init__(self, keep_open_on_eof: bool = False) -> None:
        self.events: list[Any] = []
        self.data = bytearray()
        self.transport: Any = None
        self.keep_open_on_eof = keep_open_on_eof
        self.lost = asyncio.get_running_loop().create_future()
        self.made = asyncio.get_running_loop().create_future()
        self.got_eof = asyncio.get_running_loop().create_future()
        self.waiting: tuple[int, asyncio.Future[None]] | None = None

    def connection_made(self, transport: Any) -> None:
        self.events.append("made")
        self.transport = transport
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        assert self.events and self.events[0] == "made" and "eof" not in self.events and "lost" not in self.events
        if not self.events or self.events[-1] != "data":
            self.events.append("data")
        self.data += data
        if self.waiting and len(self.data) >= self.waiting[0] and not self.waiting[1].done():
            self.waiting[1].set_result(None)

    async def wait_bytes(self, n: int) -> None:
        if len(self.data) >= n:
            return
        fut = asyncio.get_running_loop().create_future()
        self.waiting = (n, fut)
        await asyncio.wait_for(fut, 20)

    def eof_received(self) -> bool:
        self.events.append("eof")
        self.got_eof.set_result(None)
        return self.keep_open_on_eof

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")


async def _pair(backend: Backend, server_proto: Any = Recorder, client_proto: Any = Recorder) -> tuple[Any, Any, Any]:
    made: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def factory() -> Any:
        p = server_proto()
        made.set_result(p)
        return p

    server = await backend.server.create_server(factory, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    _, client = await backend.client.create_connection(client_proto, backend.server_host, port)
    srv = await asyncio.wait_for(made, 10)
    await srv.made
    return server, client, srv


async def _stop(server: Any) -> None:
    server.close()
    await server.wait_closed()


async def test_callback_order_and_half_open(backend: Backend) -> None:
    server, client, srv = await _pair(backend, server_proto=lambda: Recorder(keep_open_on_eof=True))
    t = client.transport
    assert not t.is_closing() and t.is_reading()
    t.write(b"hello")
    t.writelines([b" ", bytearray(b"wor"), memoryview(b"ld")])
    t.write(b"")  # ignored
    await srv.wait_bytes(11)
    assert bytes(srv.data) == b"hello world"
    t.write_eof()
    await asyncio.wait_for(srv.got_eof, 10)
    # eof_received() returned True: the server side stays open and can still send
    srv.transport.write(b"reply")
    await client.wait_bytes(5)
    srv.transport.close()
    assert await asyncio.wait_for(client.lost, 10) is None
    assert await asyncio.wait_for(srv.lost, 10) is None
    assert srv.events == ["made", "data", "eof", "lost"]
    assert client.events == ["made", "data", "eof", "lost"]
    await _stop(server)


async def test_transport_methods(backend: Backend) -> None:
    server, client, srv = await _pair(backend)
    t = client.transport
    with pytest.raises(TypeError):
        t.write("text")
    assert t.can_write_eof()
    assert t.get_write_buffer_size() == 0
    lo, hi = t.get_write_buffer_limits()
    assert hi == 64 * 1024 and 0 <= lo <= hi // 4  # asyncio: low = high // 4 (uvloop keeps a smaller low)
    t.set_write_buffer_limits(high=1000)
    assert t.get_write_buffer_limits()[1] == 1000
    t.set_write_buffer_limits(high=8000, low=100)
    assert t.get_write_buffer_limits() == (100, 8000)
    with pytest.raises(ValueError):
        t.set_write_buffer_limits(high=10, low=20)
    # pause/resume reading are idempotent
    t.pause_reading()
    t.pause_reading()
    assert not t.is_reading()
    srv.transport.write(b"while paused")
    await asyncio.sleep(0.05)
    assert client.data == b""
    t.resume_reading()
    t.resume_reading()
    assert t.is_reading()
    await client.wait_bytes(12)
    assert t.get_protocol() is client
    other = Recorder()
    t.set_protocol(other)
    assert t.get_protocol() is other
    t.set_protocol(client)
    t.close()
    t.close()  # idempotent
    assert t.is_closing()
    assert await asyncio.wait_for(client.lost, 10) is None
    assert await asyncio.wait_for(srv.lost, 10) is None
    assert client.events.count("lost") == 1
    await _stop(server)


async def test_close_flushes(backend: Backend) -> None:
    server, client, srv = await _pair(backend)
    payload = os.urandom(3 << 20)
    client.transport.write(payload)
    client.transport.close()  # flush, then connection_lost(None)
    await asyncio.wait_for(srv.got_eof, 30)
    assert bytes(srv.data) == payload
    assert await asyncio.wait_for(client.lost, 10) is None
    srv.transport.close()
    await srv.lost
    await _stop(server)


async def _pause_then_resume(client: Any, srv: Any) -> None:
    """The server stops reading; the client writes until pause_writing, then the server reads it all and
    the client waits (bounded) for resume_writing."""
    srv.transport.pause_reading()
    t = client.transport
    t.set_write_buffer_limits(high=64 * 1024)
    chunk = b"z" * 65536
    sent = 0
    for _ in range(2000):  # at most 128 MiB; the peer's buffers fill long before
        t.write(chunk)
        sent += len(chunk)
        if "pause" in client.events:
            break
        await asyncio.sleep(0)
    assert "pause" in client.events and t.get_write_buffer_size() > 64 * 1024 and not t.is_closing()
    srv.transport.resume_reading()
    await srv.wait_bytes(sent)
    for _ in range(100):
        if "resume" in client.events:
            break
        await asyncio.sleep(0.01)


async def test_write_flow_control(backend: Backend) -> None:
    """Buffered bytes above high water: pause_writing; drained to low water: resume_writing."""
    server, client, srv = await _pair(backend)
    await _pause_then_resume(client, srv)
    assert client.events.count("pause") == 1 and client.events.count("resume") == 1
    assert client.events.index("pause") < client.events.index("resume")
    client.transport.close()
    srv.transport.close()
    await client.lost
    await srv.lost
    await _stop(server)


async def test_callback_exception_goes_to_handler(backend: Backend, exception_calls: ExceptionCalls) -> None:
    class Boom(Recorder):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            raise ZeroDivisionError("from data_received")

    server, client, srv = await _pair(backend, server_proto=Boom)
    client.transport.write(b"x")
    # asyncio treats it as a fatal error of the transport: the handler is called, the connection dies
    exc = await asyncio.wait_for(srv.lost, 10)
    assert isinstance(exc, ZeroDivisionError)
    call = exception_calls.take(lambda c: isinstance(c.get("exception"), ZeroDivisionError))
    assert "protocol" in call or "transport" in call
    await asyncio.wait_for(client.lost, 10)
    await _stop(server)



async def test_failing_flow_control_callbacks_go_to_the_handler(backend: Backend,
                                                               exception_calls: ExceptionCalls) -> None:
    """pause_writing/resume_writing raising: the loop's exception handler gets it, the transport goes on."""
    class Failing(Recorder):
        def pause_writing(self) -> None:
            super().pause_writing()
            raise ValueError("from pause_writing")

        def resume_writing(self) -> None:
            super().resume_writing()
            raise ValueError("from resume_writing")

    server, client, srv = await _pair(backend, client_proto=Failing)
    await _pause_then_resume(client, srv)
    assert "resume" in client.events and not client.transport.is_closing()
    for name in ("pause_writing", "resume_writing"):
        call = exception_calls.take(lambda c, n=name: c.get("message") == f"protocol.{n}() failed")
        assert isinstance(call["exception"], ValueError) and call["protocol"] is client
    client.transport.close()
    srv.transport.close()
    await client.lost
    await srv.lost
    await _stop(server)

class ZeroCopy(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.buf = bytearray(4096)
        self.received = bytearray()
        self.eof = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()
        self.updates = 0
        self.transport: Any = None
        self.made = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.made.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        assert 0 < nbytes <= len(self.buf)
        self.received += self.buf[:nbytes]
        self.updates += 1

    def eof_received(self) -> None:
        self.eof.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def test_buffered_protocol(backend: Backend) -> None:
    server, client, srv = await _pair(backend, server_proto=ZeroCopy)
    payload = os.urandom(1 << 20)
    client.transport.write(payload)
    client.transport.write_eof()
    await asyncio.wait_for(srv.eof, 20)
    assert bytes(srv.received) == payload
    assert srv.updates >= len(payload) // 4096
    srv.transport.close()
    assert await asyncio.wait_for(srv.lost, 10) is None
    await asyncio.wait_for(client.lost, 10)
    await _stop(server)


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("aiostack.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


async def _tls_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def test_tls(backend: Backend, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls_contexts
    server = await backend.server.start_server(_tls_echo, backend.server_host, 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(
        backend.server_host, port, ssl=client_ctx, server_hostname="aiostack.test")
    assert writer.get_extra_info("ssl_object").server_hostname == "aiostack.test"
    payload = os.urandom(300_000)
    writer.write(payload)
    assert await reader.readexactly(len(payload)) == payload
    writer.close()
    await writer.wait_closed()
    await _stop(server)


async def test_start_tls_upgrade(backend: Backend, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """STARTTLS: plain text first, then StreamWriter.start_tls on the same connection."""
    server_ctx, client_ctx = tls_contexts
    loop = asyncio.get_running_loop()
    if backend.name != "kernel" and type(loop).__module__ != "asyncio" and "uvloop" in repr(type(loop).__mro__):
        pytest.skip("uvloop's loop.start_tls accepts only uvloop's own transports "
                    "(aiostack's loops route start_tls themselves: see test_dropin)")

    async def starttls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"GO\n")
        await writer.drain()
        await writer.start_tls(server_ctx)
        line = await reader.readline()
        writer.write(b"secure:" + line)
        await writer.drain()
        writer.close()

    server = await backend.server.start_server(starttls, backend.server_host, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await backend.client.open_connection(backend.server_host, port)
    writer.write(b"STARTTLS\n")
    assert await reader.readline() == b"GO\n"
    await writer.start_tls(client_ctx, server_hostname="aiostack.test")
    writer.write(b"hi\n")
    assert await reader.readline() == b"secure:hi\n"
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, ssl.SSLError):
        pass
    await _stop(server)


async def test_extra_info(backend: Backend) -> None:
    server, client, srv = await _pair(backend)
    t = client.transport
    port = server.sockets[0].getsockname()[1]
    assert t.get_extra_info("peername")[:2] == (backend.server_host, port)
    assert srv.transport.get_extra_info("sockname")[:2] == (backend.server_host, port)
    assert srv.transport.get_extra_info("peername") == t.get_extra_info("sockname")
    assert t.get_extra_info("no-such-key", "dflt") == "dflt"
    sock = t.get_extra_info("socket")
    assert sock.family == socket.AF_INET
    t.close()
    srv.transport.close()
    await client.lost
    await srv.lost
    await _stop(server)
