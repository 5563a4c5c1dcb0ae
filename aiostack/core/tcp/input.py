"""Processing of an arriving segment (RFC 9293 §3.10.7 "SEGMENT ARRIVES").

Read first: RFC 9293 §3.10.7.3 (SYN-SENT), §3.10.7.4 (the other states: sequence check with the four
acceptance cases and trimming, RST, SYN, ACK, text, FIN), RFC 5961 §3-§5 (challenge ACKs, ACK
acceptance), RFC 7323 §4.3 / §5.3 (TS.Recent, PAWS), RFC 2018 / RFC 2883 (SACK, D-SACK),
RFC 5681 §3.2 / §4.2 (duplicate ACKs, ACK generation), RFC 6582 (NewReno), RFC 6675 (SACK recovery),
RFC 6937 (PRR accounting), RFC 8985 (RACK-TLP: the time-order loss detection used during recovery),
RFC 3042 (limited transmit), RFC 6298 (RTT samples, Karn's rule), RFC 6191 (new SYN in TIME-WAIT).

Everything here is ``segment_arrives(conn, seg, now_us)`` and its helpers; it never raises on what the
peer sends: it drops and counts (``conn.counters.drop(reason)``).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from aiostack.core.tcp.events import EofReceived, WritableAgain
from aiostack.core.tcp.output import FIRST_RTX, NEW_DATA, challenge_ack, queue_ack, recovery_pipe
from aiostack.core.tcp.segment import Segment
from aiostack.core.tcp.state import (
    CLOSE_WAIT,
    CLOSED,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    LISTEN,
    RECEIVES_DATA,
    SYN_RECEIVED,
    SYN_SENT,
    TIME_WAIT,
)
from aiostack.core.tcp.timeouts import arm_rto
from aiostack.fastpath import seq_add, seq_diff, seq_ge, seq_gt, seq_in_window, seq_le, seq_lt
from aiostack.wire.tcp import ACK, FIN, PSH, RST, SYN

if TYPE_CHECKING:
    from aiostack.core.tcp.connection import TcpConnection

DUPTHRESH = 3  # RFC 5681 §3.2 / RFC 6675 §2
MAX_DUPTHRESH = 15  # bound for the reordering-adapted threshold (Linux caps its metric far higher)
PAWS_IDLE_US = 24 * 24 * 3600 * 1_000_000  # RFC 7323 §5.5: TS.Recent invalid after 24 days idle


def _rst(c: TcpConnection, seq: int) -> None:
    """Queue <SEQ=seq><CTL=RST> (RFC 9293 §3.10.7.3 / §3.10.7.4 replies to unacceptable ACKs)."""
    c.push_out(Segment(c.local_port, c.remote_port, seq, 0, RST, 0))
    c.counters.inc("rsts_sent")


def segment_arrives(c: TcpConnection, seg: Segment, now_us: int) -> None:
    """A segment for this 4-tuple (checksum already verified)."""
    c.counters.segments_in += 1
    st = c.state
    if st is ESTABLISHED:
        # Header prediction (as BSD/Linux): in-order ACK/data in ESTABLISHED takes the short path; it is
        # the general path below with the checks that cannot fail for such a segment left out.
        flags = seg.flags
        seq = seg.seq
        if (flags | PSH) == (ACK | PSH) and seq == c.rcv_nxt and not c.read_closed and not seg.sack_blocks:
            ack = seg.ack
            data = seg.payload
            plen = len(data)
            una = c.snd_una
            tv = seg.ts_val
            if (
                (not c.ts_ok or (tv is not None and not seq_lt(tv, c.ts_recent)))
                and plen <= seq_diff(c.rcv_adv, seq)
                and seq_le(ack, c.snd_max)
                and seq_ge(ack, una)
            ):
                c.last_rx_us = now_us
                c.ka_probes = 0
                if tv is not None and c.ts_ok and seq_le(seq, c.last_ack_sent):
                    c.ts_recent = tv  # RFC 7323 §4.3
                    c.ts_recent_us = now_us
                if ack == una and plen and (seg.window << c.snd_wscale) == c.snd_wnd:
                    if seq_lt(c.snd_wl1, seq):  # RFC 9293 §3.10.7.4 window bookkeeping, no change
                        c.snd_wl1 = seq
                        c.snd_wl2 = ack
                else:
                    _process_ack(c, seg, ack, plen, 0, now_us)
                if plen:
                    _receive_text(c, seq, data, 0, now_us)
                return
    if st is SYN_SENT:
        _syn_sent(c, seg, now_us)
        return
    if st is CLOSED or st is LISTEN:
        # RFC 9293 §3.10.7.1: a segment for a closed connection gets a reset
        from aiostack.core.tcp.segment import make_rst_for

        r = make_rst_for(seg)
        if r is not None:
            c.push_out(r)
            c.counters.inc("rsts_sent")
        c.counters.drop("closed")
        return
    flags = seg.flags
    c.last_rx_us = now_us
    c.ka_probes = 0

    if st is SYN_RECEIVED and flags & SYN:
        if not flags & ACK and seg.seq == c.irs and not flags & RST:
            c.need_syn = True  # the peer did not get our SYN-ACK: send it again
            c.counters.inc("syn_retransmits_received")
            return
        if flags & ACK and seg.seq == c.irs and seg.ack == c.snd_nxt and not flags & RST:
            # simultaneous open: the peer's SYN-ACK completes our SYN-RECEIVED (Linux tcp_validate_incoming);
            # text it repeats from its SYN (already queued by syn_text) is cut off
            seg = seg.copy()
            flags &= ~SYN
            dup = seq_diff(c.rcv_nxt, seq_add(c.irs, 1))
            if dup:
                if len(seg.payload) < dup:
                    flags &= ~FIN
                seg.payload = seg.payload[dup:]
            seg.flags = flags
            seg.seq = c.rcv_nxt

    if st is TIME_WAIT and flags & SYN and not flags & (ACK | RST):
        # RFC 6191 / RFC 9293 §3.10.7.4: a new SYN may reopen the 4-tuple when its sequence number
        # (or timestamp) is beyond the old connection's.
        newer = seq_gt(seg.seq, c.rcv_nxt)
        if c.ts_ok and seg.ts_val is not None:
            newer = seq_gt(seg.ts_val, c.ts_recent)
        if newer:
            c.syn_reuse = True
            c.counters.inc("time_wait_reused")
            c.enter_closed(None)
            return

    # RFC 7323 §5.3 PAWS: a timestamp older than TS.Recent marks an old duplicate.
    if c.ts_ok and not flags & RST:
        tv = seg.ts_val
        if tv is not None and seq_lt(tv, c.ts_recent):
            if now_us - c.ts_recent_us <= PAWS_IDLE_US:
                c.counters.drop("paws")
                queue_ack(c, now_us)  # RFC 7323 §5.3 R1: send an acknowledgment and drop
                return
            c.ts_recent = tv  # RFC 7323 §5.5: an idle connection's TS.Recent is too old to compare

    # RFC 9293 §3.10.7.4 first step: the acceptance test (four cases).
    payload: Any = seg.payload
    plen = len(payload)
    seq = seg.seq
    fin = flags & FIN
    syn = flags & SYN
    seg_len = plen + (1 if syn else 0) + (1 if fin else 0)
    rcv_nxt = c.rcv_nxt
    wnd = seq_diff(c.rcv_adv, rcv_nxt)
    if wnd < 0:
        wnd = 0
    if flags & RST:
        # RFC 5961 §3.2 (replacing RFC 9293's acceptance test for RSTs): SEG.SEQ alone decides; a RST
        # with SEG.SEQ outside the window is dropped silently (even when its payload reaches into the
        # window), exactly RCV.NXT resets, anything else in the window gets a challenge ACK.
        if seq == rcv_nxt:
            _reset(c, st)
        elif wnd and seq_in_window(seq, rcv_nxt, wnd):
            challenge_ack(c, now_us)
            c.counters.drop("rst_in_window")
        else:
            c.counters.drop("out_of_window")
        return
    if seg_len == 0:
        ok = seq == rcv_nxt if wnd == 0 else seq_in_window(seq, rcv_nxt, wnd)
    elif wnd == 0:
        # RFC 9293 §3.10.7.4: with a zero window no data is acceptable, but valid ACKs and RSTs must be
        # processed: keep the segment with its text trimmed away.
        ok = seq == rcv_nxt
    else:
        ok = seq_in_window(seq, rcv_nxt, wnd) or seq_in_window(seq_add(seq, seg_len - 1), rcv_nxt, wnd)
    if not ok:
        if plen and seq_le(seq_add(seq, plen), rcv_nxt) and c.sack_ok:
            c.dsack = (seq, seq_add(seq, plen))  # RFC 2883 §4.1: a duplicate below RCV.NXT
        if st is TIME_WAIT and fin:
            c.timers.time_wait = now_us + c.config.time_wait_us  # RFC 9293: restart 2 MSL
        if syn:
            challenge_ack(c, now_us)  # RFC 5961 §4.2: any SYN, rate-limited (§7)
        else:
            queue_ack(c, now_us)
        c.counters.drop("out_of_window")
        return

    # Fourth step / RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK.
    if syn:  # irrespective of the sequence number (RFC 5961 §4.2)
        challenge_ack(c, now_us)
        c.counters.drop("syn_in_window")
        return

    # Trimming (RFC 9293 §3.10.7.4: "segments with higher beginning sequence numbers ... held, the
    # parts already received or beyond the window are trimmed").
    d = seq_diff(rcv_nxt, seq)
    if d > 0:
        dup = d if d < plen else plen
        if dup and c.sack_ok:
            c.dsack = (seq, seq_add(seq, dup))  # RFC 2883 §4.1: partially duplicate segment
        payload = payload[dup:]
        plen -= dup
        seq = seq_add(seq, dup)
        if d > dup:  # also the FIN was old
            fin = 0
    room = seq_diff(seq_add(rcv_nxt, wnd), seq)
    if plen > room:
        payload = payload[: room if room > 0 else 0]
        plen = len(payload)
        fin = 0
        c.counters.inc("trimmed_beyond_window")
        c.ack_now = True

    # Fifth step: ACK.
    if not flags & ACK:
        c.counters.drop("no_ack")
        return
    ack = seg.ack
    if st is SYN_RECEIVED:
        if seq_lt(c.snd_una, ack) and seq_le(ack, c.snd_nxt):
            c.snd_una = ack
            c.snd_wnd = seg.window << c.snd_wscale
            c.max_snd_wnd = c.snd_wnd
            c.snd_wl1 = seg.seq
            c.snd_wl2 = ack
            if not c.karn_blocked:
                c.rtt.on_sample(now_us - c.syn_sent_us)
            c.karn_blocked = False
            c.establish(now_us)
            st = c.state
            if st is CLOSED:
                return
            queued = c.recvbuf.bytes
            if queued:
                # RFC 9293 §3.10.7.2 / §3.10.7.3: the SYN's text, held until the connection is established
                c.data_event(queued)
        else:
            _rst(c, ack)  # RFC 9293 §3.10.7.4: <SEQ=SEG.ACK><CTL=RST>
            c.counters.drop("bad_ack")
            return
    # RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
    if seq_gt(ack, c.snd_max):
        challenge_ack(c, now_us)
        c.counters.drop("ack_unsent")
        return
    if seq_lt(ack, seq_add(c.snd_una, -max(c.max_snd_wnd, 1))):
        challenge_ack(c, now_us)
        c.counters.drop("ack_too_old")
        return

    # RFC 7323 §4.3: TS.Recent follows the segment that covers Last.ACK.sent.
    if c.ts_ok and seg.ts_val is not None and seq_le(seg.seq, c.last_ack_sent):
        c.ts_recent = seg.ts_val
        c.ts_recent_us = now_us

    if not _process_ack(c, seg, ack, plen, fin, now_us):
        return
    st = c.state

    # Seventh step: segment text; eighth step: FIN.
    if plen:
        if st in RECEIVES_DATA:
            if c.read_closed:
                # RFC 9293 §3.10.4 / RFC 2525 §2.17: nobody will read this data: reset (as Linux)
                c.counters.drop("data_after_close")
                c.abort()
                return
            _receive_text(c, seq, payload, fin, now_us)
            return
        c.counters.drop("data_after_fin")
        c.ack_now = True
        return
    if fin:
        if seq == c.rcv_nxt:
            _receive_fin(c, now_us)
        elif st in RECEIVES_DATA and seq_gt(seq, c.rcv_nxt):
            c.ooo_fin = c.recvbuf.nxt + seq_diff(seq, c.rcv_nxt)
            queue_ack(c, now_us)


def _reset(c: TcpConnection, st: Any) -> None:
    """RFC 9293 §3.10.7.4 second step: an acceptable RST."""
    c.counters.inc("rsts_received")
    if st is SYN_RECEIVED:
        if c.passive:
            c.enter_closed(ConnectionResetError(errno.ECONNRESET, "connection reset during handshake"))
        else:
            c.enter_closed(ConnectionRefusedError(errno.ECONNREFUSED, "connection refused"))
    elif st is CLOSING or st is LAST_ACK or st is TIME_WAIT:
        c.enter_closed(None)
    else:
        c.enter_closed(ConnectionResetError(errno.ECONNRESET, "connection reset by peer"))


def _syn_sent(c: TcpConnection, seg: Segment, now_us: int) -> None:
    """RFC 9293 §3.10.7.3."""
    flags = seg.flags
    if flags & ACK:
        ack = seg.ack
        # first: SEG.ACK =< ISS or SEG.ACK > SND.NXT is unacceptable
        if not (seq_gt(ack, c.iss) and seq_le(ack, c.snd_max)):
            if not flags & RST:
                _rst(c, ack)
            c.counters.drop("bad_ack")
            return
    if flags & RST:
        # second: RFC 5961 §3.2 / RFC 9293: a RST is acceptable only with an acceptable ACK
        if flags & ACK:
            c.counters.inc("rsts_received")
            c.enter_closed(ConnectionRefusedError(errno.ECONNREFUSED, "connection refused"))
        else:
            c.counters.drop("rst_without_ack")
        return
    if not flags & SYN:
        c.counters.drop("no_syn")
        return
    # fourth: SYN
    c.irs = seg.seq
    c.rcv_nxt = seq_add(seg.seq, 1)
    c.negotiate(seg, now_us)
    c.snd_wnd = seg.window  # RFC 7323 §2.2: never scaled in a SYN
    c.max_snd_wnd = seg.window
    c.snd_wl1 = seg.seq
    c.snd_wl2 = seg.ack
    c.rcv_adv = seq_add(c.rcv_nxt, min(c.config.recv_buffer_bytes, 0xFFFF))
    c.last_rx_us = now_us
    if flags & ACK:
        c.snd_una = seg.ack
        if not c.karn_blocked:
            c.rtt.on_sample(now_us - c.syn_sent_us)
        c.karn_blocked = False
        c.ack_now = True
        c.establish(now_us)
        if c.state is not ESTABLISHED:
            return
        fin = flags & FIN
        if seg.payload or fin:
            seq = seq_add(seg.seq, 1)
            plen = len(seg.payload)
            wnd = c.rcv_window()
            payload = seg.payload[:wnd] if plen > wnd else seg.payload
            if len(payload) < plen:
                fin = 0
            if payload:
                _receive_text(c, seq, payload, fin, now_us)
            elif fin:
                _receive_fin(c, now_us)
    else:
        # simultaneous open (RFC 9293 §3.5, figure 7): SYN-RECEIVED, send SYN,ACK
        c.state = SYN_RECEIVED
        c.need_syn = True
        c.counters.inc("simultaneous_opens")
        syn_text(c, seg)


def syn_text(c: TcpConnection, seg: Segment) -> None:
    """Text carried on a SYN (LISTEN: RFC 9293 §3.10.7.2 fourth, SYN-SENT: §3.10.7.3 fourth): "queued
    for processing later". It goes into the receive buffer at once (as much as the window takes) and is
    acknowledged with the SYN-ACK, so the peer need not send it again; the application learns of it only
    once the connection is established (the handshake may still prove the SYN an old duplicate). A FIN
    on the SYN is not queued: the peer retransmits it."""
    payload: Any = seg.payload
    if not payload:
        return
    room = c.rcv_window()
    if len(payload) > room:
        payload = payload[:room]
        c.counters.inc("trimmed_beyond_window")
    n = len(payload)
    if not n:
        return
    c.recvbuf.append(payload)
    c.rcv_nxt = seq_add(c.rcv_nxt, n)
    cv = c.counters
    cv.bytes_in += n
    cv.inc("syn_text_bytes", n)


def _filter_sack(
    c: TcpConnection, blocks: tuple[tuple[int, int], ...], ack: int, now_us: int
) -> tuple[tuple[int, int], ...]:
    """RFC 2883 §4: a first block below the cumulative ACK or inside the second block is a D-SACK."""
    if not blocks:
        return blocks
    left, right = blocks[0]
    if seq_le(right, ack) or (
        len(blocks) > 1 and seq_le(blocks[1][0], left) and seq_le(right, blocks[1][1])
    ):
        c.counters.inc("dsacks_received")
        if c.undo_bytes > 0 and not c.ts_ok and seq_le(c.undo_start, left) and seq_le(right, c.undo_end):
            # RFC 3708: the receiver got this retransmitted data twice; when every byte retransmitted
            # in the episode comes back as a duplicate, the episode was spurious (reordering)
            c.undo_bytes -= seq_diff(right, left)
            if c.undo_bytes <= 0:
                _undo_recovery(c, now_us)
        return blocks[1:]
    return blocks


def _early_retransmit(c: TcpConnection, mss: int) -> bool:
    """RFC 5827 §3.2 (SACK variant): with fewer than four segments outstanding and no new data to send,
    DupThresh drops to the outstanding segments minus one, so a short tail can recover without an RTO."""
    flight = seq_diff(c.snd_max, c.snd_una)
    oseg = (flight + mss - 1) // mss
    if oseg >= 4 or oseg < 2:
        return False
    unsent = len(c.sendbuf) - seq_diff(c.snd_nxt, c.buf_seq)
    if unsent > 0 and seq_diff(seq_add(c.snd_una, c.snd_wnd), c.snd_nxt) > 0:
        return False  # new data can still go: it will produce the duplicate ACKs
    sacked_segs = (c.scoreboard.sacked_bytes + mss - 1) // mss
    if sacked_segs >= oseg - 1:
        c.counters.inc("early_retransmits")
        return True
    return False


def _undo_rto(c: TcpConnection, now_us: int) -> None:
    """RFC 3522 detection / RFC 4015 response for a spurious timeout: the first ACK after the RTO echoes
    a timestamp older than the retransmission, so the original data arrived. The window comes back and
    sending resumes with new data instead of going back over what is in flight."""
    c.counters.inc("spurious_rtos_undone")
    # RFC 4015 §3.2 / RFC 9438 §4.9: the congestion controller restores its own state from before the
    # timeout (cwnd, ssthresh and, for CUBIC, W_max, K and the epoch)
    c.cc.on_spurious_congestion(now_us)
    if seq_lt(c.snd_nxt, c.snd_max):
        c.snd_nxt = c.snd_max


def _undo_recovery(c: TcpConnection, now_us: int) -> None:
    """RFC 4015-style response to a spurious fast retransmit detected with D-SACK (RFC 3708): restore
    the window from before the episode and tolerate deeper reordering (a higher DupThresh, as Linux
    raises its reordering metric)."""
    c.undo_bytes = 0
    c.counters.inc("spurious_recoveries_undone")
    cc = c.cc
    if c.in_recovery:
        c.in_recovery = False
        c.inflation = 0
        c.dupacks = 0
        c.rtx_list.clear()
        c.rtx_again.clear()
        c.rtx_again_bytes = 0
    # RFC 3708 §5 / RFC 9438 §4.9: the controller puts back its state from before the episode's
    # reduction (cwnd, ssthresh and, for CUBIC, W_max, K and the epoch) and leaves recovery
    if not cc.on_spurious_congestion(now_us) and cc.in_recovery:
        cc.on_exit_recovery(now_us)  # nothing saved to undo (the MSS changed): just end the episode
    if c.dupthresh < MAX_DUPTHRESH:
        c.dupthresh += 2


def _process_ack(c: TcpConnection, seg: Segment, ack: int, plen: int, fin: int, now_us: int) -> bool:
    """Fifth step for synchronized states: window update, new data acknowledged, duplicate ACKs,
    loss recovery, FIN acknowledged. Returns False when processing of the segment must stop."""
    una = c.snd_una
    acked = seq_diff(ack, una)
    mss = c.snd_mss
    # Window update (RFC 9293 §3.10.7.4: SND.WL1 < SEG.SEQ or (= and SND.WL2 =< SEG.ACK)).
    window_changed = False
    wl1 = c.snd_wl1
    if seq_lt(wl1, seg.seq) or (wl1 == seg.seq and seq_le(c.snd_wl2, ack)):
        wnd = seg.window << c.snd_wscale
        if wnd != c.snd_wnd:
            window_changed = True
            if wnd > c.max_snd_wnd:
                c.max_snd_wnd = wnd
            if wnd and c.snd_wnd == 0:
                c.persist_backoff = 0
                c.persist_start_us = None
                c.timers.persist = None
            c.snd_wnd = wnd
        c.snd_wl1 = seg.seq
        c.snd_wl2 = ack
    c.probes_out = 0
    sack_ok = c.sack_ok
    newly_sacked = 0
    sb_before = 0
    if sack_ok:
        board = c._scoreboard  # read directly: most ACKs meet no scoreboard (the property would make one)
        if board is not None:
            sb_before = board.sacked_bytes
        if seg.sack_blocks:
            blocks = _filter_sack(c, seg.sack_blocks, ack, now_us)
            if blocks:
                newly_sacked = c.scoreboard.update(ack, blocks, c.snd_max)

    if acked > 0:
        # RFC 9293 §3.10.7.4: SND.UNA < SEG.ACK =< SND.NXT: new data acknowledged
        c.snd_una = ack
        c.tlp_out = False
        rts = c.rto_eifel_ts
        c.rto_eifel_pending = False
        if rts is not None:
            c.rto_eifel_ts = None
            tse = seg.ts_ecr
            if tse is not None and seq_lt(tse, rts):
                _undo_rto(c, now_us)
        ets = c.eifel_ts
        if ets is not None and una == c.undo_start:
            c.eifel_ts = None
            tse = seg.ts_ecr
            if tse is not None and seq_lt(tse, ets) and c.undo_bytes > 0:
                # RFC 3522 (Eifel detection): the ACK for the fast-retransmitted segment echoes a
                # timestamp older than the retransmission: the original arrived, the episode was
                # spurious (timestamps, unlike D-SACK, are not fooled by duplicating networks)
                _undo_recovery(c, now_us)
        sb = c.sendbuf
        data_acked = seq_diff(ack, c.buf_seq)
        if data_acked > 0:
            if data_acked > len(sb):
                data_acked = len(sb)
            sb.drop(data_acked)
            c.buf_seq = seq_add(c.buf_seq, data_acked)
        if seq_lt(c.snd_nxt, ack):
            c.snd_nxt = ack
        board = c._scoreboard
        if sack_ok and not seg.sack_blocks and board is not None and board.sacked_bytes:
            board.update(ack, ())
        # RTT sample: the timed segment (Karn) or, after retransmissions, the echoed timestamp.
        rtt_us: int | None = None
        rs = c.rtt_seq
        if rs is not None and seq_ge(ack, rs):
            rtt_us = now_us - c.rtt_time
            c.rtt_seq = None
        elif c.karn_blocked and c.ts_ok and seg.ts_ecr and seq_ge(seg.ts_ecr, c.rtx_ts):
            # the echo must come from a segment sent no earlier than the last retransmission, else the
            # ACK may answer the original transmission and the sample would be ambiguous (RFC 3522 §2)
            d = seq_diff(c.ts_now(now_us), seg.ts_ecr)  # RFC 7323 §5.2: timestamps compare mod 2**32
            if d >= 0:
                rtt_us = d * 1000 if d else 500  # RFC 7323 §4.1 / appendix G: 1 ms clock
        if rtt_us is not None:
            c.rtt.on_sample(rtt_us)
            c.karn_blocked = False
        else:
            c.rtt.reset_backoff()
        c.retries = 0
        c.head_sent_us = now_us
        if c.in_recovery:
            if seq_ge(ack, c.recover):
                # RFC 6582 §3.2 step 3 / RFC 6675 §5: full acknowledgment ends recovery
                c.in_recovery = False
                c.inflation = 0
                c.dupacks = 0
                c.rtx_list.clear()
                c.rtx_again.clear()
                c.rtx_again_bytes = 0
                c.cc.on_exit_recovery(now_us)
            elif not sack_ok:
                # RFC 6582 §3.2 step 5: partial ACK: retransmit the next hole, deflate, add one MSS
                c.rtx_head = True
                c.inflation = c.inflation - acked + mss
                if c.cc.cwnd + c.inflation < mss:
                    c.inflation = mss - c.cc.cwnd
                c.counters.inc("partial_acks")
        else:
            c.dupacks = 0
            c.inflation = 0
            cc_rtt = rtt_us
            if cc_rtt is None and c.ts_ok:
                # RFC 7323 §4 (RTTM): every ACK with a timestamp echo measures the RTT. The RTO estimator
                # keeps its one-per-window samples (RFC 6298 constants assume that rate), but the
                # congestion controller gets one per ACK: HyStart++ needs N_RTT_SAMPLE per round
                # (RFC 9406 §4.2) and CUBIC its RTT (RFC 9438 §4.4).
                tse = seg.ts_ecr
                if tse:
                    d = seq_diff(c.ts_now(now_us), tse)
                    if 0 <= d < 0x7FFFFFFF // 1000:
                        cc_rtt = d * 1000 if d else 500  # 1 ms timestamp clock
            c.cc.on_ack(acked, seq_diff(c.snd_max, ack), cc_rtt, now_us)
        # RFC 6298 §5.2/§5.3: stop the timer when all is acknowledged, else restart it (RFC 6582 §3.2
        # step 5: for partial ACKs only the first one restarts it, the "impatient" variant).
        t = c.timers
        if c.snd_una == c.snd_max:
            t.rto = t.tlp = None
            c.first_partial = True
        elif not c.in_recovery or sack_ok or c.first_partial:
            arm_rto(c, now_us)
            if c.in_recovery and not sack_ok:
                c.first_partial = False
        lw = c.write_low_water
        if c.writable_armed and lw is not None and len(sb) <= lw:
            c.writable_armed = False
            c.push_event(WritableAgain())
        # FIN acknowledged?
        fs = c.fin_seq
        if fs is not None and seq_gt(ack, fs):
            st = c.state
            if st is FIN_WAIT_1:
                c.state = FIN_WAIT_2
                if c.read_closed:
                    c.timers.fin_wait2 = now_us + c.config.fin_wait2_timeout_us
            elif st is CLOSING:
                c.enter_time_wait(now_us)
                return False
            elif st is LAST_ACK:
                c.enter_closed(None)
                return False
    elif acked == 0:
        # RFC 5681 §2 duplicate ACK: no data, no SYN/FIN, same window, data outstanding (RFC 6675 §2:
        # with SACK, an ACK that SACKs new data also counts).
        if c.snd_una != c.snd_max and plen == 0 and not fin and (
            (not window_changed) or newly_sacked
        ):
            if not sack_ok or newly_sacked or not seg.sack_blocks:
                c.dupacks += 1
                cv = c.counters.values
                cv["dup_acks"] = cv.get("dup_acks", 0) + 1
                if c.in_recovery:
                    if not sack_ok:
                        c.inflation += mss  # RFC 5681 §3.2 step 4: inflate by one SMSS
                elif c.dupacks < DUPTHRESH:
                    # RFC 3042 limited transmit: one new segment for each of the first two dupacks
                    c.inflation = c.dupacks * mss
    if c.in_recovery and sack_ok:
        # RFC 6937: DeliveredData = change in SND.UNA + change in SACKed bytes
        delivered = (acked if acked > 0 else 0) + c.sacked_bytes - sb_before
        if delivered > 0:
            c.prr_delivered += delivered
            c.prr_last_delivered = delivered
        if c.rtx_list:
            _lost_retransmission(c, now_us)
    # Loss detection: DupThresh duplicate ACKs (RFC 5681 §3.2 step 2) or, with SACK, IsLost(HighACK+1)
    # (RFC 6675 §5 step 4); not again before snd_una passes the previous recovery point (RFC 6582 §3.2).
    if not c.in_recovery and c.snd_una != c.snd_max and seq_ge(c.snd_una, c.recover):
        dt = c.dupthresh
        if c.dupacks >= dt or (
            sack_ok and c.sacked_bytes and c.scoreboard.is_lost(c.snd_una, mss, dt)
        ) or (c.tlp_out and newly_sacked and acked <= 0) or (
            newly_sacked and _early_retransmit(c, mss)
        ):
            # (the last case: RFC 8985 §7.4: the tail loss probe was SACKed while earlier data is still
            # missing, so that data was lost: recover now instead of waiting for the RTO)
            _enter_recovery(c, now_us)
    return True


def _lost_retransmission(c: TcpConnection, now_us: int) -> None:
    """Time-order loss detection during recovery, the idea of RFC 8985 RACK on a FIFO path, applied to
    what RFC 6675 cannot see:

    - a retransmission delivered (cumulatively ACKed or SACKed) that was sent a reordering window after
      recovery began proves that every original transmission sent before recovery and still unSACKed
      was lost: the whole unSACKed tail beyond the highest SACK is then retransmitted (``tail_lost``);
    - a retransmission sent a reordering window before a delivered one, and itself neither SACKed nor
      ACKed, was lost again: it is queued to be sent once more (``rtx_again``).

    The scan runs at most once per reordering window (min RTT / 4, RFC 8985 §6.2).
    """
    reo = (c.rtt.min_rtt_us or 0) >> 2
    if reo < 1000:
        reo = 1000
    if now_us - c.rack_scan_us < reo:
        return
    c.rack_scan_us = now_us
    lst = c.rtx_list
    una = c.snd_una
    sb = c.scoreboard
    newest = -1  # send time of the newest delivered retransmission
    keep: list[tuple[int, int, int, int]] = []
    min_rtt = c.rtt.min_rtt_us or 0
    for e in lst:
        if seq_le(e[1], una) or sb.is_sacked(e[0]):
            kind = e[3]
            # RFC 8985 §6.2 step 2: a retransmission delivered sooner than a minimum RTT after it was
            # sent was delivered by an earlier copy: it says nothing about when this copy was sent
            if e[2] > newest and (kind == NEW_DATA or (kind == FIRST_RTX and now_us - e[2] >= min_rtt)):
                newest = e[2]
        else:
            keep.append(e)
    if newest < 0:
        return
    if not c.tail_lost and newest >= c.recovery_us + reo:
        c.tail_lost = True
        c.counters.inc("tail_losses_detected")
    lst.clear()
    limit = newest - reo
    again = c.rtx_again
    congested = False
    for e in keep:
        if e[2] <= limit:
            again.append((e[0], e[1]))
            c.rtx_again_bytes += seq_diff(e[1], e[0])
            c.counters.inc("lost_retransmits")
            if e[2] >= c.reduction_us:
                congested = True
        else:
            lst.append(e)
    if congested:
        # Data sent under the already reduced window was lost too: that is a new congestion event
        # (RFC 5681 §3.1 / RFC 6582 §3.2: the loss of a retransmission is congestion), so the window is
        # reduced once more and a new PRR episode starts from what is really in flight.
        pipe = recovery_pipe(c)
        c.cc.on_enter_recovery(pipe, now_us)
        c.recover = c.snd_max
        c.recover_fs = pipe if pipe > 0 else c.snd_mss
        c.prr_delivered = 0
        c.prr_out = 0
        c.reduction_us = now_us
        c.counters.inc("recovery_reductions")


def _enter_recovery(c: TcpConnection, now_us: int) -> None:
    """Fast retransmit (RFC 5681 §3.2 steps 2-3, RFC 6582 §3.2 step 2, RFC 6675 §5 step 4)."""
    c.in_recovery = True
    c.recover = c.snd_max
    c.counters.inc("fast_retransmits")
    mss = c.snd_mss
    # remembered for an undo if D-SACKs later show the episode was spurious (RFC 3708 / RFC 4015); the
    # congestion controller keeps its own state from before the cut (on_spurious_congestion)
    c.undo_start = c.snd_una
    c.undo_end = c.snd_max
    c.undo_bytes = 0
    c.eifel_ts = None  # set by the fast retransmission (its TSval)
    if c.sack_ok:
        c.counters.inc("sack_recoveries")
        flight = seq_diff(c.snd_max, c.snd_una)
        c.cc.on_enter_recovery(flight, now_us)
        c.high_rxt = c.snd_una
        c.inflation = 0
        c.recover_fs = flight  # RFC 6937: RecoverFS = snd.nxt - snd.una
        c.prr_delivered = 0
        c.prr_out = 0
        c.prr_last_delivered = 0
        c.rtx_list.clear()
        c.rtx_again.clear()
        c.rtx_again_bytes = 0
        c.rack_scan_us = now_us
        c.reduction_us = now_us
        c.recovery_us = now_us
        c.tail_lost = False
        c.tail_end = c.snd_max
    else:
        c.counters.inc("newreno_recoveries")
        c.cc.on_enter_recovery(seq_diff(c.snd_max, c.snd_una), now_us)
        c.inflation = DUPTHRESH * mss  # RFC 5681 §3.2 step 3: cwnd = ssthresh + 3*SMSS
        c.first_partial = True
    c.rtx_head = True


def _receive_text(c: TcpConnection, seq: int, payload: Any, fin: int, now_us: int) -> None:
    """Seventh step: queue in-order data for the application, reassemble out-of-order data."""
    rb = c.recvbuf
    plen = len(payload)
    if seq == c.rcv_nxt:
        rb.append(payload)
        moved = rb.take_contiguous() if rb.ooo else 0
        total = plen + moved
        c.rcv_nxt = seq_add(c.rcv_nxt, total)
        c.data_event(total)
        c.counters.bytes_in += total
        if plen > c.rcv_mss:
            c.rcv_mss = plen if plen < c.local_mss else c.local_mss
        c.rcv_unacked += plen
        if moved or rb.ooo or c.dsack is not None:
            c.ack_now = True  # RFC 5681 §4.2: a segment filling a gap is acknowledged at once
        elif c.rcv_unacked >= c.cfg_delack_segments * c.rcv_mss:
            c.ack_now = True  # RFC 5681 §4.2: at least every second full-sized segment
        elif c.timers.delack is None:
            c.timers.delack = now_us + c.cfg_delack_us
        if fin or (c.ooo_fin is not None and c.ooo_fin == rb.nxt):
            _receive_fin(c, now_us)
        return
    # out of order (RFC 9293 §3.10.7.4: held for later processing)
    start = rb.nxt + seq_diff(seq, c.rcv_nxt)
    stored, dup = rb.insert(start, payload)
    cv = c.counters.values
    if not stored:
        c.counters.drop("ooo_limit")
    else:
        cv["ooo_segments"] = cv.get("ooo_segments", 0) + 1
        if dup is not None and c.sack_ok:
            base = c.rcv_nxt
            c.dsack = (seq_add(base, dup[0] - rb.nxt), seq_add(base, dup[1] - rb.nxt))
        if fin:
            c.ooo_fin = start + plen
    queue_ack(c, now_us)  # RFC 5681 §4.2: out-of-order data is acknowledged immediately


def _receive_fin(c: TcpConnection, now_us: int) -> None:
    """Eighth step: the FIN, after all data before it (RFC 9293 §3.10.7.4)."""
    c.rcv_nxt = seq_add(c.rcv_nxt, 1)
    c.ooo_fin = None
    c.ack_now = True
    st = c.state
    if not c.fin_rcvd:
        c.fin_rcvd = True
        c.push_event(EofReceived())
    if st is ESTABLISHED or st is SYN_RECEIVED:
        c.state = CLOSE_WAIT
    elif st is FIN_WAIT_1:
        fs = c.fin_seq
        if fs is not None and seq_gt(c.snd_una, fs):
            c.enter_time_wait(now_us)
        else:
            c.state = CLOSING
            c.counters.inc("simultaneous_closes")
    elif st is FIN_WAIT_2:
        c.enter_time_wait(now_us)
    elif st is TIME_WAIT:
        c.timers.time_wait = now_us + c.config.time_wait_us
    c.timers.fin_wait2 = None
    c.timers.delack = None
