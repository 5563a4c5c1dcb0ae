"""Scripted tests: opening a connection (RFC 9293 §3.5, §3.10.7.2-3), options, ISN, listener queues."""

from __future__ import annotations

import errno

import pytest
from tcp_script import LOCAL_IP, LOCAL_PORT, REMOTE_IP, REMOTE_PORT, SECRET, Script, cfg

from aiostack.core.tcp.events import Closed, Connected
from aiostack.core.tcp.isn import generate_isn, isn_and_ts_offset, timestamp_offset
from aiostack.core.tcp.listener import TcpListener, make_rst_for
from aiostack.core.tcp.segment import Segment
from aiostack.core.tcp.state import State
from aiostack.wire.tcp import ACK, RST, SYN

pytestmark = pytest.mark.timeout(30)


def test_active_open_exact_segments() -> None:
    s = Script.new()
    s.conn.connect(s.now)
    assert s.conn.state is State.SYN_SENT
    syn = s.expect("S", seq=s.l(0), ack=0, window=65535, mss=1460, wscale=7, sack_permitted=True, ts_ecr=0,
                   len=0)[0]
    assert syn.ts_val is not None
    s.expect_nothing()
    s.inject("S.", seq=s.r(0), ack=s.l(1), window=29200, mss=1400, wscale=9, sack_permitted=True,
             ts_val=777, ts_ecr=syn.ts_val)
    s.expect(".", seq=s.l(1), ack=s.r(1), window=(4 * 1024 * 1024) >> 7, ts_ecr=777)
    assert s.conn.state is State.ESTABLISHED
    assert s.events() == [Connected()]
    c = s.conn
    assert (c.snd_wscale, c.rcv_wscale, c.ts_ok, c.sack_ok) == (9, 7, True, True)
    assert c.snd_mss == 1400 - 12  # RFC 6691: timestamps come out of the MSS
    assert c.snd_wnd == 29200  # RFC 7323 §2.2: the SYN-ACK window is not scaled
    assert c.rtt.srtt_us is not None  # the handshake gave an RTT sample
    s.expect_nothing()
    assert s.conn.poll_at() is None  # nothing outstanding, no keep-alive


def test_passive_open_exact_segments() -> None:
    lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=cfg(), isn_secret=SECRET, mss=1460, backlog=4)
    syn = Segment(REMOTE_PORT, LOCAL_PORT, 5000, 0, SYN, 8192, b"", 1200, None, False, (), None, None)
    conn = lst.on_segment(syn, LOCAL_IP, REMOTE_IP, 0)
    assert conn is not None and conn.state is State.SYN_RECEIVED
    s = Script(conn, 0, 5000)
    # peer offered no wscale/TS/SACK: the SYN-ACK must not offer them either (RFC 7323 §1.3, RFC 2018)
    s.expect("S.", seq=s.l(0), ack=s.r(1), mss=1460, wscale=None, sack_permitted=False, ts_val=None,
             window=65535)
    assert lst.accept() is None  # not established yet
    s.inject(".", seq=s.r(1), ack=s.l(1), window=8192)
    assert conn.state is State.ESTABLISHED
    assert conn.rcv_wscale == 0 and conn.snd_mss == 1200
    assert lst.accept() is conn and lst.accept() is None
    assert s.events() == [Connected()]
    s.expect_nothing()


def test_passive_open_with_data_on_third_ack() -> None:
    s = Script.server()
    # already established by the fixture; data flows right away
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"GET /")
    assert s.conn.read() == b"GET /"


def test_synack_lost_peer_retransmits_syn() -> None:
    lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=cfg(), isn_secret=SECRET, mss=1460)
    syn = Segment(REMOTE_PORT, LOCAL_PORT, 5000, 0, SYN, 8192, b"", 1460)
    conn = lst.on_segment(syn, LOCAL_IP, REMOTE_IP, 0)
    assert conn is not None
    s = Script(conn, 0, 5000)
    s.expect("S.", seq=s.l(0), ack=s.r(1))
    s.advance(100_000)
    s.inject_seg(syn)  # the SYN again: our SYN-ACK was lost
    s.expect("S.", seq=s.l(0), ack=s.r(1))
    assert conn.state is State.SYN_RECEIVED


