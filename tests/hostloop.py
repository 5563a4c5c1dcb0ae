"""A small synchronous driver for an aiostack ``Host`` on a ``Tap`` (tests and benchmarks only).

The asyncio driver lives in ``aiostack.aio``; this one is a plain loop so link-level tests can run the
sans-I/O host against the real kernel: ``select`` on the TAP fd with a timeout no longer than the host's
next deadline, read a batch, feed it to the host, run timers, let the application callback act, flush
egress in one ``send_batch``. Every loop is bounded by wall time and iteration count.
"""

from __future__ import annotations

import hashlib
import random
import select
import time
from collections.abc import Callable
from typing import Any

from aiostack.core.host import Host
from aiostack.core.tcp.events import Closed, Connected, DataReceived, EofReceived
from aiostack.link.base import Device

BATCH = 256


class HostLoop:
    def __init__(self, dev: Device, address: str, *, seed: int = 0, name: str = "tap0") -> None:
        self.dev = dev
        rng = random.Random(seed)
        self.host = Host(rng=rng, isn_secret=rng.randbytes(16))
        self.t0 = time.monotonic_ns()
        self.ifindex = self.host.add_interface(name, dev.mac, address, mtu=dev.caps.mtu, caps=dev.caps,
                                               now_us=self.now_us())
        self.iterations = 0

    def now_us(self) -> int:
        return (time.monotonic_ns() - self.t0) // 1000

    def flush(self) -> None:
        out = self.host.poll_egress(self.now_us())
        if out:
            self.dev.send_batch([f for _, f in out])

    def step(self, max_wait_s: float = 0.05) -> None:
        """One iteration: wait for frames or the next timer, then ingress, timers, egress."""
        self.iterations += 1
        host = self.host
        self.flush()
        wait = max_wait_s
        pa = host.poll_at()
        if pa is not None:
            wait = max(0.0, min(wait, (pa - self.now_us()) / 1e6))
        fd = self.dev.fileno()
        if fd is not None:
            select.select([fd], [], [], wait)
        frames = self.dev.receive_batch(BATCH)
        now = self.now_us()
        if frames:
            host.receive_frames(self.ifindex, frames, now)
        pa = host.poll_at()
        if pa is not None and pa <= now:
            host.handle_timer(now)
        self.flush()

    def run_until(self, done: Callable[[], bool], seconds: float, app: Callable[[], None] | None = None,
                  max_iterations: int = 10_000_000) -> bool:
        deadline = time.monotonic() + seconds
        while not done():
            if time.monotonic() > deadline or self.iterations >= max_iterations:
                return False
            self.step()
            if app is not None:
                app()
                self.flush()
        return True


class _EchoState:
    __slots__ = ("conn", "pending", "eof", "fin")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.pending = bytearray()
        self.eof = False
        self.fin = False


class EchoServer:
    """Accepts connections on ``port`` and echoes every byte back; half-closes after the peer's EOF."""

    def __init__(self, loop: HostLoop, port: int) -> None:
        self.loop = loop
        self.listener = loop.host.tcp_listen(0, port)
        self.states: list[_EchoState] = []
        self.echoed = 0
        self.finished = 0
        self.errors: list[BaseException] = []

    def __call__(self) -> None:
        host = self.loop.host
        while (c := self.listener.accept()) is not None:
            self.states.append(_EchoState(c))
        for st in self.states:
            c = st.conn
            while (ev := c.next_event()) is not None:
                if isinstance(ev, DataReceived):
                    st.pending += c.read()
                    host.notify(c)
                elif isinstance(ev, EofReceived):
                    st.eof = True
                elif isinstance(ev, Closed):
                    self.finished += 1
                    if ev.error is not None:
                        self.errors.append(ev.error)
            if st.pending:
                k = c.send(bytes(st.pending[: 1 << 20]))  # a copy: the engine owns what it is given
                if k:
                    del st.pending[:k]
                    self.echoed += k
                    host.notify(c)
            if st.eof and not st.pending and not st.fin:
                c.shutdown_write()
                st.fin = True
                host.notify(c)


class BulkSender:
    """Connects to (ip, port), sends ``total`` seeded bytes, half-closes, waits for the peer's FIN."""

    def __init__(self, loop: HostLoop, ip: str, port: int, total: int, seed: int = 1) -> None:
        self.loop = loop
        self.data = random.Random(seed).randbytes(total)
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.mv = memoryview(self.data)
        self.total = total
        self.off = 0
        self.conn = loop.host.tcp_connect(ip, port, now_us=loop.now_us())
        self.connected = False
        self.fin_sent = False
        self.peer_eof = False
        self.closed = False
        self.error: BaseException | None = None
        self.t_first = 0.0
        self.t_done = 0.0

    def __call__(self) -> None:
        c = self.conn
        host = self.loop.host
        while (ev := c.next_event()) is not None:
            if isinstance(ev, Connected):
                self.connected = True
                self.t_first = time.perf_counter()
            elif isinstance(ev, DataReceived):
                c.read()
            elif isinstance(ev, EofReceived):
                self.peer_eof = True
                self.t_done = time.perf_counter()
                c.close()
                host.notify(c)
            elif isinstance(ev, Closed):
                self.closed = True
                self.error = ev.error
        if self.connected and self.off < self.total:
            k = c.send(self.mv[self.off:self.off + (1 << 20)])
            if k:
                self.off += k
                host.notify(c)
        if self.connected and self.off >= self.total and not self.fin_sent:
            c.shutdown_write()
            self.fin_sent = True
            host.notify(c)

    def done(self) -> bool:
        return self.peer_eof or self.error is not None


