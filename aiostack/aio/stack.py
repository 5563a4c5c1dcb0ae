"""``Stack``: a sans-I/O ``Host`` plus its link devices, run on an asyncio event loop.

``aiostack.Stack()`` has a loopback interface (127.0.0.1/8) and nothing else; ``Stack.pair()`` builds two
stacks joined by an in-memory link (``LoopbackPair`` or a ``Netsim``); ``Stack.on_tap()`` puts a stack on
a TAP device (plain or offload mode). ``async with`` starts and stops a stack: closing flushes what it
can, then aborts what is left; no reader, timer or callback stays scheduled.

Entry points with the stdlib's signatures live here (``create_connection``, ``create_server``,
``create_datagram_endpoint``, ``getaddrinfo``, ``open_connection``, ``start_server``, ``start_tls``), so
a stack can be used directly or behind the drop-in loop (``aiostack.aio.loop``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import socket
import ssl as ssl_mod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiostack.aio.datagram import UdpTransport
from aiostack.aio.driver import Driver
from aiostack.aio.endpoint import TcpEndpoint
from aiostack.aio.netstat import NetstatRow, netstat_rows
from aiostack.aio.resolver import Resolver
from aiostack.aio.server import Server
from aiostack.aio.transport import TcpTransport
from aiostack.config import DriverConfig, IpConfig, TcpConfig
from aiostack.core.host import Host
from aiostack.core.interface import to_ip
from aiostack.stats import merge

_DEFAULT_LIMIT = 2**16  # asyncio.streams._DEFAULT_LIMIT


class _Sink:
    """Drains the events of a connection the application has closed (the engine finishes it alone)."""

    __slots__ = ("_stack", "_conn")

    def __init__(self, stack: Stack, conn: Any) -> None:
        self._stack = stack
        self._conn = conn

    def _on_events(self) -> None:
        conn = self._conn
        while (ev := conn.next_event()) is not None:
            if type(ev).__name__ == "Closed":
                self._stack._objs.pop(conn, None)
                return
        if conn.recv_buffer_bytes:
            conn.consume(conn.recv_buffer_bytes)  # nobody will read it: keep the window open
            self._stack.kick(conn)


# compiled (stack.pxd), the tables are typed and ``ep`` is the endpoint's C type: a transport's events
# are a C call
def _dispatch_ready(objs: dict[Any, Any], listeners: dict[Any, Any], ready: list[Any]) -> None:
    """Hand each object ``host.pop_ready()`` returned to its owner: a transport's endpoint (or a UDP
    transport, a closed connection's sink) by the object, a listener's server."""
    for obj in ready:
        h = objs.get(obj)
        if h is not None:
            if type(h) is TcpEndpoint:
                ep = h
                ep._on_events()
            else:
                h._on_events()
            continue
        server = listeners.get(obj)
        if server is not None:
            server._accept_ready(obj)
        # else: a connection still in a listener's accept queue; its events wait for accept()


class Stack:
    """A user-space TCP/IP stack on an asyncio loop. See the module docstring."""

    def __init__(self, *, loopback: bool = True, tcp_config: TcpConfig | None = None,
                 ip_config: IpConfig | None = None, driver_config: DriverConfig | None = None,
                 seed: int | None = None, hosts: dict[str, str] | None = None,
                 nameservers: Sequence[str | tuple[str, int]] = (), resolver_timeout: float = 2.0,
                 resolver_attempts: int = 2, name: str = "stack") -> None:
        self.name = name
        self.seed = seed
        self.rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()
        isn_secret = self.rng.randbytes(16) if seed is not None else os.urandom(16)
        if tcp_config is None:
            # listen(2)'s backlog bounds the queues, up to Linux's somaxconn (4096) as on the kernel path
            tcp_config = TcpConfig(accept_backlog=4096, syn_backlog=4096)
        self.host = Host(rng=self.rng, isn_secret=isn_secret, ip_config=ip_config, tcp_config=tcp_config)
        self.driver_config = driver_config or DriverConfig()
        self.devices: dict[int, Any] = {}
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # bound on start()
        self._driver: Driver | None = None
        # Keyed by the objects themselves (identity hash: no int made per look-up, as id() would)
        self._objs: dict[Any, Any] = {}  # conn or endpoint -> transport (or _Sink)
        self._listeners: dict[Any, Server] = {}  # listener -> server
        self._transports: set[Any] = set()  # live transports (leak checks, close)
        self._servers: set[Server] = set()
        self._blocked_writers: set[TcpEndpoint] = set()  # transports with bytes the engine had no room for
        self._closed = False
        self.resolver = Resolver(self, hosts=hosts, nameservers=nameservers, timeout=resolver_timeout,
                                 attempts=resolver_attempts)
        if loopback:
            from aiostack.link.loopback import Loopback

            self.add_device(Loopback(mtu=65535), "127.0.0.1/8", name="lo", loopback=True)

    def __repr__(self) -> str:
        addrs = ", ".join(f"{i.name}={i.address_cidr if hasattr(i, 'address_cidr') else i.ip}"
                          for i in self.host.interfaces())
        return f"<aiostack.Stack {self.name} [{addrs}]>"

    # -- building -------------------------------------------------------------------------------------
    def add_device(self, device: Any, address_cidr: str, *, name: str | None = None,
                   gateway: str | None = None, loopback: bool = False) -> int:
        """Put an interface with ``address_cidr`` on ``device``; returns its ifindex."""
        ifname = name or f"eth{len([d for d in self.devices.values() if d is not None])}"
        ifindex = self.host.add_interface(ifname, device.mac, address_cidr, mtu=device.caps.mtu,
                                          caps=device.caps, loopback=loopback)
        self.devices[ifindex] = device
        if gateway is not None:
            self.host.add_route("0.0.0.0/0", gateway, ifindex)
        if self._driver is not None:
            self._driver.attach(ifindex, device)
        return ifindex

    @classmethod
    def pair(cls, *, mtu: int = 65535, link: Any = None, addresses: tuple[str, str] = ("198.18.0.1/24", "198.18.0.2/24"),
             **kw: Any) -> tuple[Stack, Stack]:
        """Two stacks joined by an in-memory link: ``link`` is None (a ``LoopbackPair`` of ``mtu``), a
        ``Netsim`` or any object with two device ends ``a`` and ``b``."""
        if link is None:
            from aiostack.link.loopback import LoopbackPair

            link = LoopbackPair(mtu=mtu)
        a = cls(name="a", **kw)
        b = cls(name="b", **kw)
        a.add_device(link.a, addresses[0], name="eth0")
        b.add_device(link.b, addresses[1], name="eth0")
        return a, b

    @classmethod
    def on_tap(cls, tap_name: str, address_cidr: str, *, offload: bool = False, gateway: str | None = None,
               netns: str | None = None, mtu: int = 1500, **kw: Any) -> Stack:
        """A stack on the TAP device ``tap_name`` (plain frames, or virtio-net offload with GSO/CSUM);
        ``netns`` (a namespace path) creates the device inside that network namespace."""
        from aiostack.link.tap import Tap

        tap_kw: dict[str, Any] = {"offload": offload, "mtu": mtu}
        if netns is not None:
            tap_kw["netns"] = netns
        device = Tap(tap_name, **tap_kw)
        stack = cls(**kw)
        stack.add_device(device, address_cidr, name=tap_name, gateway=gateway)
        return stack

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> Stack:
        self._ensure_started()
        return self

    def _ensure_started(self) -> Driver:
        driver = self._driver
        if driver is not None:
            return driver
        if self._closed:
            raise RuntimeError("the stack is closed")
        self.loop = asyncio.get_running_loop()
        # the stack's tables bound once: the driver's dispatch reads no attribute of the stack
        dispatch = functools.partial(_dispatch_ready, self._objs, self._listeners)
        driver = self._driver = Driver(self.loop, self.host, self.driver_config, dispatch,
                                       self._refill, self._blocked_writers)
        for ifindex, device in self.devices.items():
            driver.attach(ifindex, device)
        return driver

    async def __aenter__(self) -> Stack:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self, *, flush_iterations: int = 50) -> None:
        """Close servers and transports, flush for a bounded number of loop iterations, then abort."""
        if self._closed:
            return
        self._closed = True
        driver = self._driver
        for server in list(self._servers):
            server.close()
        for t in list(self._transports):
            t.close()
        if driver is not None:
            for _ in range(flush_iterations):
                if not self._busy():
                    break
                driver.flush()
                await asyncio.sleep(0)
        for t in list(self._transports):
            if isinstance(t, TcpTransport):
                t._force_close(None)
            else:
                t.abort()
        for conn in self.host.tcp_connections():
            if int(conn.state) not in (0, 10):  # neither CLOSED nor TIME-WAIT: reset it
                conn.abort()
                self.host.notify(conn)
        if driver is not None:
            driver.flush()
            driver.close()
        for _ in range(3):  # let the scheduled connection_lost callbacks run
            await asyncio.sleep(0)
        for device in self.devices.values():
            device.close()
        self._objs.clear()
        self._blocked_writers.clear()

    def _busy(self) -> bool:
        if self._blocked_writers:
            return True
        for conn in self.host.tcp_connections():
            if conn.send_buffer_bytes and int(conn.state) in (4, 5, 7, 8, 9):
                return True
        return False

    @property
    def closed(self) -> bool:
        return self._closed

    # -- driver plumbing ------------------------------------------------------------------------------
    def now_us(self) -> int:
        return self._ensure_started().now_us()

    def kick(self, conn: Any = None) -> None:
        """A user call changed ``conn`` (or anything): flush once in this loop iteration. (A transport's
        per-segment path tells the driver directly: ``Driver.notify`` / ``Driver.notify_write``.)"""
        if conn is not None:
            self.host.notify(conn)
        driver = self._driver
        if driver is not None:
            driver.kick()

    def _refill(self) -> None:
        if self._blocked_writers:
            for t in list(self._blocked_writers):
                t._push()

    def _register(self, obj: Any, handler: Any, transport: Any = None) -> None:
        """``handler._on_events()`` runs when ``obj`` has events; ``transport`` (default: the handler) is
        what the application holds."""
        self._objs[obj] = handler
        self._transports.add(handler if transport is None else transport)

    def _unregister(self, obj: Any) -> None:
        h = self._objs.get(obj)
        if h is not None and not isinstance(h, _Sink):
            if hasattr(obj, "recv_buffer_bytes") and int(obj.state) != 0:
                self._objs[obj] = _Sink(self, obj)
            else:
                del self._objs[obj]

    def _transport_gone(self, transport: Any) -> None:
        self._transports.discard(transport)

    def live_transports(self) -> list[Any]:
        """Transports and servers not closed yet (for leak checks and the socket table)."""
        return [*self._transports, *(s for s in self._servers if s.sockets or s._clients)]

    def _new_passive(self, server: Server, conn: Any) -> None:
        try:
            protocol = server._make_protocol()
        except Exception as exc:  # as asyncio's accept path: report it, drop this connection
            self.loop.call_exception_handler({"message": "Error on transport creation for incoming connection",
                                              "exception": exc})
            conn.abort()
            self.kick(conn)
            return
        transport = TcpTransport(self, conn, protocol, server=server)
        if server._keep_alive:
            transport._socket_object().setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        transport._start()
        transport._on_events()

    def _close_listener(self, listener: Any) -> None:
        self._listeners.pop(listener, None)
        # connections completed but never accepted: reset them (the kernel does the same on close)
        for conn in listener.close():
            conn.abort()
            self.host.notify(conn)
        self.host.release(listener)
        self.kick()

    # -- observability --------------------------------------------------------------------------------
    def netstat(self) -> list[NetstatRow]:
        """One row per socket: proto, local, foreign, state, send-q, recv-q (like ``netstat -tun``)."""
        return netstat_rows(self)

    def stats(self) -> dict[str, int]:
        """Every counter of the stack as one flat dict (``"tcp.segments_sent"``, ``"ip.drops.<r>"``)."""
        groups: list[Any] = [self.host.counters()]
        for device in self.devices.values():
            c = getattr(device, "counters", None)
            if c is not None:
                groups.append(c)
        out = merge(*groups)
        if self._driver is not None:
            out["aio.flushes"] = self._driver.flushes
            out["aio.drops.tx_backlog_full"] = self._driver.backlog_drops
        return out

    # -- name resolution ------------------------------------------------------------------------------
    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0,
                          flags: int = 0) -> list[tuple[Any, ...]]:
        """``loop.getaddrinfo`` over aiostack's resolver (IPv4 only)."""
        if family not in (0, socket.AF_INET, socket.AF_UNSPEC):
            raise socket.gaierror(socket.EAI_FAMILY, "ai_family not supported")
        port_num = _port_number(port, type)
        if host is None or host == "":
            addrs = ["0.0.0.0" if flags & socket.AI_PASSIVE else "127.0.0.1"]
        else:
            if isinstance(host, bytes):
                host = host.decode("idna")
            addrs = await self.resolver.resolve(str(host), numeric_only=bool(flags & socket.AI_NUMERICHOST))
        kinds = [(type, proto)] if type else [(socket.SOCK_STREAM, socket.IPPROTO_TCP),
                                              (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
                                              (socket.SOCK_RAW, 0)]
        out = []
        for a in addrs:
            for t, p in kinds:
                if not p:
                    p = {int(socket.SOCK_STREAM): int(socket.IPPROTO_TCP),
                         int(socket.SOCK_DGRAM): int(socket.IPPROTO_UDP)}.get(int(t), 0)
                out.append((socket.AF_INET, t, p, "", (a, port_num)))
        return out

    async def _resolve(self, host: Any, port: Any, type: int) -> list[tuple[str, int]]:
        if isinstance(host, str) and _is_ipv4(host):
            return [(host, _port_number(port, type))]
        infos = await self.getaddrinfo(host, port, type=type)
        seen: list[tuple[str, int]] = []
        for info in infos:
            if info[4] not in seen:
                seen.append(info[4])
        return seen

    # -- TCP entry points -----------------------------------------------------------------------------
    async def create_connection(
            self, protocol_factory: Callable[[], Any], host: Any = None, port: Any = None, *,
            ssl: Any = None, family: int = 0, proto: int = 0, flags: int = 0, sock: Any = None,
            local_addr: Any = None, server_hostname: str | None = None,
            ssl_handshake_timeout: float | None = None, ssl_shutdown_timeout: float | None = None,
            happy_eyeballs_delay: float | None = None, interleave: int | None = None,
            all_errors: bool = False) -> tuple[Any, Any]:
        """``loop.create_connection`` on this stack (same parameters and defaults)."""
        if server_hostname is not None and not ssl:
            raise ValueError("server_hostname is only meaningful with ssl")
        if server_hostname is None and ssl:
            if not host:
                raise ValueError("You must set server_hostname when using ssl without a host")
            server_hostname = host
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if sock is not None:
            raise ValueError("aiostack cannot adopt a kernel socket (sock=)")
        if host is None or port is None:
            raise ValueError("host and port was not specified and no sock specified")
        self._ensure_started()
        targets = await self._resolve(host, port, socket.SOCK_STREAM)
        local: tuple[int, int] | None = None
        if local_addr is not None:
            lh, lp = local_addr[0], local_addr[1]
            lres = await self._resolve(lh or "0.0.0.0", lp, socket.SOCK_STREAM)
            local = (to_ip(lres[0][0]), lres[0][1])
        exceptions: list[OSError] = []
        for ip, p in targets:
            try:
                transport = await self._connect_one(ip, p, local)
                break
            except OSError as exc:
                exceptions.append(exc)
        else:
            if len(exceptions) == 1 or all_errors is False and len({str(e) for e in exceptions}) == 1:
                raise exceptions[0]
            if all_errors:
                raise ExceptionGroup("create_connection failed", exceptions)
            raise OSError(f"Multiple exceptions: {', '.join(str(e) for e in exceptions)}")
        return await self._make_transport(transport, protocol_factory, ssl, server_hostname,
                                          ssl_handshake_timeout, ssl_shutdown_timeout)

    async def _connect_one(self, ip: str, port: int, local: tuple[int, int] | None) -> TcpTransport:
        waiter: asyncio.Future[None] = self.loop.create_future()
        now = self.now_us()
        if local is not None:
            conn = self.host.tcp_connect(to_ip(ip), port, local_ip=local[0] or None, local_port=local[1],
                                         now_us=now)
        else:
            conn = self.host.tcp_connect(to_ip(ip), port, now_us=now)
        # The protocol is attached once connected (asyncio calls the factory after connect() succeeded).
        transport = TcpTransport(self, conn, asyncio.Protocol(), waiter=waiter)
        self.kick(conn)
        try:
            await waiter
        except BaseException:
            transport._force_close(None)
            raise
        return transport

    async def _make_transport(self, transport: TcpTransport, protocol_factory: Callable[[], Any], ssl: Any,
                              server_hostname: str | None, ssl_handshake_timeout: float | None,
                              ssl_shutdown_timeout: float | None) -> tuple[Any, Any]:
        protocol = protocol_factory()
        if not ssl:
            transport.set_protocol(protocol)
            made: asyncio.Future[None] = self.loop.create_future()
            transport._activate(made)
            try:
                await made
            except BaseException:
                transport.close()
                raise
            return transport, protocol
        from asyncio import sslproto

        sslcontext = None if isinstance(ssl, bool) else ssl
        waiter: asyncio.Future[None] = self.loop.create_future()
        ssl_protocol = sslproto.SSLProtocol(
            self.loop, protocol, sslcontext, waiter, False, server_hostname,  # type: ignore[arg-type]
            ssl_handshake_timeout=ssl_handshake_timeout,  # type: ignore[arg-type]
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        transport.set_protocol(ssl_protocol)
        transport._activate(None)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return ssl_protocol._app_transport, protocol

    async def create_server(
            self, protocol_factory: Callable[[], Any], host: Any = None, port: Any = None, *,
            family: int = socket.AF_UNSPEC, flags: int = socket.AI_PASSIVE, sock: Any = None,
            backlog: int = 100, ssl: ssl_mod.SSLContext | None = None, reuse_address: bool | None = None,
            reuse_port: bool | None = None, keep_alive: bool | None = None,
            ssl_handshake_timeout: float | None = None, ssl_shutdown_timeout: float | None = None,
            start_serving: bool = True) -> Server:
        """``loop.create_server`` on this stack (same parameters and defaults)."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        if ssl_handshake_timeout is not None and ssl is None:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if sock is not None:
            raise ValueError("aiostack cannot adopt a kernel socket (sock=)")
        self._ensure_started()
        hosts: Iterable[Any]
        if host is None or host == "":
            hosts = [None]
        elif isinstance(host, str) or not isinstance(host, Iterable):
            hosts = [host]
        else:
            hosts = host
        port_num = _port_number(port or 0, socket.SOCK_STREAM)
        listeners: list[Any] = []
        try:
            for h in hosts:
                if h is None:
                    ips = [0]
                else:
                    ips = [to_ip(a) for a, _ in await self._resolve(h, port_num, socket.SOCK_STREAM)]
                for ip in ips:
                    listeners.append(self.host.tcp_listen(ip, port_num, backlog))
        except BaseException:
            for ln in listeners:
                self.host.release(ln)
            raise
        server = Server(self, listeners, protocol_factory, ssl=ssl, ssl_handshake_timeout=ssl_handshake_timeout,
                        ssl_shutdown_timeout=ssl_shutdown_timeout)
        self._servers.add(server)
        for ln in listeners:
            self._listeners[ln] = server
        server._keep_alive = bool(keep_alive)
        if start_serving:
            server._start_serving()
            await asyncio.sleep(0)
        return server

    async def start_tls(self, transport: Any, protocol: Any, sslcontext: ssl_mod.SSLContext, *,
                        server_side: bool = False, server_hostname: str | None = None,
                        ssl_handshake_timeout: float | None = None,
                        ssl_shutdown_timeout: float | None = None) -> Any:
        """``loop.start_tls`` for aiostack transports (asyncio's SSLProtocol over our transport)."""
        from asyncio import sslproto

        if not isinstance(sslcontext, ssl_mod.SSLContext):
            raise TypeError(f"sslcontext is expected to be an instance of ssl.SSLContext, got {sslcontext!r}")
        if not getattr(transport, "_start_tls_compatible", False):
            raise TypeError(f"transport {transport!r} is not supported by start_tls()")
        waiter: asyncio.Future[None] = self.loop.create_future()
        ssl_protocol = sslproto.SSLProtocol(
            self.loop, protocol, sslcontext, waiter, server_side, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,  # type: ignore[arg-type]
            ssl_shutdown_timeout=ssl_shutdown_timeout,
            call_connection_made=False)
        transport.pause_reading()
        transport.set_protocol(ssl_protocol)
        conmade_cb = self.loop.call_soon(ssl_protocol.connection_made, transport)
        resume_cb = self.loop.call_soon(transport.resume_reading)
        try:
            await waiter
        except BaseException:
            transport.close()
            conmade_cb.cancel()
            resume_cb.cancel()
            raise
        return ssl_protocol._app_transport

    # -- streams --------------------------------------------------------------------------------------
    async def open_connection(self, host: Any = None, port: Any = None, *, limit: int = _DEFAULT_LIMIT,
                              **kwds: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """``asyncio.open_connection`` on this stack."""
        from aiostack.aio.streams import open_connection

        return await open_connection(self, host, port, limit=limit, **kwds)

    async def start_server(self, client_connected_cb: Callable[..., Any], host: Any = None, port: Any = None,
                           *, limit: int = _DEFAULT_LIMIT, **kwds: Any) -> Server:
        """``asyncio.start_server`` on this stack."""
        from aiostack.aio.streams import start_server

        return await start_server(self, client_connected_cb, host, port, limit=limit, **kwds)

    # -- UDP entry point ------------------------------------------------------------------------------
    async def create_datagram_endpoint(
            self, protocol_factory: Callable[[], Any], local_addr: Any = None, remote_addr: Any = None, *,
            family: int = 0, proto: int = 0, flags: int = 0, reuse_address: Any = None,
            reuse_port: bool | None = None, allow_broadcast: bool | None = None,
            sock: Any = None) -> tuple[UdpTransport, Any]:
        """``loop.create_datagram_endpoint`` on this stack (IPv4)."""
        if sock is not None:
            raise ValueError("aiostack cannot adopt a kernel socket (sock=)")
        self._ensure_started()
        remote: tuple[str, int] | None = None
        if remote_addr is not None:
            remote = (await self._resolve(remote_addr[0], remote_addr[1], socket.SOCK_DGRAM))[0]
        lip, lport = 0, 0
        if local_addr is not None:
            lh, lp = local_addr[0], local_addr[1]
            if lh not in (None, "", "0.0.0.0"):
                lh = (await self._resolve(lh, lp, socket.SOCK_DGRAM))[0][0]
                lip = to_ip(lh)
            lport = int(lp or 0)
        elif remote is not None:
            rt = self.host.route(to_ip(remote[0]))
            if rt is None:
                raise OSError(101, "Network is unreachable")
            lip = rt[2]  # connect() binds to the route's source address, as the kernel does
        endpoint = self.host.udp_bind(lip, lport)
        if remote is not None:
            endpoint.connect(to_ip(remote[0]), remote[1])
        protocol = protocol_factory()
        transport = UdpTransport(self, endpoint, protocol, remote)
        await asyncio.sleep(0)  # connection_made runs before we return, as in asyncio
        return transport, protocol


def _is_ipv4(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, text)
    except OSError:
        return False
    return True


def _port_number(port: Any, type: int) -> int:
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode()
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        try:
            return socket.getservbyname(port, "udp" if type == socket.SOCK_DGRAM else "tcp")
        except OSError:
            raise socket.gaierror(socket.EAI_SERVICE, "Servname not supported for ai_socktype") from None
    return int(port)
