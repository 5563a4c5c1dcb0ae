"""Scripted tests: every close path, TIME-WAIT, resets (RFC 9293 §3.6, §3.10.4-5, §3.10.7), RFC 5961."""

from __future__ import annotations

import pytest
from tcp_script import Script, cfg

from aiostack.core.tcp.events import Closed, DataReceived, EofReceived
from aiostack.core.tcp.state import State
from aiostack.errors import LocalProtocolError

pytestmark = pytest.mark.timeout(30)

MSL2 = 60_000_000


def test_active_close_through_time_wait() -> None:
    s = Script.client()
    s.conn.close()
    assert s.conn.state is State.FIN_WAIT_1
    s.expect("F.", seq=s.l(1), ack=s.r(1))
    s.inject(".", seq=s.r(1), ack=s.l(2))
    assert s.conn.state is State.FIN_WAIT_2
    s.expect_nothing()
    s.inject("F.", seq=s.r(1), ack=s.l(2))
    s.expect(".", seq=s.l(2), ack=s.r(2))
    assert s.conn.state is State.TIME_WAIT
    assert s.events() == [EofReceived(), Closed(None)]
    s.advance(MSL2 - 1)
    assert s.conn.state is State.TIME_WAIT
    s.advance(1)
    assert s.conn.state is State.CLOSED and s.conn.is_finished()
    s.expect_nothing()
    assert s.events() == []  # Closed is reported once


def test_passive_close() -> None:
    s = Script.server()
    s.inject("F.", seq=s.r(1), ack=s.l(1))
    s.expect(".", seq=s.l(1), ack=s.r(2))  # the FIN is acknowledged at once
    assert s.conn.state is State.CLOSE_WAIT
    assert s.events() == [EofReceived()]
    s.conn.send(b"bye")
    s.expect("P.", seq=s.l(1), ack=s.r(2), payload=b"bye")  # half-closed: we may still send
    s.conn.close()
    assert s.conn.state is State.LAST_ACK
    s.expect("F.", seq=s.l(4), ack=s.r(2))
    s.inject(".", seq=s.r(2), ack=s.l(5))
    assert s.conn.state is State.CLOSED
    assert s.events() == [Closed(None)]
    s.expect_nothing()


def test_simultaneous_close() -> None:
    s = Script.client()
    s.conn.close()
    s.expect("F.", seq=s.l(1), ack=s.r(1))
    s.inject("F.", seq=s.r(1), ack=s.l(1))  # crossing FIN that does not ack ours
    assert s.conn.state is State.CLOSING
    s.expect(".", seq=s.l(2), ack=s.r(2))
    s.inject(".", seq=s.r(2), ack=s.l(2))
    assert s.conn.state is State.TIME_WAIT
    s.expect_nothing()


def test_fin_ack_of_our_fin_goes_straight_to_time_wait() -> None:
    s = Script.client()
    s.conn.close()
    s.expect("F.", seq=s.l(1))
    s.inject("F.", seq=s.r(1), ack=s.l(2))
    assert s.conn.state is State.TIME_WAIT
    s.expect(".", seq=s.l(2), ack=s.r(2))


def test_half_close_data_keeps_flowing_the_other_way() -> None:
    s = Script.client()
    s.conn.send(b"request")
    s.conn.shutdown_write()
    s.expect("FP.", seq=s.l(1), payload=b"request")  # the FIN rides on the last data segment
    with pytest.raises(LocalProtocolError):
        s.conn.send(b"more")
    s.inject(".", seq=s.r(1), ack=s.l(9))
    assert s.conn.state is State.FIN_WAIT_2
    for i in range(3):
        s.inject("P.", seq=s.r(1 + 1000 * i), ack=s.l(9), payload=b"r" * 1000)
    s.expect(".", seq=s.l(9), ack=s.r(3001))  # two full segments: ACK now
    assert s.conn.read() == b"r" * 3000
    s.inject("F.", seq=s.r(3001), ack=s.l(9))
    s.expect(".", seq=s.l(9), ack=s.r(3002))
    assert s.conn.state is State.TIME_WAIT


