"""Scripted tests: RTO timing and backoff (RFC 6298), Karn, retransmission limit, user timeout, fast
retransmit and NewReno (RFC 5681 / RFC 6582), limited transmit (RFC 3042), SACK-driven recovery
(RFC 6675), tail loss probe (RFC 8985), keep-alive (RFC 1122), PMTU (RFC 1191)."""

from __future__ import annotations

import pytest
from tcp_script import Script, cfg

from aiostack.core.tcp.events import Closed
from aiostack.core.tcp.state import State

pytestmark = pytest.mark.timeout(60)

MSS = 1448
RTO_MIN = 200_000


def _closed_error(s: Script) -> BaseException | None:
    ev = [e for e in s.events() if isinstance(e, Closed)]
    assert len(ev) == 1
    return ev[0].error


def test_rto_timing_backoff_and_limit() -> None:
    s = Script.client(cfg(max_retransmits=3, tail_loss_probe=False))
    s.conn.send(b"hello")
    s.expect("P.", seq=s.l(1), payload=b"hello")
    assert s.conn.rtt.rto_us == RTO_MIN  # the handshake sample is tiny: RTO clamps to the minimum
    deadlines = [RTO_MIN, 2 * RTO_MIN, 4 * RTO_MIN]
    for d in deadlines:
        s.advance(d - 1)
        s.expect_nothing()
        s.advance(1)
        s.expect("P.", seq=s.l(1), payload=b"hello")  # RFC 6298 §5.4-5.6
    s.advance(8 * RTO_MIN - 1)
    assert s.conn.state is State.ESTABLISHED
    s.advance(1)
    assert s.conn.state is State.CLOSED  # retransmission limit
    assert isinstance(_closed_error(s), TimeoutError)
    assert s.conn.counters["rto_expiries"] == 3
    s.expect_nothing()


def test_ack_after_rto_resets_backoff_and_stops_timer() -> None:
    s = Script.client(cfg(tail_loss_probe=False, timestamps=False), ts=False)
    s.conn.send(b"a" * 100)
    s.poll()
    s.advance(RTO_MIN)
    s.expect("P.", seq=s.l(1))
    srtt = s.conn.rtt.srtt_us
    s.advance(50_000)
    s.inject(".", seq=s.r(1), ack=s.l(101))
    assert s.conn.rtt.srtt_us == srtt  # Karn: no sample from a retransmitted segment
    assert s.conn.timers.rto is None and s.conn.rtt.rto_us == RTO_MIN
    s.advance(5_000_000)
    s.expect_nothing()


def test_rtt_sample_from_timed_segment() -> None:
    s = Script.client(ts=False)
    s.conn.send(b"a" * 100)
    s.poll()
    s.advance(30_000)
    s.inject(".", seq=s.r(1), ack=s.l(101))
    assert s.conn.rtt.latest_rtt_us == 30_000


def test_rto_collapses_cwnd_and_goes_back() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    s.conn.send(b"d" * (10 * MSS))
    assert len(s.poll()) == 10
    s.advance(RTO_MIN)
    s.expect(".", seq=s.l(1), len=MSS)  # loss window: one segment (RFC 5681 §3.1)
    assert s.conn.cc.cwnd == MSS
    s.inject(".", seq=s.r(1), ack=s.l(1 + MSS))
    out = s.poll()  # slow start again: the next two go out (go-back from snd_una)
    assert [x.seq for x in out] == [s.l(1 + MSS), s.l(1 + 2 * MSS)]
    assert s.conn.counters["retransmits"] == 3


def test_user_timeout_fails_connection() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    s.conn.set_user_timeout(500_000)
    s.conn.send(b"x")
    s.poll()
    s.advance(499_999)
    assert s.conn.state is State.ESTABLISHED
    s.advance(1)
    assert s.conn.state is State.CLOSED
    assert isinstance(_closed_error(s), TimeoutError)
    assert s.conn.counters["user_timeouts"] == 1


