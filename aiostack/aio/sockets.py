"""Socket-like objects that ``get_extra_info("socket")`` and ``Server.sockets`` return.

They are not file descriptors: they answer ``getsockname``/``getpeername``/``family``/``type`` and map
the socket options asyncio programs set (TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL,
TCP_KEEPCNT, SO_RCVBUF, SO_SNDBUF, SO_LINGER) onto the TCP engine. Unknown options raise
``OSError(ENOPROTOOPT)``, as the kernel does for options it does not know.
"""

from __future__ import annotations

import dataclasses
import errno
import socket
import struct
from typing import Any

SOL_SOCKET = socket.SOL_SOCKET
IPPROTO_TCP = socket.IPPROTO_TCP
_LINGER = struct.Struct("ii")
SECOND_US = 1_000_000
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


def _as_int(value: Any) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return int.from_bytes(raw[:4], "little", signed=True) if raw else 0
    return int(value)


class _SocketBase:
    family = socket.AF_INET
    proto = 0

    def fileno(self) -> int:
        return -1

    def gettimeout(self) -> float:
        return 0.0

    def __repr__(self) -> str:
        try:
            name = self.getsockname()  # type: ignore[attr-defined]
        except OSError:
            name = None
        return f"<aiostack {type(self).__name__} laddr={name}>"


class TcpSocket(_SocketBase):
    """What ``transport.get_extra_info("socket")`` returns for an aiostack TCP transport."""

    type = socket.SOCK_STREAM

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    @property
    def _conn(self) -> Any:
        return self._transport._conn

    def getsockname(self) -> tuple[str, int]:
        sockname: tuple[str, int] = self._transport.get_extra_info("sockname")
        return sockname

    def getpeername(self) -> tuple[str, int]:
        peer: tuple[str, int] = self._transport.get_extra_info("peername")
        return peer

    def setsockopt(self, level: int, option: int, value: Any, optlen: int | None = None) -> None:
        conn = self._conn
        if level == IPPROTO_TCP and option == socket.TCP_NODELAY:
            conn.set_nodelay(bool(_as_int(value)))
        elif level == SOL_SOCKET and option == socket.SO_KEEPALIVE:
            conn.set_keepalive(bool(_as_int(value)), now_us=self._transport._stack.now_us())
        elif level == IPPROTO_TCP and option == socket.TCP_KEEPIDLE:
            conn.set_keepalive(conn.keepalive, idle_us=self._positive(value) * SECOND_US,
                               now_us=self._transport._stack.now_us())
        elif level == IPPROTO_TCP and option == socket.TCP_KEEPINTVL:
            conn.set_keepalive(conn.keepalive, interval_us=self._positive(value) * SECOND_US,
                               now_us=self._transport._stack.now_us())
        elif level == IPPROTO_TCP and option == socket.TCP_KEEPCNT:
            conn.set_keepalive(conn.keepalive, count=self._positive(value), now_us=self._transport._stack.now_us())
        elif level == IPPROTO_TCP and option == TCP_USER_TIMEOUT:
            conn.set_user_timeout(max(0, _as_int(value)) * 1000)
        elif level == SOL_SOCKET and option == socket.SO_SNDBUF:
            conn.sendbuf.capacity = self._positive(value)
        elif level == SOL_SOCKET and option == socket.SO_RCVBUF:
            # The advertised window follows the new size (the scale chosen at SYN time stays).
            conn.config = dataclasses.replace(conn.config, recv_buffer_bytes=self._positive(value))
        elif level == SOL_SOCKET and option == socket.SO_LINGER:
            if isinstance(value, (bytes, bytearray, memoryview)):
                onoff, linger = _LINGER.unpack(bytes(value))
            else:
                onoff, linger = value
            # SO_LINGER on with a zero timeout: close() resets the connection (RFC 9293 §3.10.5 ABORT).
            self._transport._abort_on_close = bool(onoff) and linger == 0
        elif level == SOL_SOCKET and option == socket.SO_REUSEADDR:
            pass  # TIME-WAIT never blocks a new listener in aiostack; accepted for compatibility
        else:
            raise OSError(errno.ENOPROTOOPT, "Protocol not available")
        self._transport._stack.kick(conn)

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        conn = self._conn
        if level == IPPROTO_TCP and option == socket.TCP_NODELAY:
            value = int(not conn.nagle)
        elif level == SOL_SOCKET and option == socket.SO_KEEPALIVE:
            value = int(conn.keepalive)
        elif level == IPPROTO_TCP and option == socket.TCP_KEEPIDLE:
            value = conn.keepalive_idle_us // SECOND_US
        elif level == IPPROTO_TCP and option == socket.TCP_KEEPINTVL:
            value = conn.keepalive_interval_us // SECOND_US
        elif level == IPPROTO_TCP and option == socket.TCP_KEEPCNT:
            value = conn.keepalive_count
        elif level == IPPROTO_TCP and option == TCP_USER_TIMEOUT:
            value = conn.user_timeout_us // 1000
        elif level == SOL_SOCKET and option == socket.SO_SNDBUF:
            value = conn.sendbuf.capacity
        elif level == SOL_SOCKET and option == socket.SO_RCVBUF:
            value = conn.config.recv_buffer_bytes
        elif level == SOL_SOCKET and option == socket.SO_LINGER:
            on = bool(self._transport._abort_on_close)
            return _LINGER.pack(int(on), 0) if buflen else int(on)
        elif level == SOL_SOCKET and option == socket.SO_TYPE:
            value = socket.SOCK_STREAM
        elif level == SOL_SOCKET and option == socket.SO_ERROR:
            value = 0
        else:
            raise OSError(errno.ENOPROTOOPT, "Protocol not available")
        return value.to_bytes(4, "little", signed=True)[:buflen] if buflen else value

    @staticmethod
    def _positive(value: Any) -> int:
        v = _as_int(value)
        if v <= 0:
            raise OSError(errno.EINVAL, "Invalid argument")
        return v