def test_synack_retransmission_backoff_and_give_up() -> None:
    lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=cfg(syn_ack_retransmits=2), isn_secret=SECRET)
    conn = lst.on_segment(Segment(REMOTE_PORT, LOCAL_PORT, 5000, 0, SYN, 8192), LOCAL_IP, REMOTE_IP, 0)
    assert conn is not None
    s = Script(conn, 0, 5000)
    s.expect("S.", seq=s.l(0))
    s.advance(999_999)
    s.expect_nothing()
    s.advance(1)
    s.expect("S.", seq=s.l(0))  # RFC 6298 §2.1: initial RTO 1 s
    s.advance(1_999_999)
    s.expect_nothing()
    s.advance(1)
    s.expect("S.", seq=s.l(0))  # backoff: 2 s
    s.advance(4_000_000)
    s.expect_nothing()
    assert conn.state is State.CLOSED
    assert len(lst.syn_queue) == 0


def test_syn_retransmission_backoff_then_timeout() -> None:
    s = Script.new(cfg(max_syn_retransmits=3))
    s.conn.connect(0)
    s.expect("S", seq=s.l(0))
    times = []
    for _ in range(3):
        dt = s.advance_to_timer()
        times.append(dt)
        s.expect("S", seq=s.l(0))
    assert times == [1_000_000, 2_000_000, 4_000_000]  # RFC 6298 §5.5 doubling
    s.advance(8_000_000)
    s.expect_nothing()
    assert s.conn.state is State.CLOSED
    ev = s.events()
    assert len(ev) == 1 and isinstance(ev[0], Closed) and isinstance(ev[0].error, TimeoutError)
    assert s.conn.counters["rto_expiries"] == 3


def test_syn_sent_rst_with_acceptable_ack_is_refused() -> None:
    s = Script.new()
    s.conn.connect(0)
    s.expect("S")
    s.inject("R.", seq=0, ack=s.l(1))
    assert s.conn.state is State.CLOSED
    ev = s.events()
    assert isinstance(ev[-1], Closed) and isinstance(ev[-1].error, ConnectionRefusedError)
    s.expect_nothing()


def test_syn_sent_rst_with_bad_ack_ignored() -> None:
    s = Script.new()
    s.conn.connect(0)
    s.expect("S")
    s.inject("R.", seq=0, ack=s.l(5))  # RFC 9293 §3.10.7.3: unacceptable ACK, RST dropped
    s.inject("R", seq=0)  # RFC 5961 §3.2 / RFC 9293: RST without ACK in SYN-SENT is ignored
    assert s.conn.state is State.SYN_SENT
    s.expect_nothing()


def test_syn_sent_bad_ack_gets_reset() -> None:
    s = Script.new()
    s.conn.connect(0)
    s.expect("S")
    s.inject("S.", seq=s.r(0), ack=s.l(100))
    s.expect("R", seq=s.l(100))  # RFC 9293 §3.10.7.3: <SEQ=SEG.ACK><CTL=RST>
    assert s.conn.state is State.SYN_SENT
    s.inject(".", seq=s.r(0), ack=s.l(0))  # SEG.ACK =< ISS
    s.expect("R", seq=s.l(0))


