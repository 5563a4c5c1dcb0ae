"""The output path of a TCP connection: ACK state, windows and options on every segment, the SYN and
SYN-ACK, retransmissions (fast retransmit, NewReno, SACK recovery), segmentation of new data.

Read first: RFC 9293 §3.7.4 (Nagle), §3.8.6.2 (SWS avoidance on both sides), §3.8.6.3 (ACK
generation), RFC 5681 §3.2 / RFC 6582 §3.2 (fast retransmit / NewReno), RFC 6675 §5 (NextSeg, pipe),
RFC 6937 (proportional rate reduction), RFC 8985 §7 (tail loss probe), RFC 3042 (limited transmit),
RFC 7323 §2.3 / §3 (window scaling, timestamps), RFC 2018 §4 / RFC 2883 (SACK and D-SACK blocks),
RFC 5961 §7 (challenge ACK rate limit).

Functions here take the connection as ``self`` and are bound as ``TcpConnection`` methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiostack.core.tcp.segment import TS_OPTION_LEN, Segment, new_segment
from aiostack.core.tcp.state import ESTABLISHED, SENDS_DATA, SYN_RECEIVED, SYN_SENT, SYNCHRONIZED
from aiostack.core.tcp.timeouts import arm_persist, arm_rto, arm_tlp
from aiostack.fastpath import seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from aiostack.wire.tcp import ACK, FIN, PSH, SYN

if TYPE_CHECKING:
    from aiostack.core.tcp.connection import TcpConnection

# Kinds of segments sent during recovery, for the time-order loss detection (input._lost_retransmission).
NEW_DATA = 0  # a first transmission: its delivery is unambiguous evidence
FIRST_RTX = 1  # a retransmission: evidence only after a full minimum RTT (its original may arrive late)
AGAIN_RTX = 2  # a retransmission sent again: never evidence (Karn's rule)


def window_field(self: TcpConnection) -> int:
    """The window to advertise (RFC 9293 §3.8.6.2.2 receiver SWS avoidance, RFC 7323 §2.3 scaling);
    updates ``rcv_adv``. The right edge never moves left (RFC 9293 §3.8.6)."""
    buf = self.cfg_recv_buffer
    rcv_nxt = self.rcv_nxt
    free = buf - self.recvbuf.bytes
    if free < 0:
        free = 0
    cur = seq_diff(self.rcv_adv, rcv_nxt)
    if cur < 0:
        cur = 0
    win = cur
    if free > cur:
        # RFC 9293 §3.8.6.2.2: move the right edge only by at least min(buffer/2, MSS).
        step = buf >> 1
        if self.rcv_mss < step:
            step = self.rcv_mss
        if free - cur >= step or free == buf:
            win = free
    ws = self.rcv_wscale
    raw = (win + (1 << ws) - 1) >> ws  # round up so the right edge never moves left
    if raw > 0xFFFF:
        raw = 0xFFFF
    self.rcv_adv = seq_add(rcv_nxt, raw << ws)
    return raw


def make_segment(self: TcpConnection, seq: int, flags: int, payload: Any, now_us: int) -> Segment:
    """A segment from this connection carrying the current ACK state (and options)."""
    seg = new_segment(self.local_port, self.remote_port, seq, self.rcv_nxt, flags, window_field(self), payload)
    if self.ts_ok:
        seg.ts_val = self.ts_now(now_us)
        seg.ts_ecr = self.ts_recent
    if self.sack_ok and (self.dsack is not None or self.recvbuf.ooo):
        room = 40 - (TS_OPTION_LEN if self.ts_ok else 0)
        nblocks = (room - 4) // 8
        plen = len(payload)
        if plen:
            # data segments carry SACK blocks only where they fit in the MSS (never GSO ones)
            spare = self.snd_mss - plen
            if spare < 12:
                nblocks = 0
            elif (spare - 4) // 8 < nblocks:
                nblocks = (spare - 4) // 8
        if nblocks:
            seg.sack_blocks = sack_blocks(self, nblocks)
    # RFC 5681 §4.2: any segment with an ACK acknowledges all received data
    self.ack_now = False
    self.timers.delack = None
    self.rcv_unacked = 0
    self.last_ack_sent = self.rcv_nxt
    return seg


def sack_blocks(self: TcpConnection, limit: int) -> tuple[tuple[int, int], ...]:
    """RFC 2018 §4: the D-SACK block first (RFC 2883 §4), then the most recently changed ranges."""
    out: list[tuple[int, int]] = []
    d = self.dsack
    if d is not None:
        out.append(d)
        self.dsack = None
        self.counters.inc("dsacks_sent")
    rb = self.recvbuf
    if rb.ooo and len(out) < limit:
        base_seq = self.rcv_nxt
        base = rb.nxt
        for s, e in rb.sack_ranges(limit - len(out)):
            out.append((seq_add(base_seq, s - base), seq_add(base_seq, e - base)))
    return tuple(out)


def queue_ack(self: TcpConnection, now_us: int) -> None:
    """Build a pure ACK now (each duplicate/out-of-order arrival gets its own: RFC 5681 §4.2)."""
    self.push_out(make_segment(self, self.snd_max, ACK, b"", now_us))


def challenge_ack(self: TcpConnection, now_us: int) -> None:
    """RFC 5961 §3.2/§4.2/§5.2 challenge ACK, rate-limited per connection (RFC 5961 §7)."""
    if now_us - self.chack_window_us >= 1_000_000:
        self.chack_window_us = now_us
        self.chack_count = 0
    if self.chack_count >= self.config.challenge_ack_limit_per_s:
        self.counters.inc("challenge_acks_limited")
        return
    self.chack_count += 1
    self.counters.inc("challenge_acks")
    queue_ack(self, now_us)


def poll_egress(self: TcpConnection, now_us: int, max_segment_bytes: int | None = None) -> list[Segment]:
    """Segments to transmit now. ``max_segment_bytes`` > MSS allows super-segments (GSO) whose
    payload is a multiple of the MSS."""
    st = self.state
    if st is ESTABLISHED and not self.ack_now and not self.out and not self.tlp_new and nothing_to_send(self):
        return []  # nothing to send or acknowledge now (a receiver after most segments): no output pass
    out = self.take_out()
    if st in SENDS_DATA:
        output(self, now_us, out, max_segment_bytes)
    elif st is SYN_SENT or st is SYN_RECEIVED:
        if self.need_syn:
            self.need_syn = False
            out.append(syn_segment(self, now_us))
            if self.timers.rto is None:
                self.timers.rto = now_us + self.rtt.rto_us
    if self.ack_now:
        if st in SYNCHRONIZED:
            out.append(make_segment(self, self.snd_max, ACK, b"", now_us))
        else:
            self.ack_now = False  # nothing to acknowledge before the handshake completes
    if st not in SENDS_DATA:
        # requests the state left behind (recovery ended by the FIN's ACK, ...): poll_at() must not
        # keep reporting work that no state will do
        self.rtx_head = self.rtx_tail = self.tlp_new = False
        if st is not SYN_SENT and st is not SYN_RECEIVED:
            self.need_syn = False
    if out:
        self.counters.segments_out += len(out)
    return out


def syn_segment(self: TcpConnection, now_us: int) -> Segment:
    """Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with the options we offer or accept."""
    cfg = self.config
    active = self.state is SYN_SENT
    seg = Segment(self.local_port, self.remote_port, self.iss, 0, SYN, min(cfg.recv_buffer_bytes, 0xFFFF))
    seg.mss = self.local_mss
    if active:
        if cfg.window_scaling:
            seg.wscale = self.rcv_wscale
        seg.sack_permitted = cfg.sack
        if cfg.timestamps:
            seg.ts_val = self.ts_now(now_us)
            seg.ts_ecr = 0
        self.rcv_adv = 0
    else:
        seg.flags = SYN | ACK
        seg.ack = self.rcv_nxt
        if self.ws_ok:
            seg.wscale = self.rcv_wscale
        seg.sack_permitted = self.sack_ok
        if self.ts_ok:
            seg.ts_val = self.ts_now(now_us)
            seg.ts_ecr = self.ts_recent
        self.last_ack_sent = self.rcv_nxt
        self.ack_now = False
    if self.retries:
        self.counters.inc("retransmits")
    return seg


def nothing_to_send(self: TcpConnection) -> bool:
    """No retransmission asked for, no recovery, no FIN queued and every buffered byte already sent: the
    output pass would send nothing (a probe's new segment needs unsent data too)."""
    sb = self.sendbuf
    return (not (self.rtx_head or self.rtx_tail or self.in_recovery or self.fin_queued)
            and sb.end - sb.base <= seq_diff(self.snd_nxt, self.buf_seq))


def output(self: TcpConnection, now_us: int, out: list[Segment], max_segment_bytes: int | None) -> None:
    """Retransmissions first (fast retransmit, SACK recovery), then new data (RFC 9293 §3.8.6)."""
    if nothing_to_send(self):
        self.tlp_new = False
        return  # nothing to send or resend (the common case on a receiver)
    if (self.snd_una == self.snd_max and self.last_send_us is not None
            and now_us - self.last_send_us > self.rtt.rto_us and not self.in_recovery):
        # RFC 5681 §4.1: after an idle period longer than the RTO, restart from the initial window
        self.cc.on_idle_restart(now_us)
        self.last_send_us = None
    n0 = len(out)
    if self.rtx_head:
        self.rtx_head = False
        seg = retransmit_at(self, self.snd_una, self.snd_mss, now_us)
        if seg is not None:
            out.append(seg)
            if self.sack_ok:
                end = seq_add(seg.seq, len(seg.payload) + (1 if seg.flags & FIN else 0))
                if seq_gt(end, self.high_rxt):
                    self.high_rxt = end
    if self.rtx_tail:
        # RFC 8985 §7.3: the probe retransmits the last segment sent; when the receiver already SACKed
        # the tail, the highest segment still missing (a probe it already holds would teach nothing)
        self.rtx_tail = False
        end = self.snd_max
        board = self.scoreboard
        if self.sack_ok and board.sacked_bytes and board.highest_sacked == end:
            last_left = end
            for left, _right in board.ranges():
                last_left = left
            end = last_left
        k = seq_diff(end, self.snd_una)
        if k > self.snd_mss:
            k = self.snd_mss
        if k > 0:
            seg = retransmit_at(self, seq_add(end, -k), k, now_us)
            if seg is not None:
                out.append(seg)
    cwnd = self.cc.cwnd
    if self.in_recovery and self.sack_ok:
        room = sack_recovery(self, now_us, out)
    else:
        room = cwnd + self.inflation - seq_diff(self.snd_nxt, self.snd_una)
    if self.tlp_new:
        # RFC 8985 §7.3: the probe is one new segment, even beyond cwnd
        self.tlp_new = False
        if room < self.snd_mss:
            room = self.snd_mss
    max0 = self.snd_max
    n1 = len(out)
    send_new(self, now_us, out, max_segment_bytes, room)
    if self.in_recovery and self.sack_ok and len(out) > n0:
        sent = 0
        for k in range(n0, len(out)):
            seg = out[k]
            n = len(seg.payload)
            sent += n
            if k >= n1 and n and seq_ge(seg.seq, max0):
                # new data sent during recovery also gives time-order evidence (RFC 8985 RACK)
                self.rtx_list.append((seg.seq, seq_add(seg.seq, n), now_us, NEW_DATA))
        self.prr_out += sent  # RFC 6937: prr_out counts all data sent during recovery


def prr_room(self: TcpConnection, pipe: int) -> int:
    """RFC 6937 proportional rate reduction: how many bytes recovery may send now."""
    ssthresh = self.cc.ssthresh
    if pipe > ssthresh:
        # proportional part: ceil(prr_delivered * ssthresh / RecoverFS) - prr_out
        fs = self.recover_fs if self.recover_fs > 0 else 1
        sndcnt = -(-self.prr_delivered * ssthresh // fs) - self.prr_out
    else:
        # PRR-SSRB: grow back towards ssthresh at most one MSS beyond what was delivered
        limit = max(self.prr_delivered - self.prr_out, self.prr_last_delivered) + self.snd_mss
        sndcnt = ssthresh - pipe
        if limit < sndcnt:
            sndcnt = limit
    return sndcnt if sndcnt > 0 else 0


def tail_start(self: TcpConnection) -> int:
    """Where the unSACKed tail of the pre-recovery flight begins (the highest SACKed octet + 1)."""
    hs = self.scoreboard.highest_sacked
    una = self.snd_una
    return hs if hs is not None and seq_gt(hs, una) else una


def tail_span(self: TcpConnection) -> int:
    """Bytes of that tail sent before recovery began."""
    n = seq_diff(self.tail_end, tail_start(self))
    return n if n > 0 else 0


def recovery_pipe(self: TcpConnection) -> int:
    """RFC 6675 SetPipe() corrected by the time-order loss detection: the lost tail and the lost
    retransmissions are not in the network."""
    pipe = self.scoreboard.pipe(self.snd_una, self.snd_max, self.high_rxt, self.snd_mss)
    if self.tail_lost:
        # the unSACKed data beyond the highest SACK, sent before recovery, is lost: only its
        # retransmissions (counted by SetPipe's HighRxt rule) are in flight
        pipe -= tail_span(self)
    pipe -= self.rtx_again_bytes
    return pipe if pipe > 0 else 0


def sack_recovery(self: TcpConnection, now_us: int, out: list[Segment]) -> int:
    """RFC 6675 §5 step (C) paced by RFC 6937 PRR: send NextSeg() while the PRR budget allows one more
    segment. Returns the budget left for new data (NextSeg rule 2)."""
    sb = self.scoreboard
    mss = self.snd_mss
    pipe = recovery_pipe(self)
    again = self.rtx_again
    room = prr_room(self, pipe)
    for k in range(len(out)):
        room -= len(out[k].payload)  # a fast retransmission already queued in this pass
    una = self.snd_una
    while again and (room >= mss or (room > 0 and pipe == 0)):
        # retransmissions detected lost are repaired first (they hold the cumulative ACK back)
        seq, end = again.popleft()
        ln = seq_diff(end, seq)
        self.rtx_again_bytes -= ln
        if seq_le(end, una) or sb.is_sacked(seq):
            continue
        seg = retransmit_at(self, seq, ln, now_us)
        if seg is None:
            continue
        # Karn's rule for time-order detection: an earlier copy may still arrive, so the delivery of
        # this segment says nothing certain about when it was sent: it is no evidence
        self.rtx_list[-1] = (seq, end, now_us, AGAIN_RTX)
        out.append(seg)
        room -= ln
        pipe += ln
    while room >= mss or (room > 0 and pipe == 0):
        can_new = self.fin_seq is None and len(self.sendbuf) > seq_diff(self.snd_nxt, self.buf_seq) and (
            seq_diff(seq_add(self.snd_una, self.snd_wnd), self.snd_nxt) > 0
        )
        r = sb.next_seg(self.snd_una, self.snd_max, self.high_rxt, mss, can_new)
        if r is None:
            if not self.tail_lost:
                break
            # RACK-style tail: retransmit from the end of the SACKed area up to the recovery point
            start = tail_start(self)
            if seq_lt(start, self.high_rxt):
                start = self.high_rxt
            left = seq_diff(self.tail_end, start)
            if left <= 0:
                break
            r = (start, left if left < mss else mss)
        seq, ln = r
        seg = retransmit_at(self, seq, ln, now_us)
        if seg is None:
            break
        out.append(seg)
        self.high_rxt = seq_add(seq, ln)
        room -= ln
        pipe += ln
    return room


def retransmit_at(self: TcpConnection, seq: int, maxlen: int, now_us: int) -> Segment | None:
    """A retransmission of up to ``maxlen`` bytes starting at ``seq`` (with the FIN if it is next)."""
    sb = self.sendbuf
    off = seq_diff(seq, self.buf_seq)
    total = len(sb)
    if off < 0:
        return None
    n = total - off
    if n > maxlen:
        n = maxlen
    if n < 0:
        n = 0
    flags = ACK
    fin_seq = self.fin_seq
    if fin_seq is not None and seq_add(seq, n) == fin_seq:
        flags |= FIN
    if n == 0 and not flags & FIN:
        return None
    payload = sb.view(off, n) if n else b""
    if off + n == total:
        flags |= PSH
    seg = make_segment(self, seq, flags, payload, now_us)
    if self.in_recovery and self.sack_ok:
        self.rtx_list.append((seq, seq_add(seq, n), now_us, FIRST_RTX))  # send order, for loss detection
    c = self.counters.values
    c["retransmits"] = c.get("retransmits", 0) + 1
    c["retransmitted_bytes"] = c.get("retransmitted_bytes", 0) + n
    if self.in_recovery and self.sack_ok and seq_lt(seq, self.undo_end):
        if self.undo_bytes == 0 and seq == self.undo_start and self.ts_ok:
            self.eifel_ts = seg.ts_val  # RFC 3522: the TSval of the first retransmission
        self.undo_bytes += n
    # RFC 6298 §3 / RFC 9293 §3.8.1 (Karn): no RTT sample from retransmitted data
    self.rtt_seq = None
    self.karn_blocked = True
    if seg.ts_val is not None:
        self.rtx_ts = seg.ts_val
    if self.timers.rto is None:
        arm_rto(self, now_us)
    return seg


def send_new(self: TcpConnection, now_us: int, out: list[Segment], max_segment_bytes: int | None, room: int) -> None:
    """Segment the send buffer from snd_nxt within the congestion and receive windows."""
    before = len(out)
    segmentize(self, now_us, out, max_segment_bytes, room)
    if len(out) != before and self.sack_ok and not self.retries and self.timers.rto is not None:
        arm_tlp(self, now_us)  # RFC 8985 §7.2: the PTO restarts when new data goes out


def segmentize(
    self: TcpConnection, now_us: int, out: list[Segment], max_segment_bytes: int | None, room: int
) -> None:
    sb = self.sendbuf
    mss = self.snd_mss
    seg_max = mss
    if max_segment_bytes is not None and max_segment_bytes > mss:
        seg_max = (max_segment_bytes // mss) * mss
    tmpl: Segment | None = None
    new_bytes = 0  # sent by the inline path below, counted once at the end
    lport = self.local_port
    rport = self.remote_port
    while True:
        total = sb.end - sb.base
        nxt = self.snd_nxt
        off = seq_diff(nxt, self.buf_seq)
        avail = total - off
        if avail <= 0:
            if avail == 0 and self.fin_queued and (self.fin_seq is None or seq_le(nxt, self.fin_seq)):
                # a bare FIN (the data went out already); it needs no window (as Linux)
                emit_data(self, now_us, out, nxt, off, 0, ACK | FIN, None)
            break
        snd_max = self.snd_max
        # already SACKed data need not be sent again after an RTO rewound snd_nxt
        if nxt != snd_max and self.sack_ok and self.sacked_bytes and seq_lt(nxt, snd_max):
            skip = sacked_run(self, nxt)
            if skip:
                self.snd_nxt = seq_add(nxt, skip)
                continue
        rwnd_room = seq_diff(seq_add(self.snd_una, self.snd_wnd), nxt)
        usable = room if room < rwnd_room else rwnd_room
        idle = self.snd_una == snd_max
        if usable <= 0:
            if rwnd_room <= 0 and idle and self.timers.persist is None and self.timers.rto is None:
                arm_persist(self, now_us)
            break
        n = avail if avail < usable else usable
        if n > seg_max:
            n = seg_max
        elif n < mss:
            if n < avail:
                # RFC 9293 §3.8.6.2.1 sender SWS avoidance: a window-limited small segment only
                # if it is at least half the largest window seen, or nothing is in flight.
                if not idle and n < (self.max_snd_wnd >> 1):
                    break
                if idle and rwnd_room > n and n < (self.max_snd_wnd >> 1):
                    break  # limited by cwnd, not by the peer: wait for ACKs
            elif nxt == snd_max:  # cork and Nagle hold back new data only, never a retransmission
                if self.cork and not self.fin_queued:
                    break  # TCP_CORK: hold the partial segment
                if self.nagle and not idle:
                    break  # RFC 9293 §3.7.4 Nagle: one small segment in flight at most
        elif n > mss and n % mss:
            n -= n % mss  # GSO super-segments are whole MSS multiples
        flags = ACK
        if off + n == total:
            flags |= PSH
            if self.fin_queued:
                flags |= FIN
        if tmpl is not None and nxt == snd_max and not flags & FIN and not tmpl.sack_blocks:
            # inline path for the 2nd.. new segment of a pass: the first one (emit_data) already armed
            # the timers and started RTT timing; ACK, window and timestamps are the template's
            seg = new_segment(lport, rport, nxt, tmpl.ack, flags, tmpl.window, sb.view(off, n))
            seg.ts_val = tmpl.ts_val
            seg.ts_ecr = tmpl.ts_ecr
            out.append(seg)
            self.snd_nxt = self.snd_max = seq_add(nxt, n)
            new_bytes += n
        else:
            tmpl = emit_data(self, now_us, out, nxt, off, n, flags, tmpl)
            if flags & FIN:
                break
        room -= n
    if new_bytes:
        self.counters.bytes_out += new_bytes


def emit_data(
    self: TcpConnection, now_us: int, out: list[Segment], nxt: int, off: int, n: int, flags: int,
    tmpl: Segment | None,
) -> Segment:
    """Emit one data (or FIN) segment from snd_nxt. ``tmpl``: an earlier segment of the same output
    pass whose ACK, window and timestamp fields can be reused (nothing changed in between)."""
    payload = self.sendbuf.view(off, n) if n else b""
    if tmpl is None or tmpl.sack_blocks:
        seg = make_segment(self, nxt, flags, payload, now_us)
    else:
        seg = new_segment(self.local_port, self.remote_port, nxt, tmpl.ack, flags, tmpl.window, payload)
        seg.ts_val = tmpl.ts_val
        seg.ts_ecr = tmpl.ts_ecr
    out.append(seg)
    self.last_send_us = now_us
    end = seq_add(nxt, n + 1) if flags & FIN else seq_add(nxt, n)
    c = self.counters.values
    snd_max = self.snd_max
    if seq_lt(nxt, snd_max):
        c["retransmits"] = c.get("retransmits", 0) + 1
        c["retransmitted_bytes"] = c.get("retransmitted_bytes", 0) + n
        self.karn_blocked = True
        self.rtt_seq = None
        ts = seg.ts_val
        if ts is not None:
            self.rtx_ts = ts
            if self.rto_eifel_pending:
                self.rto_eifel_pending = False
                self.rto_eifel_ts = ts  # RFC 3522: the TSval of the timeout's retransmission
    else:
        if self.snd_una == snd_max:
            self.head_sent_us = now_us
        self.counters.bytes_out += n
        if self.rtt_seq is None and not self.karn_blocked:
            self.rtt_seq = end  # RFC 6298 §3: time one segment per round trip
            self.rtt_time = now_us
    if flags & FIN:
        self.fin_seq = seq_add(nxt, n)
    self.snd_nxt = end
    if seq_gt(end, snd_max):
        self.snd_max = end
    t = self.timers
    if t.rto is None:
        arm_rto(self, now_us)
    t.persist = None
    return seg


def sacked_run(self: TcpConnection, seq: int) -> int:
    """Bytes from ``seq`` that are SACKed (0 when ``seq`` is not)."""
    sb = self.scoreboard
    if not sb.is_sacked(seq):
        return 0  # the common case, by bisection
    for left, right in sb.ranges():
        if seq_le(left, seq) and seq_lt(seq, right):
            return seq_diff(right, seq)
    return 0
