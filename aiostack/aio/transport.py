"""``TcpTransport``: an ``asyncio.Transport`` over one sans-I/O ``TcpConnection``.

The application's handle: a subclass of ``asyncio.Transport`` (so ``isinstance`` checks of asyncio code
hold) whose methods forward to its ``TcpEndpoint`` (endpoint.py), which holds the state and does the work —
the contract (callback order, errors, flow control) is documented there. A subclass of a Python class
cannot be compiled to a C type, the endpoint can: the per-segment path never touches this object, and an
application's ``write`` costs one slot read here before it runs as C.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiostack.aio.endpoint import TcpEndpoint

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

if TYPE_CHECKING:
    from aiostack.aio.server import Server
    from aiostack.aio.sockets import TcpSocket
    from aiostack.aio.stack import Stack


class TcpTransport(asyncio.Transport):
    """One TCP connection of a ``Stack`` seen as an asyncio transport."""

    __slots__ = ("_e", "__weakref__")

    _start_tls_compatible = True

    def __init__(self, stack: Stack, conn: Any, protocol: asyncio.BaseProtocol, *,
                 server: Server | None = None, waiter: asyncio.Future[None] | None = None) -> None:
        super().__init__()
        self._e = TcpEndpoint(self, stack, conn, protocol, server, waiter)

    def __repr__(self) -> str:
        return repr(self._e)

    # -- reading --------------------------------------------------------------------------------------
    def is_reading(self) -> bool:
        return self._e.is_reading()

    def pause_reading(self) -> None:
        self._e.pause_reading()

    def resume_reading(self) -> None:
        self._e.resume_reading()

    # -- writing --------------------------------------------------------------------------------------
    # compiled, ``e`` is the endpoint's C type: ``write`` is a C call
    @cython.locals(e=TcpEndpoint)
    def write(self, data: Any) -> None:
        e = self._e
        e.write(data)

    @cython.locals(e=TcpEndpoint)
    def writelines(self, list_of_data: Any) -> None:
        e = self._e
        for data in list_of_data:
            e.write(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self._e.write_eof()

    def get_write_buffer_size(self) -> int:
        return int(self._e._wbuf_bytes)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        e = self._e
        return (e._low, e._high)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._e.set_write_buffer_limits(high, low)

    # -- closing --------------------------------------------------------------------------------------
    def is_closing(self) -> bool:
        return bool(self._e._closing)

    def close(self) -> None:
        """Flush what is buffered (the engine sends it, then FIN), then ``connection_lost(None)``."""
        self._e.close()

    def abort(self) -> None:
        self._e._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        """asyncio's SSLProtocol ends its transport with this (as the stack does when it closes)."""
        self._e._force_close(exc)

    # -- misc -----------------------------------------------------------------------------------------
    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._e.set_protocol(protocol)

    def get_protocol(self) -> Any:
        return self._e._protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._e.get_extra_info(name, default)

    # -- for the stack --------------------------------------------------------------------------------
    def _start(self) -> None:
        self._e._start()

    def _activate(self, made: asyncio.Future[None] | None) -> None:
        self._e._activate(made)

    def _on_events(self) -> None:
        self._e._on_events()

    def _socket_object(self) -> TcpSocket:
        return self._e._socket_object()
