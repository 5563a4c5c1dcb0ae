"""Backends the behavioural suite runs against.

Every backend offers the same surface: ``client`` and ``server`` objects with the stdlib signatures of
``open_connection``, ``start_server``, ``create_connection``, ``create_server``,
``create_datagram_endpoint`` and ``getaddrinfo``; the address the server side listens on; a port nobody
listens on; and ``leftovers()``, what is still open after the test (a leak fails the test).

- ``kernel``: asyncio over the kernel's sockets on 127.0.0.1 (the oracle).
- ``pair``: two aiostack stacks joined by an in-memory link (client on one, server on the other).
- ``loopback``: one ``aiostack.Stack()`` talking to itself over 127.0.0.1/8.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any


def _inet_inodes() -> set[str]:
    inodes = set()
    for table in ("tcp", "udp", "tcp6", "udp6"):
        try:
            with open(f"/proc/net/{table}") as f:
                next(f)
                inodes.update(line.split()[9] for line in f)
        except OSError:
            pass
    return inodes


def _open_fds() -> set[str]:
    """The process's open TCP/UDP sockets (the loop's own socketpairs and files do not count)."""
    inet = _inet_inodes()
    out = set()
    for n in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{n}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inet:
            out.add(f"fd {n} -> {target}")
    return out


class KernelApi:
    """The stdlib entry points, as a program that never heard of aiostack calls them."""

    async def open_connection(self, host: Any = None, port: Any = None, **kw: Any) -> Any:
        return await asyncio.open_connection(host, port, **kw)

    async def start_server(self, cb: Any, host: Any = None, port: Any = None, **kw: Any) -> Any:
        return await asyncio.start_server(cb, host, port, **kw)

    async def create_connection(self, factory: Any, host: Any = None, port: Any = None, **kw: Any) -> Any:
        return await asyncio.get_running_loop().create_connection(factory, host, port, **kw)

    async def create_server(self, factory: Any, host: Any = None, port: Any = None, **kw: Any) -> Any:
        return await asyncio.get_running_loop().create_server(factory, host, port, **kw)

    async def create_datagram_endpoint(self, factory: Any, local_addr: Any = None, remote_addr: Any = None,
                                       **kw: Any) -> Any:
        return await asyncio.get_running_loop().create_datagram_endpoint(factory, local_addr, remote_addr, **kw)

    async def getaddrinfo(self, host: Any, port: Any, **kw: Any) -> Any:
        return await asyncio.get_running_loop().getaddrinfo(host, port, **kw)


class Backend:
    name = ""
    kernel_server = False  # the server side is the kernel (asyncio Server semantics of this Python)
    server_host = "127.0.0.1"
    client: Any
    server: Any
    # what a name lookup for this backend's server should return (the resolver test)
    resolvable_name = "localhost"

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def closed_port(self) -> int:
        raise NotImplementedError

    async def leftovers(self) -> list[str]:
        return []


class KernelBackend(Backend):
    name = "kernel"
    kernel_server = True

    def __init__(self) -> None:
        self.client = self.server = KernelApi()
        self._fds: set[str] = set()

    async def start(self) -> None:
        self._fds = _open_fds()

    def closed_port(self) -> int:
        # A port bound (so nobody else takes it) but not listening: connecting gets a RST.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return int(port)

    async def leftovers(self) -> list[str]:
        # Transports close their socket one or two loop iterations after close(); give them that.
        extra: set[str] = set()
        for _ in range(20):
            extra = _open_fds() - self._fds
            if not extra:
                return []
            await asyncio.sleep(0.005)
        return sorted(extra)


class _AiostackBackend(Backend):
    stacks: list[Any]

    def closed_port(self) -> int:
        return 9  # discard: nothing listens on the aiostack server side

    async def stop(self) -> None:
        for s in self.stacks:
            await s.close()

    async def leftovers(self) -> list[str]:
        out: list[str] = []
        for _ in range(20):
            out = [f"{s!r}: {t!r}" for s in self.stacks for t in s.live_transports()]
            if not out:
                return []
            await asyncio.sleep(0.005)
        return out


class PairBackend(_AiostackBackend):
    """Client on stack A (198.18.0.1), server on stack B (198.18.0.2), an in-memory link between."""

    name = "pair"
    server_host = "198.18.0.2"
    resolvable_name = "server.test"

    async def start(self) -> None:
        from aiostack import Stack

        a, b = Stack.pair(mtu=65535, hosts={"server.test": "198.18.0.2"})
        self.stacks = [a, b]
        await a.start()
        await b.start()
        self.client, self.server = a, b


class NetsimBackend(PairBackend):
    """The pair joined by the network simulator instead: 1500-byte MTU, 200 µs one way, seeded."""

    name = "netsim"

    async def start(self) -> None:
        from aiostack import Stack
        from aiostack.link.netsim import Netsim

        sim = Netsim(latency_us=200, mtu=1500, seed=1)
        a, b = Stack.pair(link=sim, hosts={"server.test": "198.18.0.2"})
        self.stacks = [a, b]
        await a.start()
        await b.start()
        self.client, self.server = a, b


class LoopbackBackend(_AiostackBackend):
    """``aiostack.Stack()``: one stack, client and server on its 127.0.0.1/8 loopback interface."""

    name = "loopback"

    async def start(self) -> None:
        from aiostack import Stack

        s = Stack()
        self.stacks = [s]
        await s.start()
        self.client = self.server = s


class NsKernelApi:
    """The kernel's sockets inside a network namespace (made there by a helper thread), under asyncio."""

    def __init__(self, ns: Any) -> None:
        self.ns = ns
        self.sockets: list[socket.socket] = []

    def _socket(self, kind: int, addr: tuple[str, int], backlog: int | None = None) -> socket.socket:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_INET, kind)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(addr)
            if backlog is not None:
                s.listen(backlog)
            s.setblocking(False)
            return s

        sock: socket.socket = self.ns.in_ns(make)
        self.sockets.append(sock)
        return sock

    async def start_server(self, cb: Any, host: Any = None, port: Any = None, **kw: Any) -> Any:
        sock = self._socket(socket.SOCK_STREAM, (host or "0.0.0.0", port or 0), kw.get("backlog", 100))
        return await asyncio.start_server(cb, sock=sock, **kw)

    async def create_server(self, factory: Any, host: Any = None, port: Any = None, **kw: Any) -> Any:
        sock = self._socket(socket.SOCK_STREAM, (host or "0.0.0.0", port or 0), kw.get("backlog", 100))
        return await asyncio.get_running_loop().create_server(factory, sock=sock, **kw)

    async def create_datagram_endpoint(self, factory: Any, local_addr: Any = None, remote_addr: Any = None,
                                       **kw: Any) -> Any:
        sock = self._socket(socket.SOCK_DGRAM, local_addr or ("0.0.0.0", 0))
        if remote_addr is not None:
            sock.connect(remote_addr)
        return await asyncio.get_running_loop().create_datagram_endpoint(factory, sock=sock, **kw)

    def open_sockets(self) -> list[str]:
        return [repr(s) for s in self.sockets if s.fileno() != -1]


