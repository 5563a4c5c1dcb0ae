"""The asyncio layer's own behaviour: errors as the kernel reports them, the driver's shape, closing,
the socket table and counters, flow control into the receive window, a pair over the network simulator."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import socket
from collections.abc import Sequence
from typing import Any

import pytest
from aio_suite.loops import TrackingSelectorLoop

from aiostack import Stack
from aiostack.config import DriverConfig, IpConfig, TcpConfig
from aiostack.link.loopback import LoopbackPair
from aiostack.link.netsim import Netsim

pytestmark = pytest.mark.timeout(60)

FAST_TCP = TcpConfig(rto_initial_us=50_000, rto_min_us=20_000, max_syn_retransmits=2, max_retransmits=3)
FAST_ARP = IpConfig(arp_retry_interval_us=50_000, arp_max_retries=2)


class Blackhole:
    """Wraps a device; while ``on``, frames sent are dropped (a cable pulled out)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.caps = inner.caps
        self.mac = inner.mac
        self.on = False
        self.sent_batches = 0

    def receive_batch(self, max_frames: int) -> list[Any]:
        return self.inner.receive_batch(max_frames)

    def send_batch(self, frames: Sequence[Any]) -> None:
        self.sent_batches += 1
        if not self.on:
            self.inner.send_batch(frames)

    def fileno(self) -> int | None:
        return None

    def set_wakeup(self, cb: Any) -> None:
        self.inner.set_wakeup(cb)

    def close(self) -> None:
        self.inner.close()


def _pair_with_blackhole(**kw: Any) -> tuple[Stack, Stack, Blackhole]:
    link = LoopbackPair(mtu=1500)
    hole = Blackhole(link.a)
    a = Stack(name="a", **kw)
    b = Stack(name="b", **kw)
    a.add_device(hole, "198.18.0.1/24", name="eth0")
    b.add_device(link.b, "198.18.0.2/24", name="eth0")
    return a, b, hole


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
    except ConnectionError:
        pass
    writer.close()


async def test_connect_timeout_is_timeout_error() -> None:
    a, b, hole = _pair_with_blackhole(tcp_config=FAST_TCP)
    async with a, b:
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        r, w = await a.open_connection("198.18.0.2", 7)  # ARP is resolved now
        w.close()
        hole.on = True
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(a.open_connection("198.18.0.2", 7), 10)
        srv.close()


async def test_retransmission_timeout_is_timeout_error() -> None:
    a, b, hole = _pair_with_blackhole(tcp_config=FAST_TCP)
    async with a, b:
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        hole.on = True
        writer.write(b"lost forever")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(), 20)
        srv.close()


async def test_unreachable_is_ehostunreach() -> None:
    a, b = Stack.pair(ip_config=FAST_ARP)
    async with a, b:
        with pytest.raises(OSError) as info:
            await asyncio.wait_for(a.open_connection("198.18.0.99", 80), 10)
        assert info.value.errno == errno.EHOSTUNREACH


async def test_no_route_is_enetunreach() -> None:
    async with Stack() as s:
        with pytest.raises(OSError) as info:
            await s.open_connection("192.0.2.1", 80)
        assert info.value.errno == errno.ENETUNREACH


async def test_stack_close_aborts_and_leaves_nothing_scheduled() -> None:
    a, b = Stack.pair()
    await a.start()
    await b.start()
    srv = await b.start_server(_echo, "198.18.0.2", 7)
    reader, writer = await a.open_connection("198.18.0.2", 7)
    writer.write(b"hi")
    assert await reader.readexactly(2) == b"hi"
    await b.close()  # the server side goes away: the client is reset
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), 5)
    assert not srv.is_serving()
    await a.close()
    assert a._driver is not None and a._driver._timer is None and b._driver is not None
    assert not a.live_transports() and not b.live_transports()
    await a.close()  # idempotent


