"""``UdpTransport``: an ``asyncio.DatagramTransport`` over a host ``UdpEndpoint``.

Datagrams go out at once (UDP keeps no send buffer, so ``get_write_buffer_size()`` is 0 unless a send
failed for lack of an ARP entry, which the host queues itself). ICMP errors quoting our datagrams
(RFC 1122 §4.1.3.3) reach ``error_received``; like Linux, only a connected endpoint hears them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiostack.aio.sockets import UdpSocket
from aiostack.core.interface import format_ipv4, to_ip
from aiostack.core.udp import UdpDatagram

if TYPE_CHECKING:
    from aiostack.aio.stack import Stack


class UdpTransport(asyncio.DatagramTransport):
    def __init__(self, stack: Stack, endpoint: Any, protocol: asyncio.DatagramProtocol,
                 remote: tuple[str, int] | None) -> None:
        super().__init__()
        self._stack = stack
        self._loop = stack.loop
        self._ep = endpoint
        self._protocol: Any = protocol
        self._closing = False
        self._lost = False
        self._remote = remote
        self._sockname = (format_ipv4(endpoint.local_ip), endpoint.local_port)
        self._socket = UdpSocket(self)
        self._addr_cache: dict[int, str] = {}
        stack._register(endpoint, self)
        self._loop.call_soon(self._protocol.connection_made, self)

    def __repr__(self) -> str:
        return f"<UdpTransport {self._sockname} -> {self._remote}>"

    def _on_events(self) -> None:
        ep = self._ep
        proto = self._protocol
        cache = self._addr_cache
        ev = ep.next_event()
        while ev is not None:
            if self._lost:
                return
            try:
                if ev.__class__ is UdpDatagram:
                    ip = ev.src_ip
                    host = cache.get(ip)
                    if host is None:
                        if len(cache) > 256:
                            cache.clear()
                        host = cache[ip] = format_ipv4(ip)
                    proto.datagram_received(ev.data, (host, ev.src_port))
                elif self._remote is not None:
                    proto.error_received(ev.exception())
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.datagram_received() call failed.")
                return
            ev = ep.next_event()

    def sendto(self, data: Any, addr: Any = None) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._remote is not None:
            if addr not in (None, self._remote):
                raise ValueError(f"Invalid address: must be None or {self._remote}")
            addr = None
        elif addr is None:
            raise ValueError("Invalid address: must be given for an unconnected endpoint")
        if self._closing:
            return
        try:
            if addr is None:
                self._ep.sendto(data, now_us=self._stack.now_us())
            else:
                self._ep.sendto(data, to_ip(addr[0]), int(addr[1]), now_us=self._stack.now_us())
        except OSError as exc:
            self._protocol.error_received(exc)
            return
        self._stack.kick()

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._finish(None)

    def abort(self) -> None:
        self._closing = True
        self._finish(None)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if not isinstance(exc, OSError):
            self._loop.call_exception_handler({
                "message": message, "exception": exc, "transport": self, "protocol": self._protocol})
        self._closing = True
        self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._stack._unregister(self._ep)
        self._ep.close()
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._stack._transport_gone(self)

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol

    def get_protocol(self) -> Any:
        return self._protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return self._sockname
        if name == "peername":
            return self._remote if self._remote is not None else default
        if name == "socket":
            return self._socket
        return default