class TapBackend(_AiostackBackend):
    """Client: an aiostack stack on a TAP device (198.18.0.2); server: the kernel (198.18.0.1) on the
    TAP's other side, inside a network namespace this backend creates and deletes."""

    name = "tap"
    server_host = "198.18.0.1"
    resolvable_name = "kernel.test"
    kernel_server = True
    offload = False

    async def start(self) -> None:
        from netns import NetNs

        from aiostack import Stack

        self.ns = NetNs().__enter__()
        try:
            tap = self.ns.tap("tap0", address="198.18.0.1/24", offload=self.offload)
            stack = Stack(hosts={"kernel.test": "198.18.0.1"}, name="tap")
            stack.add_device(tap, "198.18.0.2/24", name="tap0")
            await stack.start()
        except BaseException:
            self.ns.close()
            raise
        self.stacks = [stack]
        self.client = stack
        self.server = NsKernelApi(self.ns)

    def closed_port(self) -> int:
        return 9  # nothing listens in the fresh namespace: RST / ICMP port unreachable

    async def leftovers(self) -> list[str]:
        out = await super().leftovers()
        for _ in range(20):
            left = self.server.open_sockets()
            if not left:
                break
            await asyncio.sleep(0.005)
        return out + left

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            self.ns.close()


class TapOffloadBackend(TapBackend):
    """The same over a TAP in virtio-net offload mode (checksum offload, GSO super-frames)."""

    name = "tap-offload"
    offload = True


BACKENDS: dict[str, type[Backend]] = {"kernel": KernelBackend, "pair": PairBackend, "netsim": NetsimBackend,
                                      "loopback": LoopbackBackend,
                                      "tap": TapBackend, "tap-offload": TapOffloadBackend}


def aiostack_available() -> str | None:
    """None when aiostack's layers are all present; otherwise why the aiostack backends skip."""
    try:
        import aiostack.core.host  # noqa: F401
        import aiostack.core.tcp.connection  # noqa: F401
        import aiostack.link.loopback  # noqa: F401
        from aiostack import Stack  # noqa: F401
    except ImportError as exc:
        return f"aiostack layer not available yet: {exc}"
    return None