def test_simultaneous_open() -> None:
    s = Script.new()
    s.conn.connect(0)
    syn = s.expect("S", seq=s.l(0))[0]
    # RFC 9293 figure 7: the peer's SYN crosses ours
    s.inject("S", seq=s.r(0), window=65535, mss=1460, wscale=7, sack_permitted=True, ts_val=100, ts_ecr=0)
    assert s.conn.state is State.SYN_RECEIVED
    s.expect("S.", seq=s.l(0), ack=s.r(1), mss=1460, wscale=7, sack_permitted=True, ts_ecr=100)
    # the peer's SYN-ACK completes it
    s.inject("S.", seq=s.r(0), ack=s.l(1), ts_val=101, ts_ecr=syn.ts_val)
    assert s.conn.state is State.ESTABLISHED
    assert s.events() == [Connected()]
    s.conn.send(b"x")
    s.expect("P.", seq=s.l(1), ack=s.r(1), payload=b"x")


def test_simultaneous_open_ack_completes() -> None:
    s = Script.new(cfg(timestamps=False))
    s.conn.connect(0)
    s.expect("S")
    s.inject("S", seq=s.r(0), window=1000, mss=1000)
    s.expect("S.", seq=s.l(0), ack=s.r(1))
    s.inject(".", seq=s.r(1), ack=s.l(1), window=1000)
    assert s.conn.state is State.ESTABLISHED


def test_syn_ack_with_data_is_delivered() -> None:
    s = Script.new(cfg(timestamps=False))
    s.conn.connect(0)
    s.expect("S")
    s.inject("S.", seq=s.r(0), ack=s.l(1), mss=1000, payload=b"early")
    s.expect(".", seq=s.l(1), ack=s.r(6))
    assert s.conn.read() == b"early"


def test_isn_is_keyed_hash_plus_4us_clock() -> None:
    a = generate_isn(b"k", 1, 2, 3, 4, 0)
    assert generate_isn(b"k", 1, 2, 3, 4, 4) == (a + 1) & 0xFFFFFFFF  # RFC 9293 §3.4.1: 4 µs ticks
    assert generate_isn(b"k", 1, 2, 3, 5, 0) != a  # another 4-tuple, another sequence space
    assert generate_isn(b"other", 1, 2, 3, 4, 0) != a  # the secret matters (RFC 6528 §3)
    s1 = Script.new()
    assert s1.conn.iss == generate_isn(SECRET, LOCAL_IP, LOCAL_PORT, REMOTE_IP, REMOTE_PORT, 0)


def test_isn_and_timestamp_offset_come_from_one_hash_as_independent_halves() -> None:
    isn, off = isn_and_ts_offset(b"k", 1, 2, 3, 4, 40)
    assert (isn, off) == (generate_isn(b"k", 1, 2, 3, 4, 40), timestamp_offset(b"k", 1, 2, 3, 4))
    assert off != (isn - 10) & 0xFFFFFFFF  # not the ISN's half
    assert timestamp_offset(b"k", 1, 2, 3, 5) != off and timestamp_offset(b"other", 1, 2, 3, 4) != off
    assert timestamp_offset(b"x" * 40, 1, 2, 3, 4) != timestamp_offset(b"y" * 40, 1, 2, 3, 4)  # long secrets
    s1 = Script.new()
    assert s1.conn.ts_offset == timestamp_offset(SECRET, LOCAL_IP, LOCAL_PORT, REMOTE_IP, REMOTE_PORT)


def test_mss_clamped_and_defaulted() -> None:
    s = Script.new(cfg(timestamps=False))
    s.conn.connect(0)
    s.expect("S")
    s.inject("S.", seq=s.r(0), ack=s.l(1), mss=10)  # absurd MSS: clamped up to the floor
    assert s.conn.snd_mss == 88
    t = Script.new(cfg(timestamps=False))
    t.conn.connect(0)
    t.expect("S")
    t.inject("S.", seq=t.r(0), ack=t.l(1))  # RFC 9293 §3.7.1: no MSS option means 536
    assert t.conn.snd_mss == 536


def test_wscale_over_14_is_clamped() -> None:
    s = Script.new()
    s.conn.connect(0)
    s.expect("S")
    s.inject("S.", seq=s.r(0), ack=s.l(1), wscale=20, ts_val=1, ts_ecr=0)
    assert s.conn.snd_wscale == 14  # RFC 7323 §2.3


