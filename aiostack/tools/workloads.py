"""Benchmark workloads written once against the asyncio streams API.

Every workload takes an :class:`Endpoints` (an ``open_connection`` and a ``start_server`` with the
stdlib signatures, plus the addresses to bind and dial), so the SAME function measures the kernel
(``asyncio.open_connection`` / ``asyncio.start_server`` on 127.0.0.1) and aiostack (a stack's
``open_connection`` / ``start_server``). Client and server run in the caller's event loop.

Workloads:

- :func:`bulk`: one connection, the client writes ``total_bytes`` in ``write_size`` writes (64 KiB by
  default), draining after each, then ``write_eof``; the server reads until EOF and checks every byte
  against the deterministic pattern (``bytes.startswith`` at the running offset: a memcmp, so the check
  costs far less than the transfer). Result: MB/s (10^6 bytes) from the first write to the server's EOF.
- :func:`pingpong`: one connection, ``rounds`` round trips of a ``size``-byte message (64 by default)
  that the server echoes; the client compares every echo. Result: round trips per second.
- :func:`idle_connections`: after one warm-up connection, ``count`` connections opened with at most
  ``concurrency`` connects in flight and then held idle. Results: accepts per second (first connect to last accept) and, when
  ``measure_memory`` is set, the Python heap growth (``tracemalloc``) per connection endpoint while all
  are open and idle (each client/server pair is two endpoints; the stream objects are included, which
  the kernel row measures alone), and ``bytes_per_conn_outside_asyncio``, the part not allocated inside
  asyncio's own modules (aiostack: transport, engine and host tables; the kernel path: socket objects).

Each returns a plain ``dict`` (JSON-ready) with ``value`` (the headline number) and ``verified``;
a transfer that delivers wrong or missing bytes raises :class:`IntegrityError`.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

OpenConnection = Callable[..., Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
StartServer = Callable[..., Awaitable[Any]]

WRITE_SIZE = 64 * 1024
READ_SIZE = 256 * 1024
# Pattern period: not a divisor of the write size, so a chunk delivered twice, dropped or swapped is
# caught even when it lands on a write boundary.
PATTERN_PERIOD = 4 * 65536 + 4099
PATTERN_SEED = 0x5EED


class IntegrityError(AssertionError):
    """A workload received bytes that differ from what was sent (content, order or count)."""


_pattern_cache: dict[int, bytes] = {}


def pattern(extra: int = READ_SIZE) -> bytes:
    """The deterministic byte pattern: ``PATTERN_PERIOD`` seeded bytes plus ``extra`` wrapped bytes.

    Stream offset ``pos`` carries byte ``pattern()[pos % PATTERN_PERIOD]``; the ``extra`` tail lets any
    read of up to ``extra`` bytes be checked with one ``startswith(data, pos % PATTERN_PERIOD)``.
    """
    p = _pattern_cache.get(extra)
    if p is None:
        base = random.Random(PATTERN_SEED).randbytes(PATTERN_PERIOD)
        reps = extra // PATTERN_PERIOD + 2
        p = (base * reps)[: PATTERN_PERIOD + extra]
        _pattern_cache[extra] = p
    return p


class PatternChecker:
    """Running check of a received byte stream against :func:`pattern` (no copies, no hashing)."""

    __slots__ = ("pos", "_pat", "_max", "bad_at")

    def __init__(self, max_chunk: int = READ_SIZE) -> None:
        self.pos = 0
        self._pat = pattern(max_chunk)
        self._max = max_chunk
        self.bad_at: int | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if n > self._max:
            mv = memoryview(data)
            for off in range(0, n, self._max):
                self.feed(mv[off : off + self._max])
            return
        if self.bad_at is None and not self._pat.startswith(data, self.pos % PATTERN_PERIOD):
            self.bad_at = self.pos
        self.pos += n

    def check(self, expected_bytes: int) -> None:
        if self.bad_at is not None:
            raise IntegrityError(f"received bytes differ from the pattern near offset {self.bad_at}")
        if self.pos != expected_bytes:
            raise IntegrityError(f"received {self.pos} bytes, expected {expected_bytes}")


def pattern_chunks(total_bytes: int, write_size: int = WRITE_SIZE) -> list[memoryview]:
    """The writes of a bulk sender: memoryview slices of the pattern (no copies)."""
    pat = memoryview(pattern(write_size))
    out = []
    pos = 0
    while pos < total_bytes:
        n = min(write_size, total_bytes - pos)
        off = pos % PATTERN_PERIOD
        out.append(pat[off : off + n])
        pos += n
    return out


@dataclass
class Endpoints:
    """The two stdlib-shaped entry points of one network stack and where to bind/dial."""

    name: str
    open_connection: OpenConnection
    start_server: StartServer
    server_host: str
    connect_host: str
    port: int = 0  # 0: let the server pick and read it back from server.sockets


def kernel_endpoints() -> Endpoints:
    """asyncio streams over the kernel's loopback (the reference)."""
    return Endpoints("kernel", asyncio.open_connection, asyncio.start_server, "127.0.0.1", "127.0.0.1")