def test_time_wait_reacks_retransmitted_fin_and_restarts_timer() -> None:
    s = Script.client()
    s.conn.close()
    s.expect("F.")
    s.inject("F.", seq=s.r(1), ack=s.l(2))
    s.expect(".", ack=s.r(2))
    s.advance(30_000_000)
    s.inject("F.", seq=s.r(1), ack=s.l(2))  # our ACK was lost: the peer repeats its FIN
    s.expect(".", seq=s.l(2), ack=s.r(2))
    s.advance(MSL2 - 1)  # RFC 9293: the 2 MSL timer restarted at the repeated FIN
    assert s.conn.state is State.TIME_WAIT
    s.advance(1)
    assert s.conn.state is State.CLOSED


def test_time_wait_new_syn_reopens() -> None:
    s = Script.client()
    s.conn.close()
    s.expect("F.")
    s.inject("F.", seq=s.r(1), ack=s.l(2))
    s.expect(".")
    s.advance(1_000_000)
    # RFC 6191: a SYN with a newer timestamp may reuse the 4-tuple
    s.inject("S", seq=s.r(100_000), ts_val=s.conn.ts_recent + 10, ts_ecr=0)
    assert s.conn.state is State.CLOSED and s.conn.syn_reuse
    s.expect_nothing()


def test_time_wait_old_syn_gets_challenge_ack() -> None:
    s = Script.client(ts=False)
    s.conn.close()
    s.expect("F.")
    s.inject("F.", seq=s.r(1), ack=s.l(2))
    s.expect(".")
    s.inject("S", seq=s.r(0))  # an old SYN (below RCV.NXT): not a new incarnation
    s.expect(".", seq=s.l(2), ack=s.r(2))
    assert s.conn.state is State.TIME_WAIT and not s.conn.syn_reuse


def test_abort_sends_rst() -> None:
    s = Script.client()
    s.conn.send(b"unsent data")
    s.conn.abort()
    s.expect("R", seq=s.l(1))  # RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>
    assert s.conn.state is State.CLOSED and s.events() == [Closed(None)]
    s.expect_nothing()
    assert s.conn.poll_at() is None


def test_close_with_unread_data_resets() -> None:
    s = Script.client()
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"unread")
    s.conn.close()  # RFC 2525 §2.17
    s.expect("R", seq=s.l(1))
    assert s.conn.state is State.CLOSED


def test_data_after_close_resets() -> None:
    s = Script.client()
    s.conn.close()
    s.expect("F.", seq=s.l(1))
    s.inject(".", seq=s.r(1), ack=s.l(2))
    assert s.conn.state is State.FIN_WAIT_2
    s.inject("P.", seq=s.r(1), ack=s.l(2), payload=b"late")
    s.expect("R", seq=s.l(2))
    assert s.conn.state is State.CLOSED


def test_orphaned_fin_wait_2_times_out() -> None:
    s = Script.client(cfg(fin_wait2_timeout_us=5_000_000))
    s.conn.close()
    s.expect("F.")
    s.inject(".", seq=s.r(1), ack=s.l(2))
    s.advance(4_999_999)
    assert s.conn.state is State.FIN_WAIT_2
    s.advance(1)
    assert s.conn.state is State.CLOSED


def test_half_closed_fin_wait_2_does_not_time_out() -> None:
    s = Script.client(cfg(fin_wait2_timeout_us=5_000_000))
    s.conn.shutdown_write()
    s.expect("F.")
    s.inject(".", seq=s.r(1), ack=s.l(2))
    s.advance(100_000_000)
    assert s.conn.state is State.FIN_WAIT_2  # the application still reads


def test_fin_retransmitted_by_rto() -> None:
    s = Script.client(sack=False)
    s.conn.close()
    s.expect("F.", seq=s.l(1))
    rto = s.conn.rtt.rto_us
    s.advance(rto - 1)
    s.expect_nothing()
    s.advance(1)
    s.expect("F.", seq=s.l(1), ack=s.r(1))
    s.advance(2 * rto)
    s.expect("F.", seq=s.l(1))  # backed off


def test_rst_exact_sequence_resets() -> None:
    s = Script.client()
    s.inject("R", seq=s.r(1))
    assert s.conn.state is State.CLOSED
    ev = s.events()
    assert isinstance(ev[-1], Closed) and isinstance(ev[-1].error, ConnectionResetError)
    s.expect_nothing()