def test_listener_ack_gets_reset_and_rst_ignored() -> None:
    lst = TcpListener(LOCAL_IP, LOCAL_PORT, isn_secret=SECRET)
    ack = Segment(REMOTE_PORT, LOCAL_PORT, 10, 777, ACK, 100)
    assert lst.on_segment(ack, LOCAL_IP, REMOTE_IP, 0) is None
    r = lst.reply_for(ack)
    assert r is not None and r.flags == RST and r.seq == 777  # RFC 9293 §3.10.7.2
    rst = Segment(REMOTE_PORT, LOCAL_PORT, 10, 0, RST, 0)
    assert lst.on_segment(rst, LOCAL_IP, REMOTE_IP, 0) is None and lst.reply_for(rst) is None


def test_make_rst_for_no_connection() -> None:
    # RFC 9293 §3.10.7.1
    syn = Segment(REMOTE_PORT, 9, 100, 0, SYN, 100)
    r = make_rst_for(syn)
    assert r is not None and r.flags == RST | ACK and r.seq == 0 and r.ack == 101
    assert (r.src_port, r.dst_port) == (9, REMOTE_PORT)
    data = Segment(REMOTE_PORT, 9, 100, 55, ACK, 100, b"abc")
    r = make_rst_for(data)
    assert r is not None and r.flags == RST and r.seq == 55
    assert make_rst_for(Segment(REMOTE_PORT, 9, 1, 0, RST, 0)) is None


def test_listener_queues_bounded_and_counted() -> None:
    lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=cfg(syn_backlog=2), isn_secret=SECRET, backlog=1)
    conns = []
    for port in (1001, 1002, 1003):
        c = lst.on_segment(Segment(port, LOCAL_PORT, 7, 0, SYN, 1000), LOCAL_IP, REMOTE_IP, 0)
        conns.append(c)
    assert conns[2] is None and lst.counters["drops.syn_queue_full"] == 1
    a, b = conns[:2]
    assert a is not None and b is not None
    for c in (a, b):
        synack = c.poll_egress(0)[0]
        c.receive_segment(Segment(c.remote_port, LOCAL_PORT, 8, synack.seq + 1, ACK, 1000), 0)
    # the accept queue holds one: the second child is reset and counted
    assert a.state is State.ESTABLISHED
    assert b.state is State.CLOSED and lst.counters["drops.accept_overflow"] == 1
    assert [s.flags for s in b.poll_egress(0)] == [RST]
    # a full accept queue refuses new SYNs
    assert lst.on_segment(Segment(1004, LOCAL_PORT, 7, 0, SYN, 1000), LOCAL_IP, REMOTE_IP, 0) is None
    assert lst.counters["drops.accept_queue_full"] == 1
    assert lst.accept() is a


def test_icmp_port_unreachable_in_syn_sent() -> None:
    s = Script.new()
    s.conn.connect(0)
    s.expect("S")
    s.conn.on_icmp_error("port_unreachable")
    ev = s.events()
    assert isinstance(ev[-1], Closed) and isinstance(ev[-1].error, ConnectionRefusedError)
    t = Script.new()
    t.conn.connect(0)
    t.expect("S")
    t.conn.on_icmp_error("host_unreachable")
    err = t.events()[-1]
    assert isinstance(err, Closed) and isinstance(err.error, OSError) and err.error.errno == errno.EHOSTUNREACH


def test_icmp_hard_error_is_soft_when_established() -> None:
    s = Script.client()
    s.conn.on_icmp_error("host_unreachable")
    assert s.conn.state is State.ESTABLISHED  # RFC 1122 §4.2.3.9
    assert s.conn.soft_error == "host_unreachable"


def test_close_in_syn_sent_and_connect_twice() -> None:
    s = Script.new()
    s.conn.connect(0)
    s.expect("S")
    s.conn.close()
    assert s.conn.state is State.CLOSED and s.events() == [Closed(None)]
    s.expect_nothing()
    from aiostack.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        s.conn.connect(0)


