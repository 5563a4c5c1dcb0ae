"""The memory an idle TCP connection costs (issue 7: 10,000 idle connections).

An established connection that never moved data must not carry the structures only data, loss or SACK
need: no per-instance ``__dict__``, no recovery deques, no SACK scoreboard, no receive-chunk deque, no
send-chunk lists. They are created on first use, and behave the same once created.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref

from aiostack.config import TcpConfig
from aiostack.core.tcp.connection import TcpConnection
from aiostack.core.tcp.events import Connected, DataReceived
from aiostack.core.tcp.listener import TcpListener
from aiostack.core.tcp.state import State

A_IP, B_IP = 0xC6120001, 0xC6120002  # 198.18.0.1, 198.18.0.2
T0 = 1_000_000


def _listener() -> TcpListener:
    return TcpListener(B_IP, 80, config=TcpConfig(), isn_secret=b"s", mss=1460)


def _pair(lst: TcpListener, port: int = 40000) -> tuple[TcpConnection, TcpConnection]:
    cfg = lst.config
    a = TcpConnection(A_IP, port, B_IP, 80, config=cfg, isn_secret=b"s", mss=1460, now_us=T0)
    a.connect(T0)
    (syn,) = a.poll_egress(T0)
    b = lst.on_segment(syn, B_IP, A_IP, T0)
    assert b is not None
    for seg in b.poll_egress(T0 + 10):
        a.receive_segment(seg, T0 + 20)
    for seg in a.poll_egress(T0 + 20):
        b.receive_segment(seg, T0 + 30)
    assert a.state is State.ESTABLISHED and b.state is State.ESTABLISHED
    assert lst.accept() is b
    return a, b


def test_idle_connection_carries_no_lazy_structures() -> None:
    a, b = _pair(_listener())
    for c in (a, b):
        assert not hasattr(c, "__dict__")
        assert c.next_event() == Connected()
        assert c.poll_at() is None  # no timer: an idle connection costs nothing per flush
        # no list for queued segments, events or out-of-order ranges once drained (objects the cyclic GC
        # would walk on every full collection)
        assert not gc.is_tracked(c.out) and not gc.is_tracked(c.events) and not gc.is_tracked(c.recvbuf.ooo)
        assert c._rtx_list is None and c._rtx_again is None
        assert c._scoreboard is None and c.sacked_bytes == 0
        assert c.recvbuf._chunks is None
        assert not c.sendbuf._chunks and not c.sendbuf._starts
        assert c.info()["sacked_bytes"] == 0
        assert c._scoreboard is None  # reading the counters did not create it


def test_lazy_structures_work_once_used() -> None:
    a, b = _pair(_listener())
    a.send(b"x" * 3000)
    now = T0 + 100
    segs = a.poll_egress(now)
    assert sum(len(s.payload) for s in segs) == 3000
    for s in segs:
        b.receive_segment(s, now)
    assert b.read() == b"x" * 3000
    for s in b.poll_egress(now + 1):
        a.receive_segment(s, now + 2)
    assert a.snd_una == a.snd_max and len(a.sendbuf) == 0
    assert b.next_event() == Connected() and b.next_event() == DataReceived(3000)
    assert b.next_event() is None
    b.data_event(5)
    b.data_event(7)  # coalesced into one event
    b.report_closed(None)  # appended after it
    assert b.next_event() == DataReceived(12) and b.next_event() is not None and b.next_event() is None
    b.recvbuf.nxt = 0
    assert b.recvbuf.insert(10, b"abc") == (True, None) and b.recvbuf.ooo == [[10, 13, b"abc"]]
    b.recvbuf.append(b"x" * 10)
    assert b.recvbuf.take_contiguous() == 3 and not gc.is_tracked(b.recvbuf.ooo)  # drained: no list kept
    a.rtx_list.append((1, 2, 3, 0))
    assert len(a.rtx_list) == 1 and a._rtx_list is not None
    assert a.scoreboard is a.scoreboard and a.sacked_bytes == 0


def test_engine_bytes_per_idle_connection() -> None:
    # Before the lazy structures an established engine (TcpConnection and its helpers) took about
    # 7.9 KB; now about 2.3 KB. The bound leaves room for small additions, not for a __dict__ or a deque.
    n = 300
    lst = _listener()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        pairs = [_pair(lst, 20000 + i) for i in range(n)]
        gc.collect()
        per_end = (tracemalloc.get_traced_memory()[0] - base) / (2 * n)
    finally:
        tracemalloc.stop()
    assert len(pairs) == n
    assert per_end < 3000, per_end


def test_connections_and_their_helpers_stay_out_of_the_cyclic_gc_in_the_compiled_build() -> None:
    """The connection and its leaf helpers reference nothing that can lead back to them (the listener
    only weakly, see the next test): compiled, they are left out of the cyclic GC, whose full collections
    otherwise dominate opening thousands of connections (a connection has ~125 fields to visit)."""
    from aiostack import _compiled
    from aiostack.core.tcp.segment import Segment

    lst = _listener()
    a, b = _pair(lst)
    helpers = [a, b, a.timers, a.rtt, a.sendbuf, a.recvbuf, a.counters, a.cc.hystart, a.cc, Segment()]
    if "aiostack.core.tcp.connection" not in _compiled.compiled_modules():
        assert all(gc.is_tracked(h) for h in helpers[:-1])  # the source: ordinary __slots__ classes
        return
    assert not any(gc.is_tracked(h) for h in helpers), [type(h).__name__ for h in helpers if gc.is_tracked(h)]
    a.send(b"x" * 5000)  # still work: the data moves
    for seg in a.poll_egress(T0 + 1000):
        b.receive_segment(seg, T0 + 1000)
    assert b.read() == b"x" * 5000



def test_a_dropped_listener_and_its_unaccepted_children_are_freed() -> None:
    """A child in a listener's queues refers to it weakly: listener -> queue -> child -> listener would be a
    cycle through an object the collector does not see (compiled), and leak both."""
    lst = _listener()
    a, b = _pair(lst)
    lst.accept_queue.append(b)  # as if not accepted yet: ESTABLISHED, in the accept queue
    b.listener_ref = lst._ref
    c = TcpConnection(A_IP, 40001, B_IP, 80, config=lst.config, isn_secret=b"s", mss=1460, now_us=T0)
    c.connect(T0)
    (syn,) = c.poll_egress(T0)
    embryonic = lst.on_segment(syn, B_IP, A_IP, T0)  # SYN-RECEIVED, in the SYN queue
    assert embryonic is not None and embryonic.listener is lst and b.listener is lst
    refs = [weakref.ref(o) for o in (lst, b, embryonic)]
    del lst, b, embryonic
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