async def test_a_reset_the_application_raised_leaves_nothing_uncollectable() -> None:
    """The application gets its own copy of the engine's error. Raised, an exception holds its traceback's
    frames and through them the reader, its transport and the connection; the engine's copy hangs off the
    connection, which (compiled) is out of the cyclic GC: were it the same object, that cycle would leak."""
    import gc
    import weakref

    async def session(a: Stack) -> tuple[BaseException, weakref.ref[Any]]:
        reader, writer = await a.open_connection("198.18.0.2", 7)
        (conn,) = a.host.tcp_connections()
        writer.write(b"x")
        try:
            await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError as exc:
            writer.close()
            return exc, weakref.ref(conn)
        raise AssertionError("no reset")

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(1)
        writer.transport.abort()

    a, b = Stack.pair()
    async with a, b:
        await b.start_server(reset, "198.18.0.2", 7)
        exc, ref = await session(a)
        assert exc.__traceback__ is not None
        for _ in range(5):
            await asyncio.sleep(0)
        assert not a.host.tcp_connections() and not a.live_transports()
        del exc
        gc.collect()
        assert ref() is None


def test_nothing_pending_after_async_with() -> None:
    loop = TrackingSelectorLoop()

    async def main() -> None:
        async with Stack() as s:
            await s.start_server(_echo, "127.0.0.1", 7)
            r, w = await s.open_connection("127.0.0.1", 7)
            w.write(b"abc")
            await r.readexactly(3)
            # established connection and server left open: closing the stack handles them

    loop.run_until_complete(main())
    try:
        assert loop.pending_timers() == []
    finally:
        loop.close()


async def test_driver_one_timer_rearmed_only_when_deadline_moves() -> None:
    a, b = Stack.pair()
    async with a, b:
        loop = asyncio.get_running_loop()
        calls = []
        real_call_at = loop.call_at

        def counting_call_at(when: float, cb: Any, *args: Any, context: Any = None) -> Any:
            calls.append(when)
            return real_call_at(when, cb, *args, context=context)

        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        loop.call_at = counting_call_at  # type: ignore[method-assign]
        try:
            driver = a._driver
            assert driver is not None
            for _ in range(20):  # idle: no deadline moves, so no re-arming
                driver.flush()
                await asyncio.sleep(0)
            idle_calls = len(calls)
            assert idle_calls <= 1
            assert (driver._timer is None) == (a.host.poll_at() is None)
            if driver._timer_at is not None:
                assert driver._timer_at == a.host.poll_at()
        finally:
            del loop.call_at
        writer.close()
        srv.close()


async def test_driver_sends_the_first_write_at_once_and_coalesces_the_rest() -> None:
    # Autocorking: the first write of a loop iteration leaves before write() returns (as a socket send);
    # the 99 after it in the same iteration go out together in one flush at the end of the iteration.
    a, b = Stack.pair()
    async with a, b:
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        await asyncio.sleep(0)
        driver = a._driver
        assert driver is not None
        before = driver.flushes
        sent0 = a.stats().get("tcp.segments_sent", 0)
        writer.write(b"z" * 10)
        assert driver.flushes - before == 1  # flushed inside write()
        assert a.stats()["tcp.segments_sent"] - sent0 == 1
        for _ in range(99):
            writer.write(b"z" * 10)
        assert driver.flushes - before == 1
        await asyncio.sleep(0)  # one loop iteration (the echo's arrival is flushed too)
        assert a.stats()["tcp.segments_sent"] - sent0 == 2  # 10 bytes, then 990 in one segment
        assert await reader.readexactly(1000) == b"z" * 1000
        writer.close()
        srv.close()


