"""Random segments fed to TCP connections in every state (each state reached by real exchanges).

Whatever arrives, the engine must not raise; it drops (and counts), acknowledges, resets or sends a
challenge ACK exactly as RFC 9293 §3.10.7 and RFC 5961 say:

- synchronized states never answer with a RST (RFC 9293 §3.10.7.4: an unacceptable segment gets an
  empty ACK; RFC 5961 §3/§4: an in-window RST or any SYN gets a challenge ACK instead of a reset);
- an RST whose sequence number is exactly RCV.NXT closes the connection; any other RST leaves it open;
- a SYN in a synchronized state leaves the state unchanged (TIME-WAIT excepted: a newer SYN may reopen);
- a CLOSED connection answers anything but a RST with a RST (RFC 9293 §3.10.7.1), a LISTEN endpoint only
  creates a connection for a bare SYN and answers only ACKs with a RST (§3.10.7.2);
- SND.UNA and RCV.NXT never move backwards, state changes follow figure 5, ``Closed`` comes at most once.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiostack.config import TcpConfig
from aiostack.core.tcp.connection import TcpConnection
from aiostack.core.tcp.events import Closed
from aiostack.core.tcp.listener import TcpListener
from aiostack.core.tcp.segment import Segment
from aiostack.core.tcp.state import SYNCHRONIZED, State
from aiostack.fastpath import seq_add, seq_diff, seq_ge, seq_in_window
from aiostack.wire.tcp import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG

A_IP, B_IP = 0xC6120001, 0xC6120002
A_PORT, B_PORT = 40000, 5001
M32 = 0xFFFFFFFF
T0 = 5_000_000
# Examples per state; raise for a longer hunt: AIOSTACK_FUZZ_EXAMPLES=2000 pytest tests/test_tcp_fuzz.py
EXAMPLES = int(os.environ.get("AIOSTACK_FUZZ_EXAMPLES", "60"))

# RFC 9293 figure 5 (plus the direct paths the RFC allows: RST/abort/timeouts to CLOSED, SYN-RECEIVED
# straight to CLOSE-WAIT when the completing ACK carries a FIN).
ALLOWED = {
    State.SYN_SENT: {State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT, State.CLOSED},
    State.SYN_RECEIVED: {State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_1, State.CLOSED},
    State.ESTABLISHED: {State.CLOSE_WAIT, State.CLOSED},
    State.FIN_WAIT_1: {State.FIN_WAIT_2, State.CLOSING, State.TIME_WAIT, State.CLOSED},
    State.FIN_WAIT_2: {State.TIME_WAIT, State.CLOSED},
    State.CLOSE_WAIT: {State.LAST_ACK, State.CLOSED},
    State.CLOSING: {State.TIME_WAIT, State.CLOSED},
    State.LAST_ACK: {State.CLOSED},
    State.TIME_WAIT: {State.CLOSED},
    State.CLOSED: set(),
}


class Pair:
    """Client ``a`` and server ``b`` joined by hand: we decide which segments are delivered."""

    def __init__(self, config: TcpConfig | None = None) -> None:
        cfg = config or TcpConfig(recv_buffer_bytes=256 * 1024, send_buffer_bytes=256 * 1024)
        self.now = T0
        self.listener = TcpListener(B_IP, B_PORT, config=cfg, isn_secret=b"b-secret", mss=1460, backlog=4)
        self.a = TcpConnection(
            A_IP, A_PORT, B_IP, B_PORT, config=cfg, isn_secret=b"a-secret", mss=1460, now_us=self.now
        )
        self.b: TcpConnection | None = None
        self.events: dict[str, list[object]] = {"a": [], "b": []}

    def drain_events(self) -> None:
        for name, c in (("a", self.a), ("b", self.b)):
            while c is not None and (ev := c.next_event()) is not None:
                self.events[name].append(ev)

    def out(self, c: TcpConnection) -> list[Segment]:
        return c.poll_egress(self.now)

    def deliver(self, segs: list[Segment], to: TcpConnection) -> None:
        for s in segs:
            to.receive_segment(s.copy(), self.now)

    def settle(self, rounds: int = 50) -> None:
        """Exchange everything both ways, letting short timers (delayed ACK) fire, until quiet."""
        assert self.b is not None
        for _ in range(rounds):
            sa = self.out(self.a)
            sb = self.out(self.b)
            self.deliver(sa, self.b)
            self.deliver(sb, self.a)
            self.drain_events()
            if sa or sb:
                continue
            t = [x for x in (self.a.poll_at(), self.b.poll_at()) if x is not None and x - self.now <= 250_000]
            if not t:
                return
            self.now = max(self.now, min(t))
            for c in (self.a, self.b):
                p = c.poll_at()
                if p is not None and p <= self.now:
                    c.handle_timer(self.now)
        raise AssertionError("did not settle")

    def handshake(self) -> None:
        self.a.connect(self.now)
        syn = self.out(self.a)
        self.b = self.listener.on_segment(syn[0].copy(), B_IP, A_IP, self.now)
        assert self.b is not None
        self.now += 10_000
        self.settle()
        self.listener.accept()
        assert self.a.state is State.ESTABLISHED and self.b.state is State.ESTABLISHED


def reach(state: str) -> tuple[Pair, TcpConnection]:
    """A pair and the connection of it that is in ``state`` (all reached through real segments)."""
    p = Pair()
    if state == "SYN_SENT":
        p.a.connect(p.now)
        p.out(p.a)  # the SYN is lost
        return p, p.a
    if state == "SYN_RECEIVED":
        p.a.connect(p.now)
        p.b = p.listener.on_segment(p.out(p.a)[0].copy(), B_IP, A_IP, p.now)
        assert p.b is not None
        p.out(p.b)  # the SYN-ACK is lost
        return p, p.b
    p.handshake()
    assert p.b is not None
    p.a.send(b"a" * 5000)
    p.b.send(b"b" * 3000)
    p.settle()
    p.a.read()
    p.b.read()
    if state == "ESTABLISHED":
        p.a.send(b"c" * 4000)  # some data in flight, unacknowledged
        p.out(p.a)
        return p, p.a
    if state == "CLOSED":
        p.a.abort()
        p.out(p.a)
        return p, p.a
    if state == "CLOSING":
        p.a.shutdown_write()
        p.b.shutdown_write()
        p.out(p.a)  # a's FIN is still on its way when ...
        fb = p.out(p.b)
        p.deliver(fb, p.a)  # the FINs cross: each side sees the other's FIN before the ACK of its own
        assert p.a.state is State.CLOSING, p.a.state
        return p, p.a
    p.a.shutdown_write()
    fin_a = p.out(p.a)
    if state == "FIN_WAIT_1":
        return p, p.a
    p.deliver(fin_a, p.b)
    p.settle()
    if state == "FIN_WAIT_2":
        assert p.a.state is State.FIN_WAIT_2
        return p, p.a
    if state == "CLOSE_WAIT":
        assert p.b.state is State.CLOSE_WAIT
        return p, p.b
    p.b.shutdown_write()
    fin_b = p.out(p.b)
    if state == "LAST_ACK":
        assert p.b.state is State.LAST_ACK
        return p, p.b
    p.deliver(fin_b, p.a)
    assert state == "TIME_WAIT" and p.a.state is State.TIME_WAIT, p.a.state
    p.out(p.a)
    return p, p.a


STATES = [
    "SYN_SENT",
    "SYN_RECEIVED",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "CLOSE_WAIT",
    "CLOSING",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSED",
]


@pytest.mark.parametrize("state", STATES)
def test_states_are_reached(state: str) -> None:
    _, c = reach(state)
    assert str(c.state) == state.replace("_", "-")


# --- random segments --------------------------------------------------------------------------------

FLAG_BITS = [FIN, SYN, RST, PSH, ACK, URG, ECE, CWR]


@st.composite
def fuzz_segment(draw: st.DrawFn, c: TcpConnection) -> tuple[Segment, int]:
    """A segment aimed at ``c`` (right ports), with fields near its windows or anywhere, and a delay."""
    info = c.info()
    rcv_nxt = info["rcv_nxt"]
    snd_una = info["snd_una"]
    snd_max = info["snd_max"]
    seq = draw(
        st.one_of(
            st.just(rcv_nxt),
            st.integers(-70_000, 300_000).map(lambda d: (rcv_nxt + d) & M32),
            st.integers(0, M32),
        )
    )
    ack = draw(
        st.one_of(
            st.sampled_from([snd_una, snd_max, (snd_una - 1) & M32, (snd_max + 1) & M32]),
            st.integers(-300_000, 300_000).map(lambda d: (snd_una + d) & M32),
            st.integers(0, M32),
        )
    )
    flags = 0
    for bit in FLAG_BITS:
        if draw(st.booleans()):
            flags |= bit
    if draw(st.integers(0, 3)) == 0:
        flags = draw(st.sampled_from([ACK, RST, SYN, RST | ACK, SYN | ACK, FIN | ACK, ACK | PSH]))
    plen = draw(st.sampled_from([0, 0, 1, 100, 1460, 3000]))
    payload = bytes([draw(st.integers(0, 255))]) * plen
    seg = Segment(A_PORT if c.local_port == B_PORT else B_PORT, c.local_port, seq, ack, flags)
    seg.window = draw(st.integers(0, 0xFFFF))
    seg.payload = payload
    if draw(st.booleans()):
        seg.mss = draw(st.integers(0, 0xFFFF))
    if draw(st.booleans()):
        seg.wscale = draw(st.integers(0, 20))
    seg.sack_permitted = draw(st.booleans())
    if draw(st.booleans()):
        n = draw(st.integers(1, 4))
        seg.sack_blocks = tuple(
            (
                (snd_una + draw(st.integers(-5000, 60000))) & M32,
                (snd_una + draw(st.integers(-5000, 60000))) & M32,
            )
            for _ in range(n)
        )
    if draw(st.booleans()):
        seg.ts_val = draw(st.integers(0, M32))
        seg.ts_ecr = draw(st.integers(0, M32))
    delay = draw(st.sampled_from([0, 0, 1_000, 50_000, 300_000, 2_000_000]))
    return seg, delay


def _rcv_window(c: TcpConnection) -> int:
    i = c.info()
    return max(0, int(i["rcv_wnd"]))


def check_one(p: Pair, c: TcpConnection, seg: Segment, closed_before: int) -> None:
    """Inject ``seg`` into ``c`` and check the response."""
    before = c.state
    info = c.info()
    una0, rcv0 = info["snd_una"], info["rcv_nxt"]
    wnd = _rcv_window(c)
    c.poll_egress(p.now)  # flush anything pending so the reply below is caused by seg alone
    c.receive_segment(seg, p.now)
    out = c.poll_egress(p.now)
    p.drain_events()
    after = c.state
    where = f"state {before} -> {after}, injected {seg!r}, replies {out!r}"
    assert after == before or after in ALLOWED[before], where
    if before in SYNCHRONIZED and after is not State.CLOSED:
        i2 = c.info()
        assert seq_ge(i2["snd_una"], una0), where
        assert seq_ge(i2["rcv_nxt"], rcv0), where
        assert seq_ge(i2["snd_max"], i2["snd_una"]), where
    rsts = [s for s in out if s.flags & RST]
    if before in SYNCHRONIZED:
        # RFC 9293 §3.10.7.4 / RFC 5961: never a reset in reply to a segment in a synchronized state
        assert not rsts, where
        if seg.flags & RST:
            if seg.seq == rcv0:
                assert after is State.CLOSED, where  # exact match: the reset is accepted
            else:
                assert after == before, where  # RFC 5961 §3.2: otherwise the connection stays
                if wnd and seq_in_window(seg.seq, rcv0, wnd):
                    assert all(s.flags == ACK and not s.payload for s in out), where  # challenge ACK
                    assert len(out) <= 1, where
                else:
                    # RFC 5961 §3.2: SEG.SEQ outside the window (also when a payload reaches into it):
                    # silently dropped
                    assert not out, where
        elif seg.flags & SYN and before is not State.TIME_WAIT:
            assert after == before, where  # RFC 5961 §4.2: challenge ACK, no state change
            assert all(s.flags & ACK and not s.flags & (SYN | RST) for s in out), where
    elif before is State.CLOSED:
        if seg.flags & RST:
            assert not out, where  # RFC 9293 §3.10.7.1: a RST is never answered
        else:
            assert len(out) == 1 and out[0].flags & RST, where
            r = out[0]
            if seg.flags & ACK:
                assert r.seq == seg.ack and r.flags == RST, where
            else:
                assert r.seq == 0 and r.flags == RST | ACK, where
                assert r.ack == seq_add(seg.seq, seg.seg_len), where
    elif before is State.SYN_SENT:
        # RFC 9293 §3.10.7.3: a RST answers only an unacceptable ACK (and never a RST)
        for r in rsts:
            assert not seg.flags & RST and seg.flags & ACK and r.seq == seg.ack, where
        if seg.flags & RST and after is State.CLOSED:
            assert seg.flags & ACK, where  # a RST without ACK is dropped in SYN-SENT
    elif before is State.SYN_RECEIVED:
        for r in rsts:
            # RFC 9293 §3.10.7.4 fifth step: only an unacceptable ACK is answered <SEQ=SEG.ACK><CTL=RST>
            assert not seg.flags & RST and seg.flags & ACK and r.seq == seg.ack, where
    closed_events = sum(1 for ev in p.events["a"] + p.events["b"] if isinstance(ev, Closed))
    assert closed_events <= closed_before + 1, where


def run_fuzz(state: str, data: st.DataObject) -> None:
    p, c = reach(state)
    p.drain_events()
    name = "a" if c is p.a else "b"
    closed_before = sum(1 for ev in p.events[name] if isinstance(ev, Closed))
    steps = data.draw(st.integers(1, 8), label="steps")
    for _ in range(steps):
        seg, delay = data.draw(fuzz_segment(c), label="segment")
        if delay:
            p.now += delay
            t = c.poll_at()
            if t is not None and t <= p.now:
                c.handle_timer(p.now)
                c.poll_egress(p.now)
                p.drain_events()
        check_one(p, c, seg, closed_before)
        closed_before = sum(1 for ev in p.events[name] if isinstance(ev, Closed))
        assert closed_before <= 1
    # The connection still works as a state machine: timers run without raising.
    for _ in range(3):
        t = c.poll_at()
        if t is None:
            break
        p.now = max(p.now, t)
        c.handle_timer(p.now)
        c.poll_egress(p.now)
        p.drain_events()


def _fuzz_test(state: str) -> Callable[..., None]:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def t(data: st.DataObject) -> None:
        run_fuzz(state, data)

    return t


@pytest.mark.timeout(300)
@pytest.mark.parametrize("state", STATES)
def test_random_segments_in_every_state(state: str) -> None:
    _fuzz_test(state)()


# --- LISTEN -----------------------------------------------------------------------------------------


@settings(max_examples=EXAMPLES * 3, deadline=None)
@given(
    flags=st.integers(0, 0xFF),
    seq=st.integers(0, M32),
    ack=st.integers(0, M32),
    plen=st.sampled_from([0, 1, 500]),
    mss=st.one_of(st.none(), st.integers(0, 0xFFFF)),
    wscale=st.one_of(st.none(), st.integers(0, 30)),
    ts=st.one_of(st.none(), st.integers(0, M32)),
)
def test_random_segments_to_a_listener(flags, seq, ack, plen, mss, wscale, ts) -> None:
    lst = TcpListener(B_IP, B_PORT, config=TcpConfig(), isn_secret=b"x", mss=1460, backlog=2)
    seg = Segment(A_PORT, B_PORT, seq, ack, flags, 1000, b"z" * plen, mss=mss, wscale=wscale)
    if ts is not None:
        seg.ts_val, seg.ts_ecr = ts, 0
    conn = lst.on_segment(seg, B_IP, A_IP, T0)
    reply = lst.reply_for(seg)
    if flags & RST:
        assert conn is None and reply is None  # RFC 9293 §3.10.7.2 first: ignore a RST
    elif flags & ACK:
        assert conn is None  # second: any ACK is bad ...
        assert reply is not None and reply.flags == RST and reply.seq == ack  # ... <SEQ=SEG.ACK><CTL=RST>
    elif flags & SYN:
        assert conn is not None and conn.state is State.SYN_RECEIVED  # third: a SYN
        assert reply is None
        synack = conn.poll_egress(T0)
        assert len(synack) == 1 and synack[0].flags & (SYN | ACK) == SYN | ACK
        # RFC 9293 §3.10.7.2 fourth: the SYN's text is queued and acknowledged with the SYN-ACK
        assert synack[0].ack == seq_add(seq, 1 + plen)
        assert 88 - 12 <= conn.mss <= 1460  # floor (Linux TCP_MIN_MSS) minus the timestamp option
    else:
        assert conn is None and reply is None  # fourth: drop


def test_rst_exactly_at_rcv_nxt_resets_and_elsewhere_challenges() -> None:
    """The two RFC 5961 §3.2 branches, deterministic, as a reference for the fuzz assertions."""
    p, c = reach("ESTABLISHED")
    rcv = c.info()["rcv_nxt"]
    seg = Segment(B_PORT, A_PORT, seq_add(rcv, 100), 0, RST)
    c.receive_segment(seg, p.now)
    out = c.poll_egress(p.now)
    assert c.state is State.ESTABLISHED
    assert len(out) == 1 and out[0].flags == ACK and out[0].ack == rcv
    assert seq_diff(out[0].seq, c.info()["snd_una"]) >= 0
    below = Segment(B_PORT, A_PORT, seq_add(rcv, -10), 0, RST)
    below.payload = b"d" * 100  # reaches into the window: SEG.SEQ alone decides (RFC 5961 §3.2)
    c.receive_segment(below, p.now)
    assert c.poll_egress(p.now) == [] and c.state is State.ESTABLISHED
    c.receive_segment(Segment(B_PORT, A_PORT, rcv, 0, RST), p.now)
    assert c.state is State.CLOSED
    p.drain_events()
    assert any(isinstance(ev, Closed) and isinstance(ev.error, ConnectionResetError) for ev in p.events["a"])