def test_fast_retransmit_newreno_with_limited_transmit() -> None:
    s = Script.client(sack=False)
    s.inject(".", seq=s.r(1), ack=s.l(1), window=512)  # the first scaled window (65536)
    s.conn.send(b"n" * (14 * MSS))
    assert len(s.poll()) == 10
    # segment 1 is lost: each later arrival gives a duplicate ACK
    s.inject(".", seq=s.r(1), ack=s.l(1), window=512)
    s.expect(".", seq=s.l(1 + 10 * MSS), len=MSS)  # RFC 3042: a new segment for the first dupack
    s.inject(".", seq=s.r(1), ack=s.l(1), window=512)
    s.expect(".", seq=s.l(1 + 11 * MSS), len=MSS)  # ... and for the second
    s.inject(".", seq=s.r(1), ack=s.l(1), window=512)
    out = s.poll()
    assert out[0].seq == s.l(1) and len(out[0].payload) == MSS  # third: fast retransmit
    assert s.conn.in_recovery and s.conn.counters["fast_retransmits"] == 1
    ssthresh = s.conn.cc.ssthresh
    assert ssthresh < 12 * MSS
    # a partial ACK (RFC 6582): the next hole is retransmitted at once
    s.inject(".", seq=s.r(1), ack=s.l(1 + 3 * MSS), window=512)
    out = s.poll()
    assert out and out[0].seq == s.l(1 + 3 * MSS)
    assert s.conn.in_recovery
    # the full ACK ends recovery: cwnd = ssthresh
    s.inject(".", seq=s.r(1), ack=s.l(1 + 12 * MSS), window=512)
    assert not s.conn.in_recovery
    assert s.conn.cc.cwnd == s.conn.cc.ssthresh


def test_dupack_needs_same_window_and_no_data() -> None:
    s = Script.client(sack=False)
    s.conn.send(b"n" * (10 * MSS))
    s.poll()
    s.inject(".", seq=s.r(1), ack=s.l(1), window=60_000)  # window changed: not a duplicate
    s.inject(".", seq=s.r(1), ack=s.l(1), payload=b"data")  # carries data: not a duplicate
    assert s.conn.dupacks == 0


def test_sack_recovery_retransmits_exactly_the_holes() -> None:
    s = Script.client()
    s.conn.send(b"s" * (10 * MSS))
    assert len(s.poll()) == 10
    L = s.l

    def sack_ack(*blocks: tuple[int, int]) -> None:
        s.inject(".", seq=s.r(1), ack=L(1 + MSS), sack_blocks=tuple((L(1 + a * MSS), L(1 + b * MSS))
                                                                   for a, b in blocks))

    # segment 0 arrived, 1 and 4 were lost; 2, 3 and 5.. arrive
    sack_ack((2, 3))
    assert s.poll() == []  # one SACKed segment is not a loss yet, and there is no new data to send
    sack_ack((2, 4))
    s.poll()
    sack_ack((5, 6), (2, 4))
    out = s.poll()
    assert s.conn.in_recovery
    assert out[0].seq == L(1 + MSS) and len(out[0].payload) == MSS  # the first hole
    sack_ack((5, 7), (2, 4))
    sack_ack((5, 8), (2, 4))
    out = s.poll()
    assert L(1 + 4 * MSS) in [x.seq for x in out]  # the second hole, once IsLost() says so
    assert all(x.seq not in (L(1 + 2 * MSS), L(1 + 3 * MSS), L(1 + 5 * MSS)) for x in out)  # SACKed ones not
    assert s.conn.counters["sack_recoveries"] == 1
    s.inject(".", seq=s.r(1), ack=L(1 + 10 * MSS))
    assert not s.conn.in_recovery


def test_sack_recovery_sends_new_data_when_no_hole_is_lost() -> None:
    s = Script.client()
    s.conn.send(b"s" * (30 * MSS))
    assert len(s.poll()) == 10
    L = s.l
    blocks = ((L(1 + 2 * MSS), L(1 + 6 * MSS)),)
    s.inject(".", seq=s.r(1), ack=L(1 + MSS), sack_blocks=blocks)  # > 2 MSS SACKed above the hole
    out = s.poll()
    assert s.conn.in_recovery
    assert out[0].seq == L(1 + MSS)  # RFC 6675: the hole first
    assert all(x.seq != L(1 + 2 * MSS) for x in out)