def test_rst_in_window_gets_challenge_ack() -> None:
    s = Script.client()
    s.inject("R", seq=s.r(500))  # RFC 5961 §3.2: in the window but not RCV.NXT
    s.expect(".", seq=s.l(1), ack=s.r(1))
    assert s.conn.state is State.ESTABLISHED
    assert s.conn.counters["challenge_acks"] == 1


def test_rst_out_of_window_is_dropped_silently() -> None:
    s = Script.client()
    s.inject("R", seq=s.r(-100))
    s.inject("R", seq=s.r(10_000_000))
    s.expect_nothing()
    assert s.conn.state is State.ESTABLISHED
    assert s.conn.counters["drops.out_of_window"] == 2


def test_rst_below_window_with_payload_into_window_is_dropped_silently() -> None:
    """RFC 5961 §3.2: only SEG.SEQ counts for a RST: one starting below RCV.NXT is outside the window
    even when its (diagnostic) payload reaches into it: dropped and counted, no challenge ACK."""
    s = Script.client()
    s.inject("R", seq=s.r(-10), payload=b"x" * 100)
    s.inject("R.", seq=s.r(0), ack=s.l(1), payload=b"y" * 50)
    s.expect_nothing()
    assert s.conn.state is State.ESTABLISHED
    assert s.conn.counters["drops.out_of_window"] == 2
    assert s.conn.counters["challenge_acks"] == 0
    s.inject("R", seq=s.r(1) + 1, payload=b"z" * 10)  # in the window, not exact: challenge ACK
    s.expect(".", seq=s.l(1), ack=s.r(1))
    assert s.conn.counters["challenge_acks"] == 1
    s.inject("R", seq=s.r(1), payload=b"w" * 10)  # exactly RCV.NXT: reset
    assert s.conn.state is State.CLOSED


def test_rst_with_zero_receive_window_needs_exact_sequence() -> None:
    """RFC 5961 §3.2 with RCV.WND = 0: nothing but RCV.NXT is in the window: any other RST is dropped."""
    s = Script.client(cfg(recv_buffer_bytes=4096))
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"a" * 4096)
    s.expect(".", ack=s.r(4097), window=0)
    s.inject("R", seq=s.r(4098))
    s.expect_nothing()
    assert s.conn.state is State.ESTABLISHED
    assert s.conn.counters["challenge_acks"] == 0
    s.inject("R", seq=s.r(4097))
    assert s.conn.state is State.CLOSED


def test_rst_in_last_ack_and_time_wait_close_quietly() -> None:
    s = Script.server()
    s.inject("F.", seq=s.r(1), ack=s.l(1))
    s.expect(".")
    s.conn.close()
    s.expect("F.")
    s.events()
    s.inject("R", seq=s.r(2))
    assert s.conn.state is State.CLOSED and s.events() == [Closed(None)]
    t = Script.client()
    t.conn.close()
    t.expect("F.")
    t.inject("F.", seq=t.r(1), ack=t.l(2))
    t.expect(".")
    t.inject("R", seq=t.r(2))
    assert t.conn.state is State.CLOSED


def test_syn_in_established_gets_challenge_ack() -> None:
    s = Script.client()
    s.inject("S", seq=s.r(77))  # RFC 5961 §4.2: any SYN in a synchronized state
    s.expect(".", seq=s.l(1), ack=s.r(1))
    assert s.conn.state is State.ESTABLISHED


def test_challenge_acks_are_rate_limited() -> None:
    s = Script.client(cfg(challenge_ack_limit_per_s=2))
    for i in range(5):
        s.inject("R", seq=s.r(10 + i))
    s.expect((".", {"ack": s.r(1)}), (".", {"ack": s.r(1)}))
    assert s.conn.counters["challenge_acks_limited"] == 3
    s.advance(1_000_000)
    s.inject("R", seq=s.r(50))
    s.expect(".", ack=s.r(1))  # a new second, a new budget