async def test_request_response_schedules_no_flush_callback_per_write(monkeypatch: pytest.MonkeyPatch) -> None:
    # Autocorking ends with any other flush: in a request/response exchange the peer's answer arrives
    # (a flush) between two writes, so every write flushes at once and no deferred flush is scheduled.
    a, b = Stack.pair()
    async with a, b:
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        writer.write(b"warm")
        assert await reader.readexactly(4) == b"warm"
        loop = asyncio.get_running_loop()
        drivers = (a._driver, b._driver)
        deferred: list[Any] = []
        real_call_soon = loop.call_soon

        def counting_call_soon(callback: Any, *args: Any, **kwargs: Any) -> Any:
            if any(callback == d._flush for d in drivers if d is not None):
                deferred.append(callback)
            return real_call_soon(callback, *args, **kwargs)

        monkeypatch.setattr(loop, "call_soon", counting_call_soon)
        before = a.stats()["tcp.segments_sent"]
        for i in range(50):
            msg = bytes([i]) * 64
            writer.write(msg)
            assert await reader.readexactly(64) == msg
        assert a.stats()["tcp.segments_sent"] - before == 50  # one segment per request: nothing held back
        assert deferred == []
        # Two writes in one iteration: the second joins a flush scheduled for the end of the iteration.
        writer.write(b"x")
        writer.write(b"y")
        assert len(deferred) == 1
        assert await reader.readexactly(2) == b"xy"
        monkeypatch.undo()
        writer.close()
        srv.close()