def test_dsack_received_is_counted_not_used_as_sack() -> None:
    s = Script.client()
    s.conn.send(b"s" * (3 * MSS))
    s.poll()
    s.inject(".", seq=s.r(1), ack=s.l(1 + 3 * MSS), sack_blocks=((s.l(1), s.l(1 + MSS)),))
    assert s.conn.counters["dsacks_received"] == 1
    assert s.conn.scoreboard.sacked_bytes == 0


def test_tail_loss_probe_retransmits_last_segment() -> None:
    s = Script.client()
    s.conn.send(b"t" * (3 * MSS))
    assert len(s.poll()) == 3
    pto = s.conn.timers.tlp
    assert pto is not None and s.conn.timers.rto is not None and pto < s.conn.timers.rto
    s.advance(pto - s.now)
    s.expect("P.", seq=s.l(1 + 2 * MSS), len=MSS)  # RFC 8985 §7.3: the last segment again
    assert s.conn.counters["tail_loss_probes"] == 1
    assert s.conn.counters["rto_expiries"] == 0
    assert s.conn.timers.tlp is None  # one probe per tail
    s.inject(".", seq=s.r(1), ack=s.l(1 + 3 * MSS))
    assert s.conn.cc.cwnd >= 10 * MSS


def test_keepalive_probes_and_timeout() -> None:
    s = Script.client(cfg(keepalive=True, keepalive_idle_us=10_000_000, keepalive_interval_us=1_000_000,
                          keepalive_count=3))
    s.advance(9_999_999)
    s.expect_nothing()
    s.advance(1)
    s.expect(".", seq=s.l(0), ack=s.r(1), len=0)  # RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT - 1
    s.inject(".", seq=s.r(1), ack=s.l(1))  # the peer answers: idle again
    s.advance(9_999_999)
    s.expect_nothing()
    s.advance(1)
    s.expect(".", seq=s.l(0))
    for _ in range(2):
        s.advance(1_000_000)
        s.expect(".", seq=s.l(0))
    assert s.conn.state is State.ESTABLISHED
    s.advance(1_000_000)
    assert s.conn.state is State.CLOSED
    assert isinstance(_closed_error(s), TimeoutError)


def test_keepalive_off_by_default() -> None:
    s = Script.client()
    s.advance(10 * 3600 * 1_000_000)
    s.expect_nothing()
    assert s.conn.state is State.ESTABLISHED


def test_keepalive_enabled_by_setter() -> None:
    s = Script.client()
    s.conn.set_keepalive(True, idle_us=5_000_000, interval_us=1_000_000, count=1, now_us=s.now)
    s.advance(5_000_000)
    s.expect(".", seq=s.l(0))


def test_pmtu_frag_needed_lowers_mss_and_resends() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    s.conn.send(b"m" * (2 * MSS))
    assert len(s.poll()) == 2
    s.conn.on_icmp_error("frag_needed", mtu=1000)
    assert s.conn.snd_mss == 1000 - 40 - 12
    out = s.poll()
    assert out[0].seq == s.l(1) and len(out[0].payload) == 948  # resent at once, smaller
    assert s.conn.cc.cwnd >= 2 * 948  # no congestion response (RFC 1191 §6.5)


def test_ack_of_unsent_data_does_not_advance() -> None:
    s = Script.client(sack=False)
    s.conn.send(b"a" * 10)
    s.poll()
    s.inject(".", seq=s.r(1), ack=s.l(50))
    assert s.conn.snd_una == s.l(1)
    s.expect(".", ack=s.r(1))  # RFC 9293: send an ACK, drop the segment


def test_idle_restart_resets_cwnd_to_initial_window() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    s.conn.send(b"a" * (40 * MSS))
    for _ in range(4):  # grow cwnd by acking everything in flight a few times
        s.poll()
        s.inject(".", seq=s.r(1), ack=s.conn.snd_nxt)
    assert s.conn.cc.cwnd > 10 * MSS
    s.poll()
    s.inject(".", seq=s.r(1), ack=s.conn.snd_max)
    s.advance(5_000_000)  # idle far longer than the RTO
    s.conn.send(b"b" * (30 * MSS))
    assert len(s.poll()) == 10  # RFC 5681 §4.1: restart window = IW


