"""Two TCP engines joined by a deterministic in-memory network with a virtual clock.

No sockets, no asyncio, no wall clock: a discrete-event loop drives both engines through their sans-I/O
verbs (``poll_egress`` / ``receive_segment`` / ``poll_at`` / ``handle_timer`` / ``next_event``) while an
application model on each side writes with ``send()`` as buffer space allows and reads with ``read()``.

Each direction of the path is a ``Link``: a drop-tail bottleneck queue (``queue_limit_bytes``) drained
at ``bandwidth_bps`` (serialization delay), then ``latency_us`` of propagation, with seeded random loss,
duplication and reordering (an extra delay for some packets). Everything is decided by one
``random.Random(seed)``, so a failing scenario is reproduced by its seed; failures print it.

Typical use::

    net = Harness(seed=1, path=PathConfig(loss=0.01))
    result = net.transfer(a_data, b_data, max_virtual_us=60 * SECOND)
    assert result.a.sha256 == sha256(b_data)

The client (side ``a``) opens actively; side ``b`` is a ``TcpListener`` whose SYN creates the server's
connection, which the application takes with ``accept()``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiostack.config import SECOND, TcpConfig
from aiostack.core.tcp.connection import TcpConnection
from aiostack.core.tcp.events import Closed, EofReceived
from aiostack.core.tcp.listener import TcpListener
from aiostack.core.tcp.segment import Segment
from aiostack.core.tcp.state import State

A_IP = 0xC6120001  # 198.18.0.1
B_IP = 0xC6120002  # 198.18.0.2
A_PORT = 40000
B_PORT = 5001
IP_TCP_HEADER = 40  # IPv4 + TCP base headers, what a segment costs on the link besides payload/options

_DONE_STATES = frozenset({State.TIME_WAIT, State.CLOSED})


class HarnessError(AssertionError):
    """The scenario did not finish: stalled, live-locked, or over its virtual-time budget."""


@dataclass
class PathConfig:
    latency_us: int = 10_000  # one-way propagation delay
    bandwidth_bps: int = 100_000_000  # bottleneck rate; 0 = infinitely fast
    queue_limit_bytes: int = 512 * 1024  # drop-tail buffer in front of the bottleneck
    loss: float = 0.0  # probability a packet is lost on the wire
    duplicate: float = 0.0  # probability a delivered packet arrives twice
    reorder: float = 0.0  # probability a packet is held back ...
    reorder_delay_us: int = 3_000  # ... by up to this much (so later packets overtake it)


@dataclass
class LinkStats:
    sent: int = 0
    bytes: int = 0
    lost: int = 0
    queue_drops: int = 0
    duplicated: int = 0
    reordered: int = 0
    delivered: int = 0


class Link:
    """One direction of the path."""

    def __init__(self, cfg: PathConfig, rng: random.Random) -> None:
        self.cfg = cfg
        self.rng = rng
        self.busy_until = 0
        self.stats = LinkStats()

    def transmit(self, seg: Segment, now_us: int) -> list[tuple[int, Segment]]:
        """Arrival times (possibly none, possibly two) of ``seg`` sent at ``now_us``."""
        cfg = self.cfg
        st = self.stats
        size = IP_TCP_HEADER + seg.options_len() + len(seg.payload)
        st.sent += 1
        st.bytes += size
        if cfg.bandwidth_bps:
            start = self.busy_until if self.busy_until > now_us else now_us
            backlog = (start - now_us) * cfg.bandwidth_bps // 8_000_000
            if backlog and backlog + size > cfg.queue_limit_bytes:  # an empty queue takes any one packet
                st.queue_drops += 1
                return []
            done = start + (size * 8_000_000 + cfg.bandwidth_bps - 1) // cfg.bandwidth_bps
            self.busy_until = done
        else:
            done = now_us
        rng = self.rng
        if cfg.loss and rng.random() < cfg.loss:
            st.lost += 1
            return []
        arrive = done + cfg.latency_us
        if cfg.reorder and rng.random() < cfg.reorder:
            st.reordered += 1
            arrive += rng.randint(1, cfg.reorder_delay_us)
        # The engine neither keeps nor mutates segments it emitted or received (payloads are views of
        # immutable chunks), so the original travels; a duplicate is a separate copy.
        out = [(arrive, seg)]
        if cfg.duplicate and rng.random() < cfg.duplicate:
            st.duplicated += 1
            out.append((arrive + rng.randint(0, 1_000), seg.copy()))
        return out


@dataclass
class Side:
    """One application endpoint and its connection."""

    name: str
    local_ip: int
    local_port: int
    conn: TcpConnection | None = None
    data: bytes = b""  # what the application will write
    sent: int = 0  # bytes handed to conn.send so far
    shutdown_after_send: bool = True
    write_after_eof: bool = False  # request/response: answer only once the peer's EOF arrived
    shut: bool = False
    received: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    keep: bytearray | None = None  # received bytes, when the test wants them
    eof: bool = False
    closed: bool = False
    error: BaseException | None = None
    events: list[Any] = field(default_factory=list)
    write_chunk: int = 256 * 1024
    read_chunk: int = 1 << 20
    reading: bool = True

    @property
    def sha256(self) -> str:
        return self.hasher.hexdigest()

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.conn.counters.items()) if self.conn is not None else {}


@dataclass
class Result:
    a: Side
    b: Side
    virtual_us: int
    link_ab: LinkStats
    link_ba: LinkStats
    steps: int

    def goodput_bps(self, nbytes: int) -> float:
        return nbytes * 8 * SECOND / self.virtual_us if self.virtual_us else 0.0


class Harness:
    """The event loop. ``seed`` drives every random choice of the network (and the ISN secrets)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        path: PathConfig | None = None,
        path_ba: PathConfig | None = None,
        config_a: TcpConfig | None = None,
        config_b: TcpConfig | None = None,
        mss: int = 1460,
        start_us: int = 1_000_000,
        max_segment_bytes: int | None = None,
        backlog: int = 8,
        trace: Callable[[str, int, Segment], None] | None = None,
        drop: Callable[[str, int, Segment], bool] | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        path = path or PathConfig()
        self.link_ab = Link(path, random.Random(self.rng.getrandbits(64)))
        self.link_ba = Link(path_ba or path, random.Random(self.rng.getrandbits(64)))
        self.config_a = config_a or TcpConfig()
        self.config_b = config_b or TcpConfig()
        self.mss = mss
        self.now_us = start_us
        self.max_segment_bytes = max_segment_bytes
        self.trace = trace
        self.drop = drop  # drop(side, now_us, seg) -> True: this transmission is lost (targeted losses)
        self.a = Side("a", A_IP, A_PORT)
        self.b = Side("b", B_IP, B_PORT)
        secret_a = self.rng.randbytes(16)
        secret_b = self.rng.randbytes(16)
        self.listener = TcpListener(
            B_IP, B_PORT, config=self.config_b, isn_secret=secret_b, mss=mss, backlog=backlog
        )
        self._secret_a = secret_a
        self._heap: list[tuple[int, int, str, Segment]] = []
        self._order = 0
        self.steps = 0
        self._traffic = 0  # segments transmitted + delivered (progress marker for the live-lock guard)

    # --- setup -----------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Active open from side a (the handshake runs inside ``run``)."""
        conn = TcpConnection(
            A_IP,
            A_PORT,
            B_IP,
            B_PORT,
            config=self.config_a,
            isn_secret=self._secret_a,
            mss=self.mss,
            now_us=self.now_us,
        )
        self.a.conn = conn
        conn.connect(self.now_us)

    def describe(self) -> str:
        parts = [f"seed={self.seed} now_us={self.now_us}"]
        for s in (self.a, self.b):
            c = s.conn
            if c is None:
                parts.append(f"{s.name}: no connection")
                continue
            parts.append(
                f"{s.name}: state={c.state} sent={s.sent}/{len(s.data)} received={s.received} eof={s.eof} "
                f"closed={s.closed} error={s.error!r} poll_at={c.poll_at()} info={c.info()}"
            )
        parts.append(f"links: ab={self.link_ab.stats} ba={self.link_ba.stats}")
        return "\n".join(parts)

    # --- the loop --------------------------------------------------------------------------------------
    def _app(self, side: Side) -> None:
        conn = side.conn
        if conn is None:
            return
        while True:
            ev = conn.next_event()
            if ev is None:
                break
            side.events.append(ev)
            if isinstance(ev, EofReceived):
                side.eof = True
            elif isinstance(ev, Closed):
                side.closed = True
                side.error = ev.error
        if side.reading and conn.recv_buffer_bytes:
            while True:
                chunk = conn.read(side.read_chunk)
                if not chunk:
                    break
                side.received += len(chunk)
                side.hasher.update(chunk)
                if side.keep is not None:
                    side.keep += chunk
        if side.closed or conn.state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            return
        if side.write_after_eof and not side.eof:
            return
        data = side.data
        total = len(data)
        if side.sent < total:
            view = memoryview(data)
            while side.sent < total:
                end = side.sent + side.write_chunk
                n = conn.send(view[side.sent : end if end < total else total])
                if n <= 0:
                    break
                side.sent += n
        if side.sent >= total and side.shutdown_after_send and not side.shut:
            side.shut = True
            conn.shutdown_write()

    def _egress(self, side: Side, link: Link, dest: str) -> None:
        conn = side.conn
        if conn is None:
            return
        segs = conn.poll_egress(self.now_us, self.max_segment_bytes)
        self._traffic += len(segs)
        for seg in segs:
            if self.trace is not None:
                self.trace(side.name, self.now_us, seg)
            if self.drop is not None and self.drop(side.name, self.now_us, seg):
                link.stats.sent += 1
                link.stats.lost += 1
                continue
            for when, copy in link.transmit(seg, self.now_us):
                self._order += 1
                heapq.heappush(self._heap, (when, self._order, dest, copy))

    def _deliver(self, dest: str, seg: Segment) -> None:
        if dest == "a":
            conn = self.a.conn
            if conn is not None:
                conn.receive_segment(seg, self.now_us)
            return
        b = self.b
        if b.conn is not None and b.conn.state != State.CLOSED:
            b.conn.receive_segment(seg, self.now_us)
            return
        if b.conn is not None:
            return  # the server side is finished; its old connection answers nothing more here
        new = self.listener.on_segment(seg, B_IP, A_IP, self.now_us)
        if new is not None:
            b.conn = new

    def _accept(self) -> None:
        if self.b.conn is not None:
            self.listener.accept()

    def next_deadline(self) -> int | None:
        best = self._heap[0][0] if self._heap else None
        for s in (self.a, self.b):
            if s.conn is not None:
                t = s.conn.poll_at()
                if t is not None and (best is None or t < best):
                    best = t
        return best

    def step_once(self) -> bool:
        """One round: applications, egress, advance the clock, deliveries and timers. False = idle."""
        self.steps += 1
        for side in (self.a, self.b):
            self._app(side)
        self._egress(self.a, self.link_ab, "b")
        self._egress(self.b, self.link_ba, "a")
        t = self.next_deadline()
        if t is None:
            return False
        if t > self.now_us:
            self.now_us = t
        now = self.now_us
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, dest, seg = heapq.heappop(heap)
            (self.link_ab if dest == "b" else self.link_ba).stats.delivered += 1
            self._traffic += 1
            self._deliver(dest, seg)
        for side in (self.a, self.b):
            c = side.conn
            if c is not None:
                t = c.poll_at()
                if t is not None and t <= now:
                    c.handle_timer(now)
        self._accept()
        return True

    def run(self, done: Callable[[], bool], *, max_virtual_us: int, max_steps: int = 10_000_000) -> None:
        """Step until ``done()``; HarnessError (with the seed and both connections' state) if the
        network goes idle first, the virtual clock passes ``max_virtual_us`` after the start of this call,
        or the loop spins at one instant without traffic (a timer that never clears)."""
        deadline = self.now_us + max_virtual_us
        last_now = -1
        last_traffic = -1
        same = 0
        steps = 0
        while not done():
            if not self.step_once():
                for side in (self.a, self.b):
                    self._app(side)
                if done():
                    return
                raise HarnessError("network idle before the scenario finished\n" + self.describe())
            steps += 1
            if self.now_us > deadline:
                raise HarnessError(f"virtual time budget of {max_virtual_us} us exceeded\n" + self.describe())
            if self.now_us == last_now and self._traffic == last_traffic:
                same += 1
                if same > 1_000:
                    raise HarnessError("live-lock: 1000 idle rounds at one instant\n" + self.describe())
            else:
                last_now = self.now_us
                last_traffic = self._traffic
                same = 0
            if steps > max_steps:
                raise HarnessError(f"more than {max_steps} steps\n" + self.describe())

    def established(self) -> bool:
        a, b = self.a.conn, self.b.conn
        return (
            a is not None and b is not None and a.state == State.ESTABLISHED and b.state == State.ESTABLISHED
        )

    def finished(self) -> bool:
        """Both applications got everything and EOF, and both connections are past their FIN exchange."""
        a, b = self.a, self.b
        if a.conn is None or b.conn is None:
            return False
        return (
            a.eof
            and b.eof
            and a.received == len(b.data)
            and b.received == len(a.data)
            and a.conn.state in _DONE_STATES
            and b.conn.state in _DONE_STATES
        )

    def transfer(
        self, a_data: bytes, b_data: bytes, *, max_virtual_us: int = 600 * SECOND, max_steps: int = 10_000_000
    ) -> Result:
        """Connect, send ``a_data`` a->b and ``b_data`` b->a at the same time, half-close each way after
        the data, and run until both sides saw all bytes, EOF and a closed connection."""
        start = self.now_us
        self.a.data = a_data
        self.b.data = b_data
        if self.a.conn is None:
            self.connect()
        self.run(self.finished, max_virtual_us=max_virtual_us, max_steps=max_steps)
        return Result(self.a, self.b, self.now_us - start, self.link_ab.stats, self.link_ba.stats, self.steps)


def payload(nbytes: int, seed: int) -> bytes:
    """Deterministic incompressible test data."""
    return random.Random(seed).randbytes(nbytes)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def with_config(cfg: TcpConfig | None = None, **changes: Any) -> TcpConfig:
    return dataclasses.replace(cfg or TcpConfig(), **changes)


# Engine counter names the harness reports under short aliases.
COUNTER_ALIASES = {
    "rto": "rto_expiries",
    "retransmits": "retransmits",
    "fast_retransmits": "fast_retransmits",
}


def counter(counters: dict[str, int], name: str) -> int:
    return counters.get(COUNTER_ALIASES.get(name, name), 0)