async def test_driver_reads_the_default_loops_clock_directly() -> None:
    import time

    from aiostack.aio.driver import Driver

    class SlowClock(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return super().time() - 1000.0

    loop = asyncio.get_running_loop()
    assert Driver(loop, None, DriverConfig(), print, print)._time is time.monotonic  # asyncio's own: same value
    other = SlowClock()
    try:
        d = Driver(other, None, DriverConfig(), print, print)
        assert d._time == other.time  # a loop with its own clock keeps it
        assert abs(d.now_us() - (time.monotonic() - 1000.0) * 1e6) < 1e6
    finally:
        other.close()


async def test_driver_caps_frames_per_callback() -> None:
    cap = 4
    a, b = Stack.pair(driver_config=DriverConfig(max_frames_per_callback=cap), mtu=1500)
    async with a, b:
        seen: list[int] = []
        dev = b.devices[2]
        real = dev.receive_batch

        def spy(max_frames: int) -> list[Any]:
            out = real(max_frames)
            seen.append(len(out))
            assert max_frames == cap
            return out

        dev.receive_batch = spy
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        payload = os.urandom(64 * 1460)
        writer.write(payload)
        assert await reader.readexactly(len(payload)) == payload
        assert max(seen) == cap and seen.count(cap) > 1
        writer.close()
        srv.close()


async def test_driver_holds_frames_for_a_full_in_memory_queue() -> None:
    # A queue of 16 frames and 200 connections opened and closed at once: every flush emits far more
    # frames (SYNs, SYN-ACKs, FINs, ACKs) than the receiver's queue holds. The driver sends what fits (tx_room) and keeps the rest, in
    # order, for the next iterations: no frame is lost on the wire, so no connection needs a retransmission.
    link = LoopbackPair(mtu=1500, queue_frames=16)
    a, b = Stack.pair(link=link)
    async with a, b:
        accepted: list[asyncio.StreamWriter] = []
        srv = await b.start_server(lambda r, w: accepted.append(w), "198.18.0.2", 7, backlog=512)
        # one connection first: the neighbour is resolved (the ARP queue holds a few frames, not 200 SYNs)
        pairs = [await a.open_connection("198.18.0.2", 7)]
        pairs += await asyncio.gather(*(a.open_connection("198.18.0.2", 7) for _ in range(200)))
        for _ in range(100):
            if len(accepted) == 201:
                break
            await asyncio.sleep(0.01)
        assert len(accepted) == 201
        for w in accepted:
            w.close()
        for r, _ in pairs:
            assert await r.read() == b""  # the server's FIN after no data
        for _, w in pairs:
            w.close()
        await asyncio.gather(*(w.wait_closed() for _, w in pairs), *(w.wait_closed() for w in accepted))
        srv.close()
        await srv.wait_closed()
        sa, sb = a.stats(), b.stats()
        assert sa.get("link.pair.a.drops.queue_full", 0) == 0 and sb.get("link.pair.b.drops.queue_full", 0) == 0
        assert sa["aio.drops.tx_backlog_full"] == 0 and sb["aio.drops.tx_backlog_full"] == 0
        assert sa.get("tcp.retransmits", 0) == 0 and sb.get("tcp.retransmits", 0) == 0
        for _ in range(50):  # the last ACKs may still wait for room: they go out within iterations
            if a._driver is not None and not a._driver._backlogged:
                break
            await asyncio.sleep(0.001)
        assert a._driver is not None and not a._driver._backlogged


async def test_driver_backlog_is_bounded_and_counts_its_drops() -> None:
    link = LoopbackPair(mtu=1500, queue_frames=4)
    a, b = Stack.pair(link=link, driver_config=DriverConfig(tx_backlog_frames=8))
    async with a, b:
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        payload = os.urandom(200 * 1460)
        writer.write(payload)  # one flush: ~30 segments (the initial window) for 4 + 8 places
        assert await reader.readexactly(len(payload)) == payload  # TCP repairs what was dropped
        assert a.stats()["aio.drops.tx_backlog_full"] > 0
        writer.close()
        srv.close()


async def test_netstat_and_stats() -> None:
    a, b = Stack.pair()
    async with a, b:
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        ut, _ = await b.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("198.18.0.2", 53))
        writer.write(b"ping")
        await reader.readexactly(4)
        rows = b.netstat()
        assert ("tcp", "198.18.0.2:7", "0.0.0.0:*", "LISTEN") in [r[:4] for r in rows]
        est = [r for r in rows if r.state == "ESTABLISHED"]
        assert len(est) == 1 and est[0].local == "198.18.0.2:7" and est[0].foreign.startswith("198.18.0.1:")
        assert ("udp", "198.18.0.2:53", "0.0.0.0:*", "") in [r[:4] for r in rows]
        sockname = writer.get_extra_info("sockname")
        assert est[0].foreign == f"{sockname[0]}:{sockname[1]}"
        stats = a.stats()
        assert stats["tcp.segments_sent"] > 0 and stats["ip.packets_received"] > 0
        assert all(isinstance(v, int) for v in stats.values())
        info = writer.get_extra_info("tcp_info")
        assert info["state"] == "ESTABLISHED" and info["snd_mss"] > 0
        writer.close()
        await asyncio.sleep(0.01)
        states = {r.state for r in a.netstat() if r.proto == "tcp"}
        assert states <= {"FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSED"}
        ut.close()
        srv.close()


