"""``Server``: listening TCP endpoints of a ``Stack`` with asyncio's ``Server`` semantics.

``close()`` stops listening (new connection attempts are refused with a RST) and leaves established
connections alone; ``wait_closed()`` waits until the server is closed *and* its connections are gone
(Python 3.12+ behaviour); ``close_clients()``/``abort_clients()`` (3.13) close or abort them. Transports
register with ``_attach``/``_detach``.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_mod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiostack.aio.sockets import ListenerSocket
from aiostack.aio.transport import TcpTransport
from aiostack.core.interface import format_ipv4

if TYPE_CHECKING:
    from aiostack.aio.stack import Stack


class Server(asyncio.AbstractServer):
    def __init__(self, stack: Stack, listeners: list[Any], protocol_factory: Callable[[], Any], *,
                 ssl: ssl_mod.SSLContext | None = None, ssl_handshake_timeout: float | None = None,
                 ssl_shutdown_timeout: float | None = None) -> None:
        self._stack = stack
        self._loop = stack.loop
        self._listeners = listeners
        self._protocol_factory = protocol_factory
        self._ssl = ssl
        self._ssl_handshake_timeout = ssl_handshake_timeout
        self._ssl_shutdown_timeout = ssl_shutdown_timeout
        self._serving = False
        self._closed = False
        self._clients: set[TcpTransport] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._serving_forever_fut: asyncio.Future[None] | None = None
        self._keep_alive = False
        self._sockets = [ListenerSocket((format_ipv4(ln.local_ip), ln.local_port)) for ln in listeners]

    def __repr__(self) -> str:
        return f"<aiostack Server sockets={self._sockets!r}>"

    # -- bookkeeping ----------------------------------------------------------------------------------
    def _attach(self, transport: TcpTransport) -> None:
        self._clients.add(transport)

    def _detach(self, transport: TcpTransport) -> None:
        self._clients.discard(transport)
        if not self._clients and self._closed:
            self._wakeup()

    def _wakeup(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    # -- accepting ------------------------------------------------------------------------------------
    def _accept_ready(self, listener: Any) -> None:
        """Take the established connections the listener queued (called by the stack's dispatch)."""
        if not self._serving:
            return
        while (conn := listener.accept()) is not None:
            self._stack._new_passive(self, conn)

    def _make_protocol(self) -> Any:
        protocol = self._protocol_factory()
        if self._ssl is None:
            return protocol
        from asyncio import sslproto

        waiter = self._loop.create_future()
        ssl_protocol = sslproto.SSLProtocol(
            self._loop, protocol, self._ssl, waiter, server_side=True,
            ssl_handshake_timeout=self._ssl_handshake_timeout,  # type: ignore[arg-type]
            ssl_shutdown_timeout=self._ssl_shutdown_timeout)
        waiter.add_done_callback(_consume_exception)
        return ssl_protocol

    # -- AbstractServer -------------------------------------------------------------------------------
    @property
    def sockets(self) -> tuple[ListenerSocket, ...]:
        return tuple(self._sockets) if not self._closed else ()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._start_serving()
        await asyncio.sleep(0)

    def _start_serving(self) -> None:
        if self._serving or self._closed:
            return
        self._serving = True
        for ln in self._listeners:
            self._accept_ready(ln)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._serving = False
        for ln in self._listeners:
            self._stack._close_listener(ln)
        self._listeners = []
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None
        if not self._clients:
            self._wakeup()

    def close_clients(self) -> None:
        for t in list(self._clients):
            t.close()

    def abort_clients(self) -> None:
        for t in list(self._clients):
            t.abort()

    async def wait_closed(self) -> None:
        if self._closed and not self._clients:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter

    async def serve_forever(self) -> None:
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


def _consume_exception(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()
