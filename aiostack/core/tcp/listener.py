"""A listening endpoint: SYN queue and accept backlog, both bounded (RFC 9293 §3.10.7.2).

Read first: RFC 9293 §3.10.7.2 (LISTEN state: RST ignored, ACK answered with RST, SYN opens
SYN-RECEIVED), §3.10.7.1 (segments for no connection), Linux listen(2) backlog semantics.

The listener does not own a 4-tuple table: ``on_segment`` returns a new SYN-RECEIVED connection that the
host registers; the connection tells its listener when it becomes ESTABLISHED (it then waits in the
accept queue) or goes away. Overflow of either queue drops the SYN and counts it.
"""

from __future__ import annotations

import weakref
from collections import deque

from aiostack.config import TcpConfig
from aiostack.core.tcp.connection import TcpConnection
from aiostack.core.tcp.segment import Segment, make_rst_for
from aiostack.core.tcp.state import CLOSED
from aiostack.stats import Counters
from aiostack.wire.tcp import ACK, RST, SYN

__all__ = ["TcpListener", "make_rst_for"]


class TcpListener:
    def __init__(
        self,
        local_ip: int,
        local_port: int,
        *,
        config: TcpConfig | None = None,
        isn_secret: bytes = b"",
        mss: int = 1460,
        backlog: int | None = None,
    ) -> None:
        cfg = config if config is not None else TcpConfig()
        self.config = cfg
        self.local_ip = local_ip  # 0 = any address
        self.local_port = local_port
        self.isn_secret = isn_secret
        self.mss = mss
        # listen(2): the backlog bounds the accept queue (capped by the configured maximum)
        b = cfg.accept_backlog if backlog is None else backlog
        self.backlog = max(1, min(b, cfg.accept_backlog)) if b > 0 else 1
        self.syn_backlog = cfg.syn_backlog
        self.syn_queue: set[TcpConnection] = set()
        self.accept_queue: deque[TcpConnection] = deque()
        self.counters = Counters("tcp.listen")
        self.closed = False
        # What a child in the queues refers to its listener by: weak, since a connection is out of the
        # cyclic GC and must not close a cycle (listener -> queue -> connection -> listener).
        self._ref = weakref.ref(self)

    def on_segment(self, seg: Segment, local_ip: int, remote_ip: int, now_us: int) -> TcpConnection | None:
        """A segment for this port and no connection. A SYN returns a new SYN-RECEIVED connection; the
        caller answers other segments with ``reply_for(seg)`` (RFC 9293 §3.10.7.2)."""
        f = seg.flags
        if f & RST:
            self.counters.drop("rst")  # first: an incoming RST is ignored
            return None
        if f & ACK:
            self.counters.drop("ack")  # second: any ACK is bad; the reply is a reset
            return None
        if not f & SYN:
            self.counters.drop("no_syn")
            return None
        if self.closed:
            self.counters.drop("closed")
            return None
        if len(self.syn_queue) >= self.syn_backlog:
            self.counters.drop("syn_queue_full")
            return None
        if len(self.accept_queue) >= self.backlog:
            self.counters.drop("accept_queue_full")  # as Linux: no new children when accept is full
            return None
        conn = TcpConnection(
            local_ip,
            self.local_port,
            remote_ip,
            seg.src_port,
            config=self.config,
            isn_secret=self.isn_secret,
            mss=self.mss,
            now_us=now_us,
        )
        conn.listener_ref = self._ref
        conn.accept_syn(seg, now_us)
        self.syn_queue.add(conn)
        self.counters.inc("syns_received")
        return conn

    def reply_for(self, seg: Segment) -> Segment | None:
        """RFC 9293 §3.10.7.2: an ACK to a listener is answered <SEQ=SEG.ACK><CTL=RST>; nothing else is."""
        if seg.flags & ACK and not seg.flags & RST:
            return make_rst_for(seg)
        return None

    def accept(self) -> TcpConnection | None:
        """An established connection, oldest first, or None."""
        q = self.accept_queue
        while q:
            conn = q.popleft()
            conn.listener_ref = None
            if conn.state is not CLOSED:
                return conn
        return None

    def close(self) -> list[TcpConnection]:
        """Stop listening; returns the children not accepted yet (the host aborts them)."""
        self.closed = True
        left = list(self.syn_queue) + list(self.accept_queue)
        self.syn_queue.clear()
        self.accept_queue.clear()
        for conn in left:
            conn.listener_ref = None
        return left

    # --- called by connections --------------------------------------------------------------------

    def connection_established(self, conn: TcpConnection) -> None:
        self.syn_queue.discard(conn)
        if len(self.accept_queue) >= self.backlog:
            # accept queue full at the third ACK: reset the child and count it (tcp_abort_on_overflow)
            self.counters.drop("accept_overflow")
            conn.listener_ref = None
            conn.abort()
            return
        self.accept_queue.append(conn)
        self.counters.inc("established")

    def connection_gone(self, conn: TcpConnection) -> None:
        self.syn_queue.discard(conn)
        try:
            self.accept_queue.remove(conn)
        except ValueError:
            pass
        conn.listener_ref = None

    @property
    def pending(self) -> int:
        return len(self.accept_queue)

    def __repr__(self) -> str:
        return (
            f"TcpListener(port={self.local_port}, syn_queue={len(self.syn_queue)}, "
            f"accept_queue={len(self.accept_queue)}/{self.backlog})"
        )