def test_zero_window_retransmissions_do_not_time_out_while_peer_answers() -> None:
    s = Script.client(cfg(max_retransmits=2, tail_loss_probe=False), peer_wscale=0)
    s.conn.send(b"x" * 100)
    s.poll()
    s.inject(".", seq=s.r(1), ack=s.l(1), window=0)  # the peer shrank its window to zero
    for _ in range(6):
        s.advance(s.conn.timers.rto - s.now)
        s.expect(".", seq=s.l(0), len=0)  # the closed window is probed
        s.inject(".", seq=s.r(1), ack=s.l(1), window=0)
    assert s.conn.state is State.ESTABLISHED
    s.inject(".", seq=s.r(1), ack=s.l(1), window=1000)
    s.expect("P.", seq=s.l(1), len=100)  # the window opened: the data goes again at once


def test_nagle_does_not_hold_back_a_retransmission() -> None:
    s = Script.client(cfg(nagle=True, tail_loss_probe=False))
    s.conn.send(b"tiny")
    s.expect("P.", seq=s.l(1), payload=b"tiny")
    s.advance(RTO_MIN)
    s.expect("P.", seq=s.l(1), payload=b"tiny")  # RFC 9293 §3.7.4 governs new data only


def test_lost_retransmission_is_detected_by_time_order_and_resent() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    L = s.l
    s.conn.send(b"r" * (30 * MSS))
    assert len(s.poll()) == 10  # S0..S9 at t=0; S0 will be lost (twice)

    def seg(i: int) -> int:
        return L(1 + i * MSS)

    def sack(*blocks: tuple[int, int]) -> None:
        s.inject(".", seq=s.r(1), ack=seg(0), sack_blocks=tuple((seg(a), seg(b)) for a, b in blocks))

    s.advance(10_000)
    sack((1, 4))  # three segments above S0: IsLost(S0), recovery (RFC 6675)
    assert [x.seq for x in s.poll()] == [seg(0)]  # the fast retransmission of S0 at t=10 ms
    assert s.conn.in_recovery
    new: list[int] = []
    for top in (6, 8, 10):  # more SACKs 5 ms later: PRR releases new data (S10, ...)
        s.advance(2_000)
        sack((1, top))
        out = s.poll()
        assert all(x.seq != seg(0) for x in out)
        new += [x.seq for x in out]
    assert new and new[0] == seg(10)
    s.advance(20_000)
    # the new segments (sent after the retransmission of S0) arrive; S0 does not: it was lost again
    last = (new[-1] - seg(0)) // MSS + 1
    sack((1, 10), (10, last))
    out = s.poll()
    assert seg(0) in [x.seq for x in out]  # sent a third time, without waiting for the RTO
    assert s.conn.counters["lost_retransmits"] == 1
    assert s.conn.counters["rto_expiries"] == 0
    s.inject(".", seq=s.r(1), ack=seg(last))
    assert not s.conn.in_recovery


def test_prr_paces_recovery_sending() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    s.conn.send(b"p" * (60 * MSS))
    s.poll()
    L = s.l
    for i in range(1, 6):  # slow start: five ACKs of two segments each grow cwnd to 20 segments
        s.inject(".", seq=s.r(1), ack=L(1 + 2 * i * MSS))
        s.poll()
    assert s.conn.cc.cwnd == 20 * MSS
    assert s.conn.bytes_in_flight == 20 * MSS  # S10..S29 in flight; S10 is lost

    def sack_to(top: int) -> None:
        s.inject(".", seq=s.r(1), ack=L(1 + 10 * MSS), sack_blocks=((L(1 + 11 * MSS), L(1 + top * MSS)),))

    sack_to(14)  # three segments SACKed above S10: recovery
    assert [x.seq for x in s.poll()] == [L(1 + 10 * MSS)]
    assert s.conn.in_recovery
    ssthresh = s.conn.cc.ssthresh
    assert 13 * MSS <= ssthresh <= 15 * MSS  # CUBIC: 0.7 x FlightSize
    sent = 0
    for top in range(15, 21):  # six more segments delivered, one per ACK
        sack_to(top)
        sent += sum(len(x.payload) for x in s.poll())
    # RFC 6937: while pipe > ssthresh, sending follows prr_delivered * ssthresh / RecoverFS - prr_out:
    # ceil(6 x 14/20 segments) = 5 including the fast retransmission already sent, counted in bytes
    # (whole segments only): 3 or 4 new segments, neither the six of plain ACK clocking nor zero
    assert 3 * MSS <= sent <= 4 * MSS