def test_data_queued_before_established_goes_after_handshake() -> None:
    s = Script.new(cfg(timestamps=False))
    s.conn.connect(0)
    s.conn.send(b"queued")
    s.expect("S", seq=s.l(0))
    s.inject("S.", seq=s.r(0), ack=s.l(1), mss=1000)
    s.expect("P.", seq=s.l(1), ack=s.r(1), payload=b"queued")


def test_syn_received_bad_ack_gets_reset() -> None:
    lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=cfg(timestamps=False), isn_secret=SECRET)
    conn = lst.on_segment(Segment(REMOTE_PORT, LOCAL_PORT, 5000, 0, SYN, 8192), LOCAL_IP, REMOTE_IP, 0)
    assert conn is not None
    s = Script(conn, 0, 5000)
    s.expect("S.")
    s.inject(".", seq=s.r(1), ack=s.l(7))  # RFC 9293 §3.10.7.4: ACK outside SND.UNA < SEG.ACK =< SND.NXT
    s.expect("R", seq=s.l(7))
    assert conn.state is State.SYN_RECEIVED


def test_info_and_counters() -> None:
    s = Script.client()
    s.conn.send(b"a" * 3000)
    s.poll()
    s.inject("P.", seq=s.r(1), ack=s.l(1001), payload=b"b" * 10)
    s.inject("P.", seq=s.r(-50), ack=s.l(1001), payload=b"old")  # out of window: dropped and counted
    info = s.conn.info()
    for key in ("state", "srtt_us", "rttvar_us", "rto_us", "cwnd", "ssthresh", "snd_una", "snd_nxt",
                "rcv_nxt", "snd_wnd", "rcv_wnd", "bytes_in_flight", "snd_mss", "timers", "counters"):
        assert key in info
    assert info["state"] == "ESTABLISHED"
    assert info["bytes_in_flight"] == 2000
    assert info["snd_una"] == s.l(1001) and info["rcv_nxt"] == s.r(11)
    c = s.conn.counters
    assert c["bytes_out"] == 3000 and c["bytes_in"] == 10
    assert c["segments_in"] == 3 and c["segments_out"] >= 4  # SYN, ACK, 3 data
    assert c["drops.out_of_window"] == 1 and c["drops"] == 1
    assert s.conn.send_buffer_bytes == 2000 and s.conn.recv_buffer_bytes == 10
    assert s.conn.peek() == b"b" * 10
    assert s.conn.consume(4) == 4 and s.conn.read() == b"b" * 6


def test_segment_wire_round_trip_and_malformed_input() -> None:
    from aiostack.errors import MalformedPacket
    from aiostack.wire.tcp import TcpRepr

    seg = Segment(1234, 80, 0xFFFFFFF0, 77, SYN | ACK, 29200, b"payload", 1460, 7, True, ((5, 9), (20, 30)),
                  123456, 654321)
    wire = seg.to_wire(0xC6120001, 0xC6120002)
    assert len(wire) == seg.wire_len()
    back = Segment.from_wire(wire)
    for name in Segment.__slots__:
        got = getattr(back, name)
        assert (bytes(got) if name == "payload" else got) == getattr(seg, name), name
    # the checksum the conversion wrote verifies under the wire module's own parser
    r = TcpRepr.parse(wire, 0xC6120001, 0xC6120002)
    assert r.seq == seg.seq and r.sack_blocks == seg.sack_blocks
    assert isinstance(back.payload, memoryview)  # no copy of the payload
    for n in (0, 5, 19):
        with pytest.raises(MalformedPacket):
            Segment.from_wire(wire[:n])
    bad = bytearray(wire)
    bad[12] = 0x30  # data offset 3 words
    with pytest.raises(MalformedPacket):
        Segment.from_wire(bad)