def test_ack_for_unsent_data_is_challenged() -> None:
    s = Script.client()
    s.inject(".", seq=s.r(1), ack=s.l(1000), payload=b"zz")  # RFC 5961 §5.2 / RFC 9293: ACK > SND.NXT
    s.expect(".", seq=s.l(1), ack=s.r(1))
    assert s.conn.recv_buffer_bytes == 0  # the segment was dropped


def test_segment_to_closed_connection_gets_rst() -> None:
    s = Script.client()
    s.conn.abort()
    s.expect("R")
    s.inject(".", seq=s.r(1), ack=s.l(1), payload=b"x")
    s.expect("R", seq=s.l(1))  # RFC 9293 §3.10.7.1


def test_out_of_order_fin_processed_after_gap_fills() -> None:
    s = Script.client()
    s.inject("F.", seq=s.r(11), ack=s.l(1), payload=b"world")
    s.expect(".", ack=s.r(1))  # out of order: immediate duplicate ACK
    assert s.conn.state is State.ESTABLISHED
    s.inject(".", seq=s.r(1), ack=s.l(1), payload=b"hello12345")
    s.expect(".", ack=s.r(17))
    assert s.conn.state is State.CLOSE_WAIT
    assert s.events() == [DataReceived(15), EofReceived()]
    assert s.conn.read() == b"hello12345world"


def test_passive_child_reset_during_handshake() -> None:
    from tcp_script import LOCAL_IP, LOCAL_PORT, REMOTE_IP, REMOTE_PORT, SECRET

    from aiostack.core.tcp.listener import TcpListener
    from aiostack.core.tcp.segment import Segment
    from aiostack.wire.tcp import RST, SYN

    lst = TcpListener(LOCAL_IP, LOCAL_PORT, isn_secret=SECRET)
    conn = lst.on_segment(Segment(REMOTE_PORT, LOCAL_PORT, 9, 0, SYN, 1000), LOCAL_IP, REMOTE_IP, 0)
    assert conn is not None
    conn.poll_egress(0)
    conn.receive_segment(Segment(REMOTE_PORT, LOCAL_PORT, 10, 0, RST, 0), 0)
    assert conn.state is State.CLOSED and not lst.syn_queue and lst.accept() is None


def test_close_in_syn_received_sends_fin_after_handshake() -> None:
    from tcp_script import LOCAL_IP, LOCAL_PORT, REMOTE_IP, REMOTE_PORT, SECRET

    from aiostack.core.tcp.listener import TcpListener
    from aiostack.core.tcp.segment import Segment
    from aiostack.wire.tcp import SYN

    lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=cfg(timestamps=False), isn_secret=SECRET)
    conn = lst.on_segment(Segment(REMOTE_PORT, LOCAL_PORT, 99, 0, SYN, 8000, b"", 1460), LOCAL_IP, REMOTE_IP, 0)
    assert conn is not None
    s = Script(conn, 0, 99)
    s.expect("S.", seq=s.l(0), ack=s.r(1))
    conn.close()  # RFC 9293 §3.10.4: queued until ESTABLISHED
    s.expect_nothing()
    s.inject(".", seq=s.r(1), ack=s.l(1), window=8000)
    assert conn.state is State.FIN_WAIT_1
    s.expect("F.", seq=s.l(1), ack=s.r(1))


def test_shutdown_in_syn_sent_is_deferred() -> None:
    s = Script.new(cfg(timestamps=False))
    s.conn.connect(0)
    s.conn.send(b"req")
    s.conn.shutdown_write()
    s.expect("S", seq=s.l(0))
    s.inject("S.", seq=s.r(0), ack=s.l(1), mss=1000)
    assert s.conn.state is State.FIN_WAIT_1
    s.expect("FP.", seq=s.l(1), ack=s.r(1), payload=b"req")


def test_last_ack_fin_retransmitted_then_acked() -> None:
    s = Script.server(sack=False)
    s.inject("F.", seq=s.r(1), ack=s.l(1))
    s.expect(".")
    s.conn.close()
    s.expect("F.", seq=s.l(1))
    s.advance(s.conn.timers.rto - s.now)
    s.expect("F.", seq=s.l(1), ack=s.r(2))
    s.inject(".", seq=s.r(2), ack=s.l(2))
    assert s.conn.state is State.CLOSED