def test_dsack_undoes_a_spurious_fast_retransmit_and_raises_dupthresh() -> None:
    s = Script.client(cfg(tail_loss_probe=False, timestamps=False), ts=False)
    L = s.l
    M = s.conn.snd_mss  # 1460: no timestamp option
    s.inject(".", seq=s.r(1), ack=L(1), window=512)
    s.conn.send(b"u" * (20 * M))
    assert len(s.poll()) == 10
    cwnd0 = s.conn.cc.cwnd
    # S0 is only delayed (reordered): S1..S3 arrive first and are SACKed
    s.inject(".", seq=s.r(1), ack=L(1), window=512, sack_blocks=((L(1 + M), L(1 + 4 * M)),))
    out = s.poll()
    assert out[0].seq == L(1) and s.conn.in_recovery  # a fast retransmission of S0
    assert s.conn.cc.cwnd < cwnd0
    s.inject(".", seq=s.r(1), ack=L(1 + 10 * M), window=512)  # the original S0 arrives: all acked
    assert not s.conn.in_recovery
    # the retransmitted copy of S0 reaches the receiver too: RFC 2883 D-SACK for it
    s.inject(".", seq=s.r(1), ack=L(1 + 10 * M), window=512, sack_blocks=((L(1), L(1 + M)),))
    assert s.conn.counters["spurious_recoveries_undone"] == 1
    assert s.conn.cc.cwnd >= cwnd0  # RFC 4015-style: the reduction is undone
    assert s.conn.dupthresh == 5  # more reordering is tolerated from now on


def test_eifel_timestamps_undo_a_spurious_fast_retransmit() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    L = s.l
    s.inject(".", seq=s.r(1), ack=L(1), window=512)
    s.conn.send(b"e" * (20 * MSS))
    first = s.poll()
    assert len(first) == 10
    original_ts = first[0].ts_val
    cwnd0 = s.conn.cc.cwnd
    s.advance(10_000)
    s.inject(".", seq=s.r(1), ack=L(1), window=512, sack_blocks=((L(1 + MSS), L(1 + 4 * MSS)),))
    rtx = s.poll()[0]
    assert rtx.seq == L(1) and rtx.ts_val != original_ts
    # the ACK covering S0 echoes the original's TSval (RFC 3522): the original arrived, not the copy
    s.inject(".", seq=s.r(1), ack=L(1 + 10 * MSS), window=512, ts_val=s.peer_ts(), ts_ecr=original_ts)
    assert s.conn.counters["spurious_recoveries_undone"] == 1
    assert s.conn.cc.cwnd >= cwnd0


def test_eifel_keeps_the_reduction_for_a_real_loss() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    L = s.l
    s.inject(".", seq=s.r(1), ack=L(1), window=512)
    s.conn.send(b"e" * (20 * MSS))
    s.poll()
    s.advance(10_000)
    s.inject(".", seq=s.r(1), ack=L(1), window=512, sack_blocks=((L(1 + MSS), L(1 + 4 * MSS)),))
    rtx = s.poll()[0]
    s.advance(10_000)
    # the retransmission filled the hole: the ACK echoes its TSval
    s.inject(".", seq=s.r(1), ack=L(1 + 10 * MSS), window=512, ts_val=s.peer_ts(), ts_ecr=rtx.ts_val)
    assert s.conn.counters["spurious_recoveries_undone"] == 0
    assert s.conn.cc.cwnd < 10 * MSS