def test_poll_at_never_reports_work_no_state_can_do() -> None:
    lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=cfg(recv_buffer_bytes=1000, window_scaling=False,
                                                        timestamps=False), isn_secret=SECRET)
    conn = lst.on_segment(Segment(REMOTE_PORT, LOCAL_PORT, 5000, 0, SYN, 8192), LOCAL_IP, REMOTE_IP, 0)
    assert conn is not None
    s = Script(conn, 0, 5000)
    s.expect("S.")
    # data without ACK, partly beyond the window, before the handshake completed
    s.inject("P", seq=s.r(1), payload=b"z" * 3000)
    s.expect_nothing()
    at = conn.poll_at()
    assert at is not None and at > s.now  # only the SYN-ACK retransmission timer


def test_listen_syn_with_text_is_queued_and_delivered_once_established() -> None:
    """RFC 9293 §3.10.7.2 fourth: text on a SYN to a LISTEN endpoint is queued for processing later:
    the SYN-ACK acknowledges it (the peer need not resend it), the application gets it only once the
    handshake completes."""
    lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=cfg(timestamps=False), isn_secret=SECRET, mss=1460,
                      backlog=4)
    syn = Segment(REMOTE_PORT, LOCAL_PORT, 1_000_000, 0, SYN, 65535, b"hello")
    syn.mss = 1460
    conn = lst.on_segment(syn, LOCAL_IP, REMOTE_IP, 0)
    assert conn is not None
    s = Script(conn, 0, 1_000_000)
    s.expect("S.", seq=s.l(0), ack=s.r(6))  # the text is acknowledged with the SYN
    assert s.events() == []  # not announced to the application before ESTABLISHED
    s.inject(".", seq=s.r(6), ack=s.l(1), payload=b" world")
    assert conn.state is State.ESTABLISHED
    ev = s.events()
    assert ev[0] == Connected() and sum(getattr(e, "nbytes", 0) for e in ev) == 11
    assert conn.read() == b"hello world"
    assert conn.counters["syn_text_bytes"] == 5


def test_listen_syn_text_is_dropped_with_a_reset_handshake() -> None:
    lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=cfg(timestamps=False), isn_secret=SECRET, mss=1460,
                      backlog=4)
    conn = lst.on_segment(Segment(REMOTE_PORT, LOCAL_PORT, 1_000_000, 0, SYN, 65535, b"old"), LOCAL_IP,
                          REMOTE_IP, 0)
    assert conn is not None
    s = Script(conn, 0, 1_000_000)
    s.expect("S.", ack=s.r(4))
    s.inject("R", seq=s.r(4))  # the SYN was an old duplicate: the peer resets
    assert conn.state is State.CLOSED
    assert not any(getattr(e, "nbytes", 0) for e in s.events())  # the text never reached the application


@pytest.mark.parametrize("completion", ["ack", "syn_ack"])
def test_syn_sent_simultaneous_open_syn_text_is_queued(completion: str) -> None:
    """RFC 9293 §3.10.7.3 fourth (SYN without ACK in SYN-SENT): the SYN's text is queued and
    acknowledged with our SYN-ACK; a SYN-ACK that repeats it completes the open without delivering it
    twice."""
    s = Script.new(cfg(timestamps=False))
    s.conn.connect(0)
    s.expect("S", seq=s.l(0))
    s.inject("S", seq=s.r(0), window=65535, mss=1460, payload=b"early")
    assert s.conn.state is State.SYN_RECEIVED
    s.expect("S.", seq=s.l(0), ack=s.r(6))
    assert s.events() == []
    if completion == "ack":
        s.inject(".", seq=s.r(6), ack=s.l(1))
    else:
        s.inject("S.", seq=s.r(0), ack=s.l(1), payload=b"early")
    assert s.conn.state is State.ESTABLISHED
    ev = s.events()
    assert ev[0] == Connected() and sum(getattr(e, "nbytes", 0) for e in ev) == 5
    assert s.conn.read() == b"early"
    assert s.conn.rcv_nxt == s.r(6)