async def test_pause_reading_closes_the_receive_window() -> None:
    a, b = Stack.pair(tcp_config=TcpConfig(recv_buffer_bytes=256 * 1024, send_buffer_bytes=256 * 1024))
    async with a, b:
        got: asyncio.Queue[Any] = asyncio.Queue()

        class Slow(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                transport.pause_reading()
                got.put_nowait(transport)

            def data_received(self, data: bytes) -> None:
                got.put_nowait(len(data))

        srv = await b.create_server(Slow, "198.18.0.2", 7)
        ct, cp = await a.create_connection(asyncio.Protocol, "198.18.0.2", 7)
        st = await got.get()
        ct.write(b"w" * (1 << 20))
        for _ in range(200):
            await asyncio.sleep(0.001)
            if st.get_extra_info("tcp_info")["rcv_wnd"] == 0:
                break
        info = st.get_extra_info("tcp_info")
        assert info["rcv_wnd"] == 0 and info["recv_buffer_bytes"] >= 256 * 1024 - 65536
        assert ct.get_write_buffer_size() > 0  # the rest waits in the sender
        st.resume_reading()
        total = 0
        while total < 1 << 20:
            total += await asyncio.wait_for(got.get(), 10)
        assert total == 1 << 20
        ct.close()
        st.close()
        srv.close()


async def test_transfer_over_netsim_with_loss() -> None:
    sim = Netsim(latency_us=1000, rate_bps=200_000_000, loss=0.01, seed=7, mtu=1500)
    a, b = Stack.pair(link=sim)
    async with a, b:
        digest: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            h = hashlib.sha256()
            while data := await reader.read(65536):
                h.update(data)
            digest.set_result(h.digest())
            writer.close()

        srv = await b.start_server(sink, "198.18.0.2", 9)
        reader, writer = await a.open_connection("198.18.0.2", 9)
        payload = os.urandom(1 << 20)
        writer.write(payload)
        writer.write_eof()
        assert await asyncio.wait_for(digest, 30) == hashlib.sha256(payload).digest()
        assert a.stats().get("tcp.retransmits", 0) + a.stats().get("tcp.fast_retransmits", 0) > 0
        writer.close()
        srv.close()


async def test_getaddrinfo_shapes() -> None:
    async with Stack() as s:
        infos = await s.getaddrinfo("127.0.0.1", "80")
        assert {(ai[1], ai[4]) for ai in infos} == {
            (socket.SOCK_STREAM, ("127.0.0.1", 80)), (socket.SOCK_DGRAM, ("127.0.0.1", 80)),
            (socket.SOCK_RAW, ("127.0.0.1", 80))}
        passive = await s.getaddrinfo(None, 0, flags=socket.AI_PASSIVE, type=socket.SOCK_STREAM)
        assert passive[0][4] == ("0.0.0.0", 0)
        with pytest.raises(socket.gaierror):
            await s.getaddrinfo("::1", 80, family=socket.AF_INET6)


async def test_local_addr_and_wildcard_listener() -> None:
    a, b = Stack.pair()
    async with a, b:
        srv = await b.start_server(_echo, None, 8000)  # every address, as host=None does on the kernel
        assert srv.sockets[0].getsockname() == ("0.0.0.0", 8000)
        assert ("tcp", "0.0.0.0:8000", "0.0.0.0:*", "LISTEN") in [r[:4] for r in b.netstat()]
        reader, writer = await a.open_connection("198.18.0.2", 8000, local_addr=("198.18.0.1", 40000))
        assert writer.get_extra_info("sockname") == ("198.18.0.1", 40000)
        writer.write(b"via wildcard")
        assert await reader.readexactly(12) == b"via wildcard"
        # the same stack reaches its own address over its loopback interface
        r2, w2 = await b.open_connection("198.18.0.2", 8000)
        w2.write(b"self")
        assert await r2.readexactly(4) == b"self"
        w2.close()
        writer.close()
        srv.close()
        await srv.wait_closed()


async def test_user_timeout_is_timeout_error() -> None:
    a, b, hole = _pair_with_blackhole(tcp_config=TcpConfig(rto_min_us=20_000, rto_initial_us=50_000))
    async with a, b:
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 300)  # milliseconds
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 300
        hole.on = True
        writer.write(b"never acknowledged")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(), 20)
        assert loop.time() - t0 < 10  # the user timeout, not 15 retransmissions with backoff
        srv.close()


async def test_failing_protocol_factory_is_reported_and_the_peer_reset() -> None:
    a, b = Stack.pair()
    async with a, b:
        loop = asyncio.get_running_loop()
        calls: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: calls.append(ctx))
        try:
            def factory() -> asyncio.Protocol:
                raise ZeroDivisionError("factory")

            srv = await b.create_server(factory, "198.18.0.2", 7)
            reader, writer = await a.open_connection("198.18.0.2", 7)
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(reader.read(), 5)
            assert any(isinstance(c.get("exception"), ZeroDivisionError) for c in calls)
            writer.close()
            srv.close()
        finally:
            loop.set_exception_handler(None)