class ListenerSocket(_SocketBase):
    """One entry of ``Server.sockets``: a bound, listening address."""

    type = socket.SOCK_STREAM

    def __init__(self, address: tuple[str, int]) -> None:
        self._address = address

    def getsockname(self) -> tuple[str, int]:
        return self._address

    def getpeername(self) -> tuple[str, int]:
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")

    def setsockopt(self, level: int, option: int, value: Any, optlen: int | None = None) -> None:
        if level == SOL_SOCKET and option in (socket.SO_REUSEADDR, getattr(socket, "SO_REUSEPORT", 15)):
            return
        raise OSError(errno.ENOPROTOOPT, "Protocol not available")

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        if level == SOL_SOCKET and option == socket.SO_ACCEPTCONN:
            return 1
        if level == SOL_SOCKET and option == socket.SO_TYPE:
            return socket.SOCK_STREAM
        raise OSError(errno.ENOPROTOOPT, "Protocol not available")


class UdpSocket(_SocketBase):
    """What a datagram transport's ``get_extra_info("socket")`` returns."""

    type = socket.SOCK_DGRAM

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def getsockname(self) -> tuple[str, int]:
        sockname: tuple[str, int] = self._transport.get_extra_info("sockname")
        return sockname

    def getpeername(self) -> tuple[str, int]:
        peer = self._transport.get_extra_info("peername")
        if peer is None:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return peer

    def setsockopt(self, level: int, option: int, value: Any, optlen: int | None = None) -> None:
        if level == SOL_SOCKET and option in (socket.SO_REUSEADDR, socket.SO_BROADCAST):
            return
        raise OSError(errno.ENOPROTOOPT, "Protocol not available")

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        if level == SOL_SOCKET and option == socket.SO_TYPE:
            return socket.SOCK_DGRAM
        raise OSError(errno.ENOPROTOOPT, "Protocol not available")