def test_spurious_rto_is_undone_with_eifel() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    s.conn.send(b"d" * (8 * MSS))
    first = s.poll()
    assert len(first) == 8
    cwnd0 = s.conn.cc.cwnd
    s.advance(RTO_MIN)  # the path stalls: the RTO fires and S0 goes again
    assert [x.seq for x in s.poll()] == [s.l(1)]
    assert s.conn.cc.cwnd == MSS
    # the ACK for the original flight arrives, echoing the original TSval (RFC 3522): spurious timeout
    s.inject(".", seq=s.r(1), ack=s.l(1 + 4 * MSS), ts_val=s.peer_ts(), ts_ecr=first[0].ts_val)
    assert s.conn.counters["spurious_rtos_undone"] == 1
    assert s.conn.cc.cwnd >= cwnd0  # RFC 4015: the window comes back
    assert s.conn.snd_nxt == s.conn.snd_max  # no go-back over data still in flight
    assert all(x.seq != s.l(1 + MSS) for x in s.poll())


def test_real_rto_is_not_undone() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    s.conn.send(b"d" * (8 * MSS))
    s.poll()
    s.advance(RTO_MIN)
    rtx = s.poll()[0]
    s.advance(20_000)
    s.inject(".", seq=s.r(1), ack=s.l(1 + MSS), ts_val=s.peer_ts(), ts_ecr=rtx.ts_val)
    assert s.conn.counters["spurious_rtos_undone"] == 0
    out = s.poll()
    assert out and out[0].seq == s.l(1 + MSS)  # go-back continues in slow start


def test_early_retransmit_for_a_short_tail() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    s.conn.send(b"x" * (3 * MSS))
    assert len(s.poll()) == 3  # all the data: nothing new can produce more duplicate ACKs
    L = s.l
    s.inject(".", seq=s.r(1), ack=L(1), sack_blocks=((L(1 + MSS), L(1 + 2 * MSS)),))
    assert s.poll() == []  # one SACKed segment of three: not yet
    s.inject(".", seq=s.r(1), ack=L(1), sack_blocks=((L(1 + MSS), L(1 + 3 * MSS)),))
    out = s.poll()
    assert out and out[0].seq == L(1)  # RFC 5827: DupThresh = outstanding segments - 1 = 2
    assert s.conn.counters["early_retransmits"] == 1 and s.conn.counters["rto_expiries"] == 0


def test_tail_loss_probe_skips_a_sacked_tail() -> None:
    s = Script.client()
    s.conn.send(b"x" * (6 * MSS))
    assert len(s.poll()) == 6
    L = s.l
    s.inject(".", seq=s.r(1), ack=L(1), sack_blocks=((L(1 + 4 * MSS), L(1 + 6 * MSS)),))
    assert s.poll() == []  # two SACKed segments: no loss is certain yet
    s.advance(s.conn.timers.tlp - s.now)
    out = s.poll()
    assert [x.seq for x in out] == [L(1 + 3 * MSS)]  # the highest segment the receiver lacks
    s.inject(".", seq=s.r(1), ack=L(1), sack_blocks=((L(1 + 3 * MSS), L(1 + 6 * MSS)),))
    out = s.poll()
    assert s.conn.in_recovery and out and out[0].seq == L(1)  # the probe's SACK starts recovery


def _prime_cubic(s: Script) -> tuple[object, ...]:
    """Give CUBIC the state of a flow that already had a congestion event (W_max above cwnd, a running
    epoch with K > 0); returns that state for comparison after an undo."""
    cc = s.conn.cc
    assert cc.name == "cubic"
    cc.w_max = cc._origin = cc.cwnd_prior = 40.0
    cc.k_s = 2.5
    cc.epoch_start_us = s.now - 5_000
    cc.w_est = 12.0
    cc.ssthresh = 8 * cc.mss  # in congestion avoidance, as after that event
    return (cc.w_max, cc.k_s, cc.epoch_start_us, cc._origin, cc.cwnd_prior, cc.w_est, cc.ssthresh)


