"""``TcpEndpoint``: the state and the data path of one ``TcpTransport`` (transport.py).

``TcpTransport`` is what the application holds: an ``asyncio.Transport`` subclass, so a Python class (a
compiled class cannot derive from a Python one), whose every method forwards here. This class holds the
transport's whole state and does its work; compiled, it is a ``cdef class`` (endpoint.pxd) whose flags are
C fields, and the per-segment path — the stack's dispatch into ``_on_events``, ``_deliver`` into the
protocol, ``write`` into the engine and the driver — is C calls with no attribute look-up on a Python
object (see docs/ARCHITECTURE.md, "Compiled code").

Contract (DESIGN §5, CPython's selector transport as the reference):

* callbacks ``connection_made`` → ``data_received``* (or ``get_buffer``/``buffer_updated`` for a
  ``BufferedProtocol``) → ``eof_received``? → ``connection_lost(exc)``, each at most once, in that order;
  ``connection_made`` and ``connection_lost`` are scheduled with ``call_soon``;
* an exception raised by a protocol callback goes to ``loop.call_exception_handler`` and ends the
  connection (``_fatal_error`` → ``_force_close``), never into the engine;
* the engine's send buffer plays the kernel socket buffer (``SO_SNDBUF``); what it cannot take waits in
  the transport's own buffer, whose size drives ``pause_writing``/``resume_writing`` (high/low water);
* ``pause_reading`` stops delivery; unread bytes stay in the engine, whose advertised window closes;
  ``resume_reading`` delivers them and reopens it (application reads open the window: RFC 9293 §3.8.6.2);
* errors as the kernel path reports them (the engine's ``Closed(error)``: ConnectionResetError,
  ConnectionRefusedError, TimeoutError, OSError(EHOSTUNREACH), ...).
"""

from __future__ import annotations

import asyncio
import collections
import copy
from typing import TYPE_CHECKING, Any, cast

from aiostack.aio.sockets import TcpSocket
from aiostack.core.interface import format_ipv4
from aiostack.core.tcp.events import Closed, Connected, DataReceived, EofReceived, WritableAgain
from aiostack.errors import LocalProtocolError

if TYPE_CHECKING:
    from aiostack.aio.driver import Driver
    from aiostack.aio.server import Server
    from aiostack.aio.stack import Stack
    from aiostack.aio.transport import TcpTransport
    from aiostack.core.tcp.connection import TcpConnection

_READ_ALL = 1 << 30
# A StreamReaderProtocol is handed received bytes in pieces of up to 256 KiB, as asyncio's socket
# transports read them (selector_events max_size): consecutive engine segments are joined up to that, a
# larger one goes alone. The StreamReader pauses reading past twice its limit (128 KiB by default), so
# the piece size sets how much one reader wake-up moves; one join copy (the kernel path copies once in
# recv()) costs less than the extra wake-ups 64 KiB pieces would take.
_JOIN_BYTES = 256 * 1024


