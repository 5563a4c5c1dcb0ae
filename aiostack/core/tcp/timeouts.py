"""What a TCP connection does when its timers fire: retransmission timeout, tail loss probe,
persist (zero-window probes), keep-alive, delayed ACK, FIN-WAIT-2 and TIME-WAIT expiry.

Read first: RFC 6298 §5 (managing the RTO timer, backoff), RFC 5681 §3.1 (loss window), RFC 6582 §4
(recover after an RTO), RFC 8985 §7 (tail loss probe), RFC 9293 §3.8.6.1 and RFC 1122 §4.2.2.17
(zero-window probing), RFC 1122 §4.2.3.6 (keep-alive), RFC 5482 (user timeout), RFC 9293 §3.6.1
(TIME-WAIT).

Functions here take the connection as ``self`` and are bound as ``TcpConnection`` methods.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from aiostack.core.tcp.state import (
    CLOSE_WAIT,
    ESTABLISHED,
    FIN_WAIT_2,
    SENDS_DATA,
    SYN_RECEIVED,
    SYN_SENT,
    TIME_WAIT,
)
from aiostack.fastpath import seq_add, seq_diff
from aiostack.wire.tcp import ACK

if TYPE_CHECKING:
    from aiostack.core.tcp.connection import TcpConnection


def poll_at(self: TcpConnection) -> int | None:
    if self.out or self.ack_now or self.need_syn or self.rtx_head or self.rtx_tail or self.tlp_new:
        return self.created_us  # something is ready now (any time in the past)
    return self.timers.earliest()


def arm_rto(self: TcpConnection, now_us: int) -> None:
    d = now_us + self.rtt.rto_us
    ut = self.user_timeout_us
    if ut and self.snd_una != self.snd_max:
        limit = self.head_sent_us + ut
        if limit < d:
            d = limit if limit > now_us else now_us + 1
    t = self.timers
    t.rto = d
    t.tlp = None
    arm_tlp(self, now_us)


def arm_tlp(self: TcpConnection, now_us: int) -> None:
    """RFC 8985 §7.2: (re)arm the probe timeout after new data went out, when it beats the RTO."""
    smoothed = self.rtt.srtt_us
    t = self.timers
    rto_at = t.rto
    if (smoothed is not None and self.sack_ok and not self.in_recovery and not self.tlp_out
            and self.cfg_tlp and not self.retries and rto_at is not None):
        # (compiled: the arithmetic in C integers, see timeouts.pxd; one int object made, the deadline)
        srtt = smoothed
        now = now_us
        rto = rto_at
        mss = self.snd_mss
        # PTO = 2*SRTT, plus the worst-case delayed ACK when one segment is in flight
        pto = 2 * srtt
        if seq_diff(self.snd_max, self.snd_una) <= mss:
            delack = self.cfg_delack_us
            pto += delack * 5
        if pto < 10_000:
            pto = 10_000
        at = now + pto
        t.tlp = at if at < rto else None


def on_tlp(self: TcpConnection, now_us: int) -> None:
    """RFC 8985 §7.3: the probe timeout fired: send one new segment if possible, else retransmit the
    last one, so a lost tail is repaired by SACK recovery instead of an RTO."""
    if self.snd_una == self.snd_max or self.in_recovery or self.state not in SENDS_DATA:
        return
    self.tlp_out = True
    self.counters.inc("tail_loss_probes")
    unsent = len(self.sendbuf) - seq_diff(self.snd_nxt, self.buf_seq)
    if unsent > 0 and seq_diff(seq_add(self.snd_una, self.snd_wnd), self.snd_nxt) >= min(unsent, self.snd_mss):
        self.tlp_new = True
    else:
        self.rtx_tail = True
    arm_rto(self, now_us)


def arm_persist(self: TcpConnection, now_us: int) -> None:
    """RFC 9293 §3.8.6.1: probe a zero window, with exponential backoff (RFC 1122 §4.2.2.17)."""
    cfg = self.config
    d = self.rtt.rto_us << self.persist_backoff
    if d < cfg.persist_min_us:
        d = cfg.persist_min_us
    elif d > cfg.persist_max_us:
        d = cfg.persist_max_us
    if self.persist_start_us is None:
        self.persist_start_us = now_us
    self.timers.persist = now_us + d


def handle_timer(self: TcpConnection, now_us: int) -> None:
    t = self.timers
    if t.rto is not None and t.rto <= now_us:
        t.rto = None
        on_rto(self, now_us)
    if t.tlp is not None and t.tlp <= now_us:
        t.tlp = None
        on_tlp(self, now_us)
    if t.delack is not None and t.delack <= now_us:
        t.delack = None
        self.ack_now = True
    if t.persist is not None and t.persist <= now_us:
        t.persist = None
        on_persist(self, now_us)
    if t.keepalive is not None and t.keepalive <= now_us:
        t.keepalive = None
        on_keepalive(self, now_us)
    if t.fin_wait2 is not None and t.fin_wait2 <= now_us:
        t.fin_wait2 = None
        if self.state is FIN_WAIT_2:
            self.counters.inc("fin_wait2_timeouts")
            self.enter_closed(None)
    if t.time_wait is not None and t.time_wait <= now_us:
        t.time_wait = None
        if self.state is TIME_WAIT:
            self.enter_closed(None)


def on_rto(self: TcpConnection, now_us: int) -> None:
    """RFC 6298 §5.4-5.6 retransmission timeout; RFC 5681 §3.1 loss window; RFC 6582 §4 recover."""
    st = self.state
    cfg = self.config
    if st is SYN_SENT or st is SYN_RECEIVED:
        limit = cfg.max_syn_retransmits if st is SYN_SENT else cfg.syn_ack_retransmits
        if self.retries >= limit:
            self.counters.inc("handshake_timeouts")
            self.fail(TimeoutError(errno.ETIMEDOUT, "connection timed out (handshake)"))
            return
        self.retries += 1
        self.counters.inc("rto_expiries")
        self.rtt.backoff()
        self.need_syn = True
        self.karn_blocked = True
        self.timers.rto = now_us + self.rtt.rto_us
        return
    if self.snd_una == self.snd_max:
        return  # nothing outstanding (the timer was stale)
    ut = self.user_timeout_us
    if ut and now_us - self.head_sent_us >= ut:
        self.counters.inc("user_timeouts")
        self.fail(TimeoutError(errno.ETIMEDOUT, "connection timed out (user timeout)"))
        return
    # A receiver that shrank its window to zero answers our retransmissions with ACKs: they act as window
    # probes and must not time the connection out while it answers (as Linux tcp_retransmit_timer),
    # unless the application already closed it.
    zero_window_alive = (
        self.snd_wnd == 0 and not self.read_closed and now_us - self.last_rx_us < cfg.rto_max_us
    )
    if self.retries >= cfg.max_retransmits and not zero_window_alive:
        self.counters.inc("retransmit_limit")
        msg = "connection timed out"
        if self.soft_error:
            msg += f" (last ICMP error: {self.soft_error})"
        self.fail(TimeoutError(errno.ETIMEDOUT, msg))
        return
    self.retries += 1
    self.counters.inc("rto_expiries")
    flight = seq_diff(self.snd_max, self.snd_una)
    if self.retries == 1 and self.ts_ok and not self.in_recovery:
        # RFC 3522 / RFC 4015: watch for proof that this timeout was spurious (the congestion controller
        # keeps its state from before the timeout for on_spurious_congestion)
        self.rto_eifel_pending = True
    self.rto_eifel_ts = None
    self.cc.on_rto(flight, now_us)
    self.rtt.backoff()
    # RFC 6582 §4: after an RTO, no fast retransmit until snd_una passes the data sent so far.
    self.recover = self.snd_max
    self.in_recovery = False
    self.inflation = 0
    self.dupacks = 0
    self.rtx_head = False
    self.rtx_list.clear()
    self.undo_bytes = 0  # no undo across a timeout
    self.eifel_ts = None
    self.rtx_again.clear()
    self.rtx_again_bytes = 0
    self.snd_nxt = self.snd_una  # go back: resend from the first unacknowledged octet
    self.high_rxt = self.snd_una
    self.rtt_seq = None
    self.karn_blocked = True
    arm_rto(self, now_us)
    if self.snd_wnd == 0:
        # the window is closed: nothing may be resent, so probe it (RFC 9293 §3.8.6.1)
        self.counters.inc("persist_probes")
        self.push_out(self.make_segment(seq_add(self.snd_una, -1), ACK, b"", now_us))


def on_persist(self: TcpConnection, now_us: int) -> None:
    """Zero-window probe: <SEQ=SND.UNA-1> with no data, which any receiver answers with an ACK that
    carries its current window (as Linux tcp_xmit_probe_skb); backoff doubles the interval."""
    if self.state not in SENDS_DATA or self.snd_una != self.snd_max:
        return
    sb = self.sendbuf
    if seq_diff(self.snd_nxt, self.buf_seq) >= len(sb) and not self.fin_queued:
        return
    if self.snd_wnd > 0:
        return  # the window opened meanwhile; output sends
    ut = self.user_timeout_us
    start = self.persist_start_us
    if ut and start is not None and now_us - start >= ut:
        self.counters.inc("user_timeouts")
        self.fail(TimeoutError(errno.ETIMEDOUT, "connection timed out (zero window)"))
        return
    if self.probes_out >= self.config.max_retransmits:
        self.fail(TimeoutError(errno.ETIMEDOUT, "connection timed out (window probes unanswered)"))
        return
    self.probes_out += 1
    self.counters.inc("persist_probes")
    self.push_out(self.make_segment(seq_add(self.snd_una, -1), ACK, b"", now_us))
    if self.persist_backoff < 16:
        self.persist_backoff += 1
    arm_persist(self, now_us)


def on_keepalive(self: TcpConnection, now_us: int) -> None:
    """RFC 1122 §4.2.3.6: after ``idle`` without input, probe every ``interval``; fail after ``count``
    unanswered probes. The probe is <SEQ=SND.UNA-1> with no data."""
    if not self.keepalive or self.state not in (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_2):
        return
    t = self.timers
    idle_deadline = self.last_rx_us + self.keepalive_idle_us
    if self.ka_probes == 0 and idle_deadline > now_us:
        t.keepalive = idle_deadline  # there was input meanwhile
        return
    if self.snd_una != self.snd_max or len(self.sendbuf):
        # data outstanding or queued: the retransmission / persist machinery watches the peer
        t.keepalive = now_us + self.keepalive_interval_us
        return
    if self.ka_probes >= self.keepalive_count:
        self.counters.inc("keepalive_timeouts")
        self.fail(TimeoutError(errno.ETIMEDOUT, "connection timed out (keep-alive)"))
        return
    self.ka_probes += 1
    self.counters.inc("keepalive_probes")
    self.push_out(self.make_segment(seq_add(self.snd_una, -1), ACK, b"", now_us))
    t.keepalive = now_us + self.keepalive_interval_us