def _cubic_state(s: Script) -> tuple[object, ...]:
    cc = s.conn.cc
    return (cc.w_max, cc.k_s, cc.epoch_start_us, cc._origin, cc.cwnd_prior, cc.w_est, cc.ssthresh)


def test_dsack_undo_restores_cubic_w_max_k_and_epoch() -> None:
    """RFC 3708 detection, RFC 9438 §4.9 response: the engine asks the controller to undo
    (on_spurious_congestion), so CUBIC's W_max, K and epoch come back, not only cwnd/ssthresh."""
    s = Script.client(cfg(tail_loss_probe=False, timestamps=False), ts=False)
    L = s.l
    M = s.conn.snd_mss
    s.inject(".", seq=s.r(1), ack=L(1), window=512)
    before = _prime_cubic(s)
    s.conn.send(b"u" * (20 * M))
    assert len(s.poll()) == 10
    cwnd0 = s.conn.cc.cwnd
    s.inject(".", seq=s.r(1), ack=L(1), window=512, sack_blocks=((L(1 + M), L(1 + 4 * M)),))
    assert s.poll()[0].seq == L(1) and s.conn.in_recovery
    assert _cubic_state(s) != before  # the reduction moved W_max (fast convergence) and the epoch
    s.inject(".", seq=s.r(1), ack=L(1 + 10 * M), window=512)
    s.inject(".", seq=s.r(1), ack=L(1 + 10 * M), window=512, sack_blocks=((L(1), L(1 + M)),))
    assert s.conn.counters["spurious_recoveries_undone"] == 1
    assert _cubic_state(s) == before
    assert s.conn.cc.cwnd >= cwnd0 and not s.conn.cc.in_recovery


def test_eifel_undo_restores_cubic_state() -> None:
    s = Script.client(cfg(tail_loss_probe=False))
    L = s.l
    s.inject(".", seq=s.r(1), ack=L(1), window=512)
    before = _prime_cubic(s)
    s.conn.send(b"e" * (20 * MSS))
    first = s.poll()
    s.advance(10_000)
    s.inject(".", seq=s.r(1), ack=L(1), window=512, sack_blocks=((L(1 + MSS), L(1 + 4 * MSS)),))
    assert s.poll()[0].seq == L(1)
    assert s.conn.cc.w_max != before[0]
    s.inject(".", seq=s.r(1), ack=L(1 + 10 * MSS), window=512, ts_val=s.peer_ts(), ts_ecr=first[0].ts_val)
    assert s.conn.counters["spurious_recoveries_undone"] == 1
    after = _cubic_state(s)
    # the undoing ACK also acknowledged ten segments: congestion avoidance then moved W_est on from the
    # restored epoch; everything else is the state from before the episode
    assert after[:5] == before[:5] and after[6] == before[6]
    assert after[5] > before[5]  # type: ignore[operator]


def test_spurious_rto_undo_restores_cubic_state() -> None:
    """RFC 4015 response to a spurious timeout: CUBIC leaves its after-timeout mode (RFC 9438 §4.8) and
    gets its W_max, K and epoch back (RFC 9438 §4.9)."""
    s = Script.client(cfg(tail_loss_probe=False))
    before = _prime_cubic(s)
    s.conn.send(b"d" * (8 * MSS))
    first = s.poll()
    s.advance(RTO_MIN)
    assert [x.seq for x in s.poll()] == [s.l(1)]
    cc = s.conn.cc
    assert cc.cwnd == MSS and cc._after_rto
    s.inject(".", seq=s.r(1), ack=s.l(1 + 4 * MSS), ts_val=s.peer_ts(), ts_ecr=first[0].ts_val)
    assert s.conn.counters["spurious_rtos_undone"] == 1
    assert not cc._after_rto
    assert (cc.w_max, cc.k_s, cc._origin, cc.cwnd_prior) == (before[0], before[1], before[3], before[4])
    assert cc.ssthresh == before[6]
    assert cc._abc_limit == 2 * MSS  # RFC 3465 §2.3's 1-SMSS limit was for the (spurious) timeout