async def test_keepalive_detects_a_dead_peer() -> None:
    """SO_KEEPALIVE + TCP_KEEPIDLE/KEEPINTVL/KEEPCNT: unanswered probes end the connection (TimeoutError)."""
    a, b, hole = _pair_with_blackhole()
    async with a, b:
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        hole.on = True
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(), 15)
        assert 0.9 < loop.time() - t0 < 10
        srv.close()


async def test_blocked_writer_is_refilled_a_third_of_the_buffer_at_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Linux sk_stream_is_writeable: a writer waiting for send-buffer space gets it back only once the free
    # space is at least half of what is queued, so every refill moves a third of the buffer or more
    # instead of one freed segment at a time.
    cap = 96 * 1024
    a, b = Stack.pair(tcp_config=TcpConfig(send_buffer_bytes=cap), mtu=1500)
    async with a, b:
        srv = await b.start_server(_echo, "198.18.0.2", 7)
        reader, writer = await a.open_connection("198.18.0.2", 7)
        endpoint: Any = writer.transport._e  # type: ignore[attr-defined]
        conn = endpoint._conn
        refills: list[int] = []
        real_kick = Stack.kick
        left = [0]

        def spy(self: Any, c: Any = None) -> None:
            # A refill that moved bytes into the engine kicks the stack once, after the move.
            if c is conn and endpoint._wbuf_bytes < left[0]:
                refills.append(left[0] - endpoint._wbuf_bytes)
                left[0] = endpoint._wbuf_bytes
            real_kick(self, c)

        monkeypatch.setattr(Stack, "kick", spy)  # the endpoint is a C type when compiled: watch its kicks
        payload = os.urandom(1024 * 1024)
        writer.write(payload)
        left[0] = endpoint._wbuf_bytes
        assert left[0] > 0
        assert await reader.readexactly(len(payload)) == payload
        assert endpoint._wbuf_bytes == 0 and left[0] == 0
        assert len(refills) > 3
        assert min(refills[:-1]) >= cap // 3, refills  # the last one may be the tail
        writer.close()
        srv.close()


def test_engine_writable_follows_the_linux_rule() -> None:
    from aiostack.core.tcp.connection import TcpConnection

    c = TcpConnection(0xC6120001, 1000, 0xC6120002, 80, config=TcpConfig(send_buffer_bytes=3000),
                      isn_secret=b"s", mss=1460, now_us=0)
    assert c.writable()
    c.sendbuf.write(b"x" * 2001)
    assert not c.writable()  # free 999 < queued/2 = 1000
    c.sendbuf.drop(1)
    assert c.writable()  # free 1000 >= 1000


async def test_stream_reader_gets_segments_joined_up_to_256_kib() -> None:
    # asyncio's socket transports hand a StreamReader up to 256 KiB per read; aiostack joins the engine's
    # segments (1448 bytes here) into pieces of that size, never more, never cutting one.
    a, b = Stack.pair(mtu=1500)
    async with a, b:
        sizes: list[int] = []
        got = bytearray()
        done = asyncio.get_running_loop().create_future()

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            real = reader.feed_data

            def spy(data: Any) -> None:
                sizes.append(len(data))
                real(data)

            reader.feed_data = spy  # type: ignore[method-assign]
            while chunk := await reader.read(1 << 20):
                got.extend(chunk)
            done.set_result(None)
            writer.close()

        srv = await b.start_server(sink, "198.18.0.2", 7)
        _, writer = await a.open_connection("198.18.0.2", 7)
        payload = os.urandom(4 * 1024 * 1024)
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        await asyncio.wait_for(done, 30)
        assert bytes(got) == payload
        assert max(sizes) <= 256 * 1024
        assert max(sizes) > 64 * 1024 and sum(sizes) / len(sizes) > 8 * 1448, sizes
        writer.close()
        srv.close()