class TcpEndpoint:
    """One TCP connection of a ``Stack`` as its transport sees it; ``transport`` is the application's side."""

    __slots__ = ("transport", "_stack", "_driver", "_loop", "_conn", "_server", "_waiter", "_protocol",
                 "_buffered", "_zero_copy", "_started", "_ended", "_made", "_lost_delivered", "_lost_exc",
                 "_closing", "_lost", "_eof_written", "_eof_pending", "_eof_done", "_reading",
                 "_abort_on_close", "_wbuf", "_wbuf_bytes", "_protocol_paused", "_high", "_low",
                 "_conn_lost_writes", "_socket")

    def __init__(self, transport: TcpTransport, stack: Stack, conn: TcpConnection,
                 protocol: asyncio.BaseProtocol, server: Server | None, waiter: asyncio.Future[None] | None) -> None:
        self.transport = transport
        self._stack = stack
        self._driver: Driver = stack._ensure_started()  # the per-segment path notifies it directly
        self._loop = stack.loop
        self._conn = conn
        self._server = server
        self._waiter = waiter
        self._protocol: Any = None
        self._buffered = False
        self._zero_copy = False
        self.set_protocol(protocol)
        self._started = False  # connection_made scheduled
        self._ended = False  # the engine reported Closed
        self._made = False  # connection_made has run
        self._lost_delivered = False  # connection_lost has run
        self._lost_exc: BaseException | None = None
        self._closing = False  # close() or abort() called
        self._lost = False  # connection_lost scheduled
        self._eof_written = False
        self._eof_pending = False  # the peer's FIN, to be reported after the data before it
        self._eof_done = False
        self._reading = True
        self._abort_on_close = False  # SO_LINGER {1, 0}
        # Bytes the engine's send buffer had no room for; created on the first such write (an idle
        # connection carries no deque: ~760 bytes each).
        self._wbuf: collections.deque[Any] | None = None
        self._wbuf_bytes = 0
        self._protocol_paused = False
        self._high = stack.driver_config.high_water_bytes
        low = stack.driver_config.low_water_bytes
        self._low = self._high // 4 if low is None else low
        self._conn_lost_writes = 0
        self._socket: TcpSocket | None = None  # the socket-like object, made when first asked for
        if server is not None:
            server._attach(transport)
        stack._register(conn, self, transport)

    def __repr__(self) -> str:
        state = "closing" if self._closing else "open"
        return f"<TcpTransport {self._sockname()} -> {self._peername()} {state} {self._conn.state}>"

    # -- activation -----------------------------------------------------------------------------------
    def _start(self) -> None:
        """Schedule connection_made (an accepted connection, or an opened one once its protocol is set)."""
        self._started = True
        self._loop.call_soon(self._call_connection_made)

    def _activate(self, made: asyncio.Future[None] | None) -> None:
        """Active open, after the handshake and the protocol factory: connection_made, then ``made``."""
        if self._lost:
            if made is not None and not made.done():
                made.set_exception(self._lost_exc or ConnectionResetError("connection lost"))
            return
        self._start()
        if made is not None:
            self._loop.call_soon(_set_result_unless_cancelled, made)

    def _call_connection_made(self) -> None:
        if self._lost_delivered:
            return
        try:
            self._protocol.connection_made(self.transport)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._made = True
            self._fatal_error(exc, "Fatal error: protocol.connection_made() call failed.")
            return
        self._made = True
        if self._reading and not self._lost:
            self._deliver()

    # -- engine events (called by the stack's dispatch) -------------------------------------------------
    def _on_events(self) -> None:
        conn = self._conn
        ev = conn.next_event()
        while ev is not None:
            cls = type(ev)
            if cls is DataReceived:
                if self._made and self._reading:
                    self._deliver()
            elif cls is WritableAgain:
                if self._wbuf_bytes:
                    self._push()
            elif cls is EofReceived:
                self._eof_pending = True
                if self._made and self._reading:
                    self._deliver()
            elif cls is Connected:
                w = self._waiter
                if w is not None:  # the opener's connect() succeeded
                    self._waiter = None
                    if not w.done():
                        w.set_result(None)
            elif cls is Closed:
                self._on_closed(cast(Closed, ev).error)
                return
            ev = conn.next_event()

    def _on_closed(self, error: BaseException | None) -> None:
        self._ended = True
        if error is not None:
            # The application gets a copy: raised, an exception holds its traceback's frames (and through
            # them this endpoint); the connection, out of the cyclic GC, must not reach them.
            error = copy.copy(error)
        self._stack._unregister(self._conn)
        if self._waiter is not None:
            # the connection never got established: the opener gets the error, no protocol callbacks
            if not self._waiter.done():
                self._waiter.set_exception(error or ConnectionResetError("connection closed during handshake"))
            self._waiter = None
            self._lost = self._lost_delivered = True
            self._closing = True
            self._stack._transport_gone(self.transport)
            return
        if self._lost:
            return
        if error is None:
            # orderly end of both directions: deliver what is left; the application still closes
            if self._made and self._reading:
                self._deliver()
            if self._closing:
                self._call_lost_soon(None)
            return
        if self._made and self._reading and not self._closing:
            self._deliver()  # data that arrived before the reset
        if self._wbuf is not None:
            self._wbuf.clear()
        self._wbuf_bytes = 0
        self._closing = True
        self._call_lost_soon(error)

    def _deliver(self) -> None:
        """Hand the engine's readable bytes to the protocol, then the EOF after them."""
        conn = self._conn
        proto = self._protocol
        driver = self._driver
        try:
            if self._buffered:
                while True:
                    avail = conn.recvbuf.bytes
                    if not avail or not self._reading or self._lost:  # the flags are read only while data is left
                        break
                    buf = proto.get_buffer(avail)
                    mv = memoryview(buf).cast("B")
                    room = mv.nbytes
                    if not room:
                        raise RuntimeError("get_buffer() returned an empty buffer")
                    got = 0
                    while got < room:
                        piece = conn.peek()
                        n = len(piece)
                        if not n:
                            break
                        if n > room - got:
                            n = room - got
                            mv[got:room] = memoryview(piece)[:n]
                        else:
                            mv[got:got + n] = piece
                        conn.consume(n)
                        got += n
                    driver.notify(conn)
                    proto.buffer_updated(got)
            elif self._zero_copy:
                # asyncio's own StreamReaderProtocol copies what it is given into the reader's buffer
                # (bytearray.extend): engine segments are joined into pieces of at most _JOIN_BYTES.
                while True:
                    avail = conn.recvbuf.bytes
                    if not avail or not self._reading or self._lost:  # the flags are read only while data is left
                        break
                    piece = conn.peek()
                    n = len(piece)
                    conn.consume(n)
                    data = piece
                    if n < avail and n < _JOIN_BYTES:
                        parts = [piece]
                        got = n
                        while True:
                            nxt = conn.peek()
                            m = len(nxt)
                            if not m or got + m > _JOIN_BYTES:
                                break  # a piece is never cut: it starts the next delivery
                            conn.consume(m)
                            parts.append(nxt)
                            got += m
                        if len(parts) > 1:
                            data = b"".join(parts)
                    driver.notify(conn)
                    proto.data_received(data)
            else:
                while self._reading and not self._lost:
                    data = conn.read(_READ_ALL)
                    if not data:
                        break
                    driver.notify(conn)  # reading may open the window: the host polls the engine
                    proto.data_received(data)
            if self._eof_pending and not self._eof_done and self._reading and not self._lost:
                self._eof_done = True
                keep_open = proto.eof_received()
                if not keep_open:
                    self.close()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol callback failed.")

    # -- reading --------------------------------------------------------------------------------------
    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        # Unread bytes stay in the engine: its receive window closes as they pile up.
        self._reading = False

    def resume_reading(self) -> None:
        if self._reading or self._closing:
            return
        self._reading = True
        if self._made:
            self._loop.call_soon(self._resume_delivery)

    def _resume_delivery(self) -> None:
        if self._reading and not self._lost:
            self._deliver()
            self._stack.kick(self._conn)  # the window update goes out

    # -- writing --------------------------------------------------------------------------------------
    def write(self, data: Any) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._eof_written:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._lost or self._ended:
            self._conn_lost_writes += 1
            return
        if self._wbuf_bytes == 0:
            conn = self._conn
            try:
                n = conn.send(data)
            except LocalProtocolError:  # the engine already ended (its Closed event is on the way)
                self._conn_lost_writes += 1
                return
            self._driver.notify_write(conn)
            size = len(data) if type(data) is bytes else memoryview(data).nbytes
            if n >= size:
                return
            rest = memoryview(data).cast("B")[n:]
            data = rest if type(data) is bytes or _immutable_view(data) else bytes(rest)
        elif type(data) is not bytes:
            data = memoryview(data).cast("B") if _immutable_view(data) else bytes(data)
        buf = self._wbuf
        if buf is None:
            buf = self._wbuf = collections.deque()
        buf.append(data)
        self._wbuf_bytes += len(data) if type(data) is bytes else data.nbytes
        self._stack._blocked_writers.add(self)
        self._maybe_pause_protocol()

    def _push(self) -> None:
        """Move bytes from the transport's buffer into the engine's send buffer as room appears."""
        if self._lost:
            return
        conn = self._conn
        buf = self._wbuf
        if buf is None:
            return
        if not self._closing and not self._eof_written and not conn.writable():
            return  # too little room yet: wait until a third of the buffer is free (as Linux)
        moved = False
        while buf:
            chunk = buf[0]
            size = len(chunk) if type(chunk) is bytes else chunk.nbytes
            try:
                n = conn.send(chunk)
            except LocalProtocolError:
                buf.clear()
                self._wbuf_bytes = 0
                break
            if n:
                moved = True
                self._wbuf_bytes -= n
            if n < size:
                buf[0] = memoryview(chunk)[n:]
                break
            buf.popleft()
        if moved:
            self._stack.kick(conn)
        if not buf:
            self._stack._blocked_writers.discard(self)
            if self._closing:
                self._finish_close()
            elif self._eof_written and not self._ended:
                conn.shutdown_write()
        self._maybe_resume_protocol()

    def write_eof(self) -> None:
        if self._closing or self._eof_written:
            return
        self._eof_written = True
        if not self._wbuf_bytes and not self._ended:
            self._conn.shutdown_write()
            self._stack.kick(self._conn)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high = high
        self._low = low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if self._wbuf_bytes <= self._high or self._protocol_paused:
            return
        self._protocol_paused = True
        self._flow_control("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and self._wbuf_bytes <= self._low:
            self._protocol_paused = False
            self._flow_control("resume_writing")

    def _flow_control(self, name: str) -> None:
        """``protocol.pause_writing()`` / ``resume_writing()``; a failure goes to the loop's exception
        handler (as asyncio's transports do), not to the writer."""
        try:
            getattr(self._protocol, name)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": f"protocol.{name}() failed",
                "exception": exc, "transport": self.transport, "protocol": self._protocol})

    # -- closing --------------------------------------------------------------------------------------
    def close(self) -> None:
        """Flush what is buffered (the engine sends it, then FIN), then ``connection_lost(None)``."""
        if self._closing:
            return
        self._closing = True
        if self._abort_on_close:
            self._force_close(None)
            return
        if not self._wbuf_bytes:
            self._finish_close()

    def _finish_close(self) -> None:
        # The engine owns the connection from here on (like an orphaned kernel socket): it sends what
        # is queued, then FIN, and lingers in TIME-WAIT without the application.
        if self._lost:
            return
        self._stack._blocked_writers.discard(self)
        self._stack._unregister(self._conn)
        if not self._ended:
            self._conn.close()
            self._stack.kick(self._conn)
        self._call_lost_soon(None)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        self._closing = True
        if self._wbuf is not None:
            self._wbuf.clear()
        self._wbuf_bytes = 0
        self._stack._blocked_writers.discard(self)
        self._stack._unregister(self._conn)
        if not self._ended:
            self._ended = True
            self._conn.abort()  # RFC 9293 §3.10.5: ABORT sends a RST
            self._stack.kick(self._conn)
        self._call_lost_soon(exc)

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        if not isinstance(exc, OSError):
            self._loop.call_exception_handler({
                "message": message, "exception": exc, "transport": self.transport, "protocol": self._protocol})
        self._force_close(exc)

    def _call_lost_soon(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._lost_exc = exc
        self._closing = True
        self._reading = False
        if self._waiter is not None:
            if not self._waiter.done():
                self._waiter.set_exception(exc or ConnectionAbortedError("transport closed"))
            self._waiter = None
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        self._lost_delivered = True
        try:
            if self._made:
                self._protocol.connection_lost(exc)
        finally:
            self._stack._transport_gone(self.transport)
            server = self._server
            if server is not None:
                server._detach(self.transport)
                self._server = None

    # -- misc -----------------------------------------------------------------------------------------
    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)
        self._zero_copy = type(protocol) is asyncio.StreamReaderProtocol

    # Addresses and the socket-like object are made on request (an idle connection does not carry them).
    def _peername(self) -> tuple[str, int]:
        return (format_ipv4(self._conn.remote_ip), self._conn.remote_port)

    def _sockname(self) -> tuple[str, int]:
        return (format_ipv4(self._conn.local_ip), self._conn.local_port)

    def _socket_object(self) -> TcpSocket:
        sock = self._socket
        if sock is None:
            sock = self._socket = TcpSocket(self)
        return sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peername()
        if name == "sockname":
            return self._sockname()
        if name == "socket":
            return self._socket_object()
        if name == "tcp_info":
            return self._conn.info()
        return default


def _immutable_view(data: Any) -> bool:
    """A read-only memoryview of ``bytes``: its contents cannot change, so it is kept by reference (in a
    view of our own: the caller may release theirs). Other buffers are copied (the caller may reuse them)."""
    return type(data) is memoryview and data.readonly and type(data.obj) is bytes and data.c_contiguous


def _set_result_unless_cancelled(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and not fut.done():
        fut.set_result(None)