def _server_port(server: Any, requested: int) -> int:
    if requested:
        return requested
    for sock in getattr(server, "sockets", None) or ():
        name = sock.getsockname()
        if isinstance(name, tuple) and len(name) >= 2:
            return int(name[1])
    raise RuntimeError(f"cannot learn the port of {server!r}; give Endpoints a fixed port")


async def _close_server(server: Any) -> None:
    server.close()
    await server.wait_closed()


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass


async def bulk(ep: Endpoints, total_bytes: int, *, write_size: int = WRITE_SIZE,
               read_size: int = READ_SIZE) -> dict[str, Any]:
    """Client -> server bulk transfer; every byte checked at the server. Value: MB/s."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[int, float]] = loop.create_future()
    chunks = pattern_chunks(total_bytes, write_size)
    checker = PatternChecker(read_size)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            read = reader.read
            feed = checker.feed
            while True:
                data = await read(read_size)
                if not data:
                    break
                feed(data)
            t_end = time.perf_counter()
            if not done.done():
                done.set_result((checker.pos, t_end))
        except Exception as exc:  # reported to the client side, which raises it
            if not done.done():
                done.set_exception(exc)
        finally:
            await _close_writer(writer)

    server = await ep.start_server(handle, ep.server_host, ep.port)
    try:
        port = _server_port(server, ep.port)
        reader, writer = await ep.open_connection(ep.connect_host, port)
        try:
            t0 = time.perf_counter()
            write = writer.write
            drain = writer.drain
            for chunk in chunks:
                write(chunk)
                await drain()
            writer.write_eof()
            received, t_end = await done
        finally:
            await _close_writer(writer)
    finally:
        await _close_server(server)
    checker.check(total_bytes)
    seconds = t_end - t0
    return {"value": received / seconds / 1e6, "unit": "MB/s", "bytes": received, "seconds": seconds,
            "verified": True}


async def start_bulk_sink(ep: Endpoints, total_bytes: int, *, read_size: int = READ_SIZE,
                          ) -> tuple[Any, int, asyncio.Future[dict[str, Any]]]:
    """A server that takes one bulk transfer from any peer (another process, the kernel) and checks it.

    Returns ``(server, port, result)``; ``result`` resolves to the receiver's numbers (MB/s from accept
    to EOF, like the kernel peer in :mod:`aiostack.tools.kernelnet`) or to :class:`IntegrityError`.
    The caller closes the server.
    """
    loop = asyncio.get_running_loop()
    result: asyncio.Future[dict[str, Any]] = loop.create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if result.done():  # one transfer per sink
            writer.close()
            return
        t0 = time.perf_counter()
        checker = PatternChecker(read_size)
        try:
            read = reader.read
            feed = checker.feed
            while True:
                data = await read(read_size)
                if not data:
                    break
                feed(data)
            seconds = time.perf_counter() - t0
            checker.check(total_bytes)
            if not result.done():
                result.set_result({"value": checker.pos / seconds / 1e6, "unit": "MB/s", "bytes": checker.pos,
                                   "seconds": seconds, "verified": True})
        except Exception as exc:
            if not result.done():
                result.set_exception(exc)
        finally:
            await _close_writer(writer)

    server = await ep.start_server(handle, ep.server_host, ep.port)
    return server, _server_port(server, ep.port), result


async def bulk_source(ep: Endpoints, port: int, total_bytes: int, *,
                      write_size: int = WRITE_SIZE) -> dict[str, Any]:
    """Send one bulk transfer to ``ep.connect_host:port`` (a sink elsewhere), then wait for its close."""
    reader, writer = await ep.open_connection(ep.connect_host, port)
    try:
        t0 = time.perf_counter()
        write = writer.write
        drain = writer.drain
        for chunk in pattern_chunks(total_bytes, write_size):
            write(chunk)
            await drain()
        writer.write_eof()
        tail = await reader.read()
        seconds = time.perf_counter() - t0
    finally:
        await _close_writer(writer)
    if tail:
        raise IntegrityError(f"the sink sent {len(tail)} unexpected bytes")
    return {"bytes": total_bytes, "seconds": seconds}


async def pingpong(ep: Endpoints, rounds: int, *, size: int = 64) -> dict[str, Any]:
    """Request/response of ``size``-byte messages echoed by the server. Value: round trips/s."""
    pat = pattern(size)
    messages = [pat[i : i + size] for i in range(251)]  # vary the content; 251 is prime

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            readexactly = reader.readexactly
            write = writer.write
            while True:
                try:
                    data = await readexactly(size)
                except asyncio.IncompleteReadError:
                    break
                write(data)
        except (ConnectionError, OSError):
            pass
        finally:
            await _close_writer(writer)

    server = await ep.start_server(echo, ep.server_host, ep.port)
    try:
        port = _server_port(server, ep.port)
        reader, writer = await ep.open_connection(ep.connect_host, port)
        try:
            readexactly = reader.readexactly
            write = writer.write
            bad = 0
            t0 = time.perf_counter()
            for i in range(rounds):
                msg = messages[i % 251]
                write(msg)
                if await readexactly(size) != msg:
                    bad += 1
            seconds = time.perf_counter() - t0
            writer.write_eof()
            tail = await reader.read()
        finally:
            await _close_writer(writer)
    finally:
        await _close_server(server)
    if bad or tail:
        raise IntegrityError(f"{bad} of {rounds} echoes differed; {len(tail)} unexpected trailing bytes")
    return {"value": rounds / seconds, "unit": "round trips/s", "rounds": rounds, "seconds": seconds,
            "bytes": 2 * rounds * size, "verified": True}


async def idle_connections(ep: Endpoints, count: int, *, concurrency: int = 256,
                           measure_memory: bool = False) -> dict[str, Any]:
    """Open ``count`` connections, hold them idle, close them.

    Value: accepts per second. With ``measure_memory``: ``bytes_per_conn``, the traced Python heap
    growth per connection endpoint (2 * count endpoints) with everything open and idle.
    """
    loop = asyncio.get_running_loop()
    all_accepted: asyncio.Future[float] = loop.create_future()
    server_writers: list[asyncio.StreamWriter] = []

    first_accepted: asyncio.Future[None] = loop.create_future()

    def on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_writers.append(writer)
        n = len(server_writers)
        if n == 1 and not first_accepted.done():
            first_accepted.set_result(None)
        if n == count + 1 and not all_accepted.done():  # the warm-up connection plus ``count``
            all_accepted.set_result(time.perf_counter())

    clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    per_worker = [count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)]

    if measure_memory:
        gc.collect()
        tracemalloc.start()
    try:
        server = await ep.start_server(on_accept, ep.server_host, ep.port, backlog=min(count, 4096))
        try:
            port = _server_port(server, ep.port)

            async def worker(n: int) -> None:
                for _ in range(n):
                    clients.append(await ep.open_connection(ep.connect_host, port))

            # Warm-up: one connection first, so neighbour resolution (ARP) and lazy set-up are done
            # before the clock starts, as on the kernel's loopback. It stays open and is not counted.
            clients.append(await ep.open_connection(ep.connect_host, port))
            await asyncio.wait_for(first_accepted, timeout=60)
            if measure_memory:
                gc.collect()
                base = tracemalloc.get_traced_memory()[0]
                snap0 = tracemalloc.take_snapshot()
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(n) for n in per_worker if n))
            t_last = await asyncio.wait_for(all_accepted, timeout=60)
            seconds = t_last - t0
            result: dict[str, Any] = {"value": count / seconds, "unit": "accepts/s", "count": count,
                                      "seconds": seconds}
            # All open and idle: let pending callbacks settle, then check every connection is alive.
            for _ in range(3):
                await asyncio.sleep(0)
            if measure_memory:
                gc.collect()
                used = tracemalloc.get_traced_memory()[0] - base
                diff = tracemalloc.take_snapshot().compare_to(snap0, "filename")
                tracemalloc.stop()
                result["bytes_per_conn"] = used / (2 * count)
                # What the network stack itself holds per endpoint: everything not allocated inside
                # asyncio's own modules (its StreamReader/StreamWriter/protocol objects, futures and
                # transports are the application's side, the same on every stack).
                asyncio_dir = os.path.dirname(asyncio.__file__) + os.sep
                outside = sum(d.size_diff for d in diff if not d.traceback[0].filename.startswith(asyncio_dir))
                result["bytes_per_conn_outside_asyncio"] = outside / (2 * count)
            alive = sum(1 for _, w in clients if not w.is_closing())
            alive += sum(1 for w in server_writers if not w.is_closing())
            if alive != 2 * (count + 1):
                raise IntegrityError(f"{2 * (count + 1) - alive} of {2 * (count + 1)} idle endpoints closed early")
            result["verified"] = True
            return result
        finally:
            await asyncio.gather(*(_close_writer(w) for _, w in clients),
                                 *(_close_writer(w) for w in server_writers))
            await _close_server(server)
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