def bench_transfer(*, offload: bool, direction: str, total: int) -> dict[str, Any]:
    """One bulk transfer between aiostack (Host on a TAP) and a kernel peer; for benchmarks/tap_bench.py."""
    from netns import NetNs

    from aiostack.tools import kernelnet

    port = 5201
    with NetNs(prefix="tapbench") as ns:
        tap = ns.tap("tap0", address="198.18.0.1/24", offload=offload)
        ns.ip("link", "set", "dev", "tap0", "txqueuelen", "10000")
        loop = HostLoop(tap, "198.18.0.2/24")
        if direction == "tx":  # aiostack -> kernel: the kernel receiver checks the pattern
            recv = ns.popen(*kernelnet.peer_argv("recv", "198.18.0.1", port, total), text=True)
            kernelnet.read_json_line(recv)
            sender = PatternSender(loop, "198.18.0.1", port, total)
            if not loop.run_until(sender.done, 300, sender):
                raise RuntimeError(f"aiostack -> kernel transfer stalled at {sender.off} of {total}")
            result = kernelnet.read_json_line(recv)
            return {"MB/s": result["value"], "verified": result["verified"], "bytes": total}
        from aiostack.tools.workloads import PatternChecker

        sink = PatternSink(loop, port, PatternChecker(1 << 20))
        send = ns.popen(*kernelnet.peer_argv("send", "198.18.0.2", port, total), text=True)
        if not loop.run_until(lambda: sink.eof, 300, sink):
            raise RuntimeError(f"kernel -> aiostack transfer stalled at {sink.checker.pos} of {total}")
        sink.checker.check(total)
        loop.run_until(lambda: send.poll() is not None, 10, sink)
        secs = sink.t_eof - sink.t_first
        return {"MB/s": total / secs / 1e6, "verified": True, "bytes": total}


class PatternSender:
    """Connects, sends the workload pattern (so a kernel peer can verify it), half-closes, waits for EOF."""

    def __init__(self, loop: HostLoop, ip: str, port: int, total: int) -> None:
        from aiostack.tools.workloads import pattern_chunks

        self.loop = loop
        self.chunks = pattern_chunks(total, 1 << 16)
        self.total = total
        self.off = 0
        self.idx = 0
        self.part = 0
        self.conn = loop.host.tcp_connect(ip, port, now_us=loop.now_us())
        self.connected = False
        self.fin_sent = False
        self.peer_eof = False
        self.error: BaseException | None = None

    def done(self) -> bool:
        return self.peer_eof or self.error is not None

    def __call__(self) -> None:
        c = self.conn
        host = self.loop.host
        while (ev := c.next_event()) is not None:
            if isinstance(ev, Connected):
                self.connected = True
            elif isinstance(ev, EofReceived):
                self.peer_eof = True
                c.close()
                host.notify(c)
            elif isinstance(ev, DataReceived):
                c.read()
            elif isinstance(ev, Closed):
                self.error = ev.error
        sent = False
        while self.connected and self.idx < len(self.chunks):
            chunk = self.chunks[self.idx][self.part:]
            k = c.send(chunk)
            if not k:
                break
            sent = True
            self.off += k
            if k == len(chunk):
                self.idx += 1
                self.part = 0
            else:
                self.part += k
                break
        if sent:
            host.notify(c)
        if self.connected and self.idx >= len(self.chunks) and not self.fin_sent:
            c.shutdown_write()
            self.fin_sent = True
            host.notify(c)


class PatternSink:
    """Accepts one connection on ``port`` and feeds every byte to a checker until EOF, then closes."""

    def __init__(self, loop: HostLoop, port: int, checker: Any) -> None:
        self.loop = loop
        self.listener = loop.host.tcp_listen(0, port)
        self.checker = checker
        self.conn: Any = None
        self.eof = False
        self.t_first = 0.0
        self.t_eof = 0.0
        self.hash = hashlib.sha256()

    def __call__(self) -> None:
        host = self.loop.host
        if self.conn is None:
            self.conn = self.listener.accept()
            if self.conn is None:
                return
        c = self.conn
        while (ev := c.next_event()) is not None:
            if isinstance(ev, DataReceived):
                if not self.t_first:
                    self.t_first = time.perf_counter()
                data = c.read()
                self.checker.feed(data)
                host.notify(c)
            elif isinstance(ev, EofReceived):
                self.eof = True
                self.t_eof = time.perf_counter()
                c.close()
                host.notify(c)
