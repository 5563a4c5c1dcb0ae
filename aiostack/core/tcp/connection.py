"""One TCP connection as a sans-I/O engine: user calls, received segments and timers in; segments out.

Read first: RFC 9293 (§3.3 states, §3.4 sequence numbers, §3.7 segmentation and Nagle, §3.8 timers and
windows, §3.10 event processing), RFC 6298 (RTO), RFC 5681 / RFC 6582 (congestion control, NewReno),
RFC 6675 (SACK-based recovery), RFC 7323 (window scale, timestamps, PAWS), RFC 2018 / RFC 2883 (SACK,
D-SACK), RFC 5961 (challenge ACKs), RFC 1122 §4.2.3.6 (keep-alive), RFC 6528 (ISN).

Layout of the engine (``aiostack/core/tcp``): this module holds the state, the user API, the output path
(segmentation, retransmission, ACK generation) and the timers; ``input.py`` holds the processing of
arriving segments (RFC 9293 §3.10.7); ``sendbuf``/``recvbuf`` hold the bytes; ``rtt``, ``congestion`` and
``scoreboard`` are the RTO estimator, congestion controllers and SACK scoreboard.

Sequence numbers are compared only through ``aiostack.fastpath`` ``seq_*`` helpers.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING, Any

from aiostack.config import TcpConfig
from aiostack.core.tcp import congestion
from aiostack.core.tcp import input as _input
from aiostack.core.tcp.events import (
    Closed,
    Connected,
    DataReceived,
    TcpEvent,
)
from aiostack.core.tcp.isn import generate_isn, timestamp_offset
from aiostack.core.tcp.recvbuf import ReceiveBuffer
from aiostack.core.tcp.rtt import RttEstimator
from aiostack.core.tcp.scoreboard import SackScoreboard
from aiostack.core.tcp.segment import Segment
from aiostack.core.tcp.sendbuf import SendBuffer
from aiostack.core.tcp.state import (
    CLOSE_WAIT,
    CLOSED,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    SENDS_DATA,
    SYN_RECEIVED,
    SYN_SENT,
    SYNCHRONIZED,
    TIME_WAIT,
    State,
)
from aiostack.core.tcp.timers import Timers
from aiostack.errors import LocalProtocolError
from aiostack.fastpath import seq_add, seq_diff, seq_gt, seq_le, seq_lt
from aiostack.stats import Counters
from aiostack.wire.tcp import ACK, FIN, PSH, RST, SYN

if TYPE_CHECKING:
    from aiostack.core.tcp.listener import TcpListener

_MASK32 = 0xFFFFFFFF
# RFC 7323 §2.3: the shift count is at most 14.
MAX_WSCALE = 14
# RFC 7323 §3.2: the timestamp option takes 10 bytes, 12 with the two NOPs that align it.
TS_OPTION_LEN = 12
# RFC 9293 §3.7.1: without an MSS option the sender assumes 536 (IPv4).
DEFAULT_PEER_MSS = 536
# RFC 6675 §2: DupThresh.
DUPTHRESH = 3
# RFC 7323 §5.5: TS.Recent older than 24 days is invalid for PAWS.
PAWS_IDLE_US = 24 * 24 * 3600 * 1_000_000

_ICMP_HARD = {
    # RFC 1122 §4.2.3.9: these are hard errors only while the connection is being opened (SYN-SENT).
    "port_unreachable": (ConnectionRefusedError, errno.ECONNREFUSED),
    "protocol_unreachable": (ConnectionRefusedError, errno.ENOPROTOOPT),
    "host_unreachable": (OSError, errno.EHOSTUNREACH),
    "net_unreachable": (OSError, errno.ENETUNREACH),
    "admin_prohibited": (OSError, errno.EHOSTUNREACH),
    "source_route_failed": (OSError, errno.EHOSTUNREACH),
}
_ICMP_SOFT = frozenset({"ttl_exceeded", "parameter_problem", "source_quench", "frag_needed", *_ICMP_HARD})


def choose_wscale(recv_buffer_bytes: int) -> int:
    """RFC 7323 §2.2: the smallest shift that lets the 16-bit field cover the receive buffer, <= 14."""
    shift = 0
    while shift < MAX_WSCALE and (recv_buffer_bytes >> shift) > 0xFFFF:
        shift += 1
    return shift


class TcpConnection:
    """A TCP endpoint for one 4-tuple. See ``docs/ARCHITECTURE.md`` ("TCP engine") for the verbs."""

    receive_segment = _input.segment_arrives

    def __init__(
        self,
        local_ip: int,
        local_port: int,
        remote_ip: int,
        remote_port: int,
        *,
        config: TcpConfig | None = None,
        isn_secret: bytes = b"",
        mss: int = 1460,
        now_us: int = 0,
    ) -> None:
        cfg = config if config is not None else TcpConfig()
        self.config = cfg
        self.local_ip = local_ip
        self.local_port = local_port
        self.remote_ip = remote_ip
        self.remote_port = remote_port
        self.counters = Counters("tcp")
        self.state: State = CLOSED
        self.listener: TcpListener | None = None
        self.passive = False
        self.created_us = now_us
        # --- MSS (RFC 9293 §3.7.1, RFC 6691) -------------------------------------------------------
        self.local_mss = max(int(mss), cfg.mss_floor)
        self.peer_mss = DEFAULT_PEER_MSS
        self.snd_mss = min(self.local_mss, DEFAULT_PEER_MSS)  # payload bytes per full data segment
        self.rcv_mss = min(self.local_mss, DEFAULT_PEER_MSS)  # estimate of the peer's segment size
        # --- send sequence space (RFC 9293 §3.3.1) -------------------------------------------------
        self.isn_secret = isn_secret
        iss = generate_isn(isn_secret, local_ip, local_port, remote_ip, remote_port, now_us)
        self.iss = iss
        self.snd_una = iss
        self.snd_nxt = iss
        self.snd_max = iss  # highest sequence number sent + 1 (snd_nxt goes back after an RTO)
        self.snd_wnd = 0
        self.snd_wl1 = 0
        self.snd_wl2 = 0
        self.max_snd_wnd = 0
        self.snd_wscale = 0
        self.sendbuf = SendBuffer(cfg.send_buffer_bytes)
        self.buf_seq = seq_add(iss, 1)  # sequence number of sendbuf.base
        self.fin_queued = False  # shutdown requested: FIN follows the data
        self.fin_seq: int | None = None  # sequence number the FIN occupies, once sent
        # --- receive sequence space ----------------------------------------------------------------
        self.irs = 0
        self.rcv_nxt = 0
        self.rcv_adv = 0  # right edge of the window last advertised (never moves left)
        self.rcv_wscale = choose_wscale(cfg.recv_buffer_bytes) if cfg.window_scaling else 0
        self.recvbuf = ReceiveBuffer(cfg.ooo_max_ranges, cfg.ooo_max_bytes)
        self.fin_rcvd = False
        self.ooo_fin: int | None = None  # absolute stream offset of a FIN that arrived out of order
        self.read_closed = False  # close() called: arriving data is an error (RFC 2525 §2.17)
        # --- options negotiated -------------------------------------------------------------------
        self.ws_ok = False
        self.ts_ok = False
        self.sack_ok = False
        self.ts_offset = timestamp_offset(isn_secret, local_ip, local_port, remote_ip, remote_port)
        self.ts_recent = 0
        self.ts_recent_us = 0
        self.last_ack_sent = 0
        # --- ACK generation (RFC 5681 §4.2, RFC 9293 §3.8.6.3) -------------------------------------
        self.ack_now = False
        self.rcv_unacked = 0
        self.dsack: tuple[int, int] | None = None
        # --- reliability ---------------------------------------------------------------------------
        self.rtt = RttEstimator(cfg)
        self.cc = congestion.create(cfg.congestion_control, self.snd_mss, cfg, now_us)
        self.scoreboard = SackScoreboard()
        self.in_recovery = False
        self.recover = iss  # RFC 6582: initialised to the ISS
        self.dupacks = 0
        self.inflation = 0  # RFC 5681 §3.2 NewReno cwnd inflation, kept apart from the controller's cwnd
        self.high_rxt = iss  # RFC 6675 HighRxt + 1
        self.rtx_head = False  # retransmit the segment at snd_una on the next output
        self.rtx_mark: tuple[int, int] | None = None  # (seq, snd_max) of the head retransmission
        self.tlp_out = False  # RFC 8985 §7: a tail loss probe is outstanding
        self.tlp_new = False  # the probe may be one new segment beyond cwnd
        self.rtx_tail = False  # the probe retransmits the last segment
        self.first_partial = True
        self.rtt_seq: int | None = None  # Karn timing: the ACK covering rtt_seq gives a sample
        self.rtt_time = 0
        self.karn_blocked = False  # a retransmission happened: only timestamp samples are valid
        self.rtx_ts = 0  # TSval of the latest retransmission
        self.retries = 0  # consecutive RTO expiries (RFC 6298 §5.5)
        self.head_sent_us = now_us  # first transmission time of the oldest unacknowledged data
        self.syn_sent_us = now_us
        self.need_syn = False  # a SYN or SYN-ACK must be (re)sent
        # --- persist / keep-alive ------------------------------------------------------------------
        self.persist_backoff = 0
        self.persist_start_us: int | None = None
        self.probes_out = 0
        self.keepalive = cfg.keepalive
        self.keepalive_idle_us = cfg.keepalive_idle_us
        self.keepalive_interval_us = cfg.keepalive_interval_us
        self.keepalive_count = cfg.keepalive_count
        self.ka_probes = 0
        self.last_rx_us = now_us
        self.user_timeout_us = cfg.user_timeout_us
        # --- sending policy ------------------------------------------------------------------------
        self.nagle = cfg.nagle
        self.cork = False
        self.write_low_water: int | None = None
        self.writable_armed = False
        # --- RFC 5961 challenge ACK rate limit -----------------------------------------------------
        self.chack_window_us = 0
        self.chack_count = 0
        # --- plumbing ------------------------------------------------------------------------------
        self.timers = Timers()
        self.out: list[Segment] = []  # segments built while processing input (RSTs, immediate ACKs)
        self.events: deque[TcpEvent] = deque()
        self.closed_reported = False
        self.error: BaseException | None = None
        self.soft_error: str | None = None
        self.syn_reuse = False  # TIME-WAIT ended by a new SYN: the host hands that SYN to its listener
        self.close_after_open = False  # close() during the handshake
        self.shutdown_after_open = False

    # ============================================================================================
    # opening
    # ============================================================================================

    def connect(self, now_us: int) -> None:
        """Active open (RFC 9293 §3.10.1): send a SYN, enter SYN-SENT."""
        if self.state is not CLOSED or self.closed_reported:
            raise LocalProtocolError(f"connect() in state {self.state}")
        self.state = SYN_SENT
        self.snd_nxt = self.snd_max = seq_add(self.iss, 1)
        self.need_syn = True
        self.syn_sent_us = now_us
        self.timers.rto = now_us + self.rtt.rto_us

    def accept_syn(self, seg: Segment, now_us: int) -> None:
        """Passive open from a listener (RFC 9293 §3.10.7.2): ``seg`` is the SYN; enter SYN-RECEIVED."""
        self.passive = True
        self.state = SYN_RECEIVED
        self.irs = seg.seq
        self.rcv_nxt = seq_add(seg.seq, 1)
        self.negotiate(seg, now_us)
        # RFC 7323 §2.2: the window field of a SYN is never scaled.
        self.snd_wnd = seg.window
        self.max_snd_wnd = seg.window
        self.snd_wl1 = seg.seq
        self.snd_wl2 = seg.ack
        self.snd_nxt = self.snd_max = seq_add(self.iss, 1)
        self.rcv_adv = seq_add(self.rcv_nxt, min(self.config.recv_buffer_bytes, 0xFFFF))
        self.need_syn = True
        self.syn_sent_us = now_us
        self.last_rx_us = now_us
        self.timers.rto = now_us + self.rtt.rto_us

    def negotiate(self, seg: Segment, now_us: int) -> None:
        """Options of the peer's SYN (RFC 9293 §3.7.1, RFC 7323 §2.2/§3.2, RFC 2018 §2)."""
        cfg = self.config
        if cfg.window_scaling and seg.wscale is not None:
            self.ws_ok = True
            ws = seg.wscale
            self.snd_wscale = MAX_WSCALE if ws > MAX_WSCALE else ws  # RFC 7323 §2.3: log, use 14
        else:
            self.ws_ok = False
            self.snd_wscale = 0
            self.rcv_wscale = 0
        if cfg.timestamps and seg.ts_val is not None:
            self.ts_ok = True
            self.ts_recent = seg.ts_val
            self.ts_recent_us = now_us
        else:
            self.ts_ok = False
        self.sack_ok = bool(cfg.sack and seg.sack_permitted)
        peer = seg.mss if seg.mss is not None else DEFAULT_PEER_MSS
        if peer < cfg.mss_floor:
            peer = cfg.mss_floor  # received MSS clamped to a floor (Linux TCP_MIN_MSS)
        self.peer_mss = peer
        self.update_mss()
        self.rcv_mss = min(self.snd_mss, DEFAULT_PEER_MSS)

    def update_mss(self) -> None:
        # RFC 6691: the MSS counts payload with a 20-byte TCP header; options come out of it.
        base = min(self.peer_mss, self.local_mss)
        mss = base - (TS_OPTION_LEN if self.ts_ok else 0)
        if mss < 8:
            mss = 8
        if mss != self.snd_mss:
            self.snd_mss = mss
            self.cc.set_mss(mss)

    def establish(self, now_us: int) -> None:
        """SYN-SENT/SYN-RECEIVED -> ESTABLISHED (RFC 9293 §3.10.7.3, §3.10.7.4 fifth step)."""
        self.state = ESTABLISHED
        if self.retries:
            self.rtt.on_handshake_retransmitted()  # RFC 6298 §5.7: the SYN or SYN-ACK was lost
        self.retries = 0
        self.need_syn = False
        if self.snd_una == self.snd_max:
            self.timers.rto = None
        self.last_rx_us = now_us
        if self.keepalive:
            self.timers.keepalive = now_us + self.keepalive_idle_us
        self.events.append(Connected())
        if self.listener is not None:
            self.listener.connection_established(self)
        if self.close_after_open:
            self.close_after_open = False
            self.close()
        elif self.shutdown_after_open:
            self.shutdown_after_open = False
            self.shutdown_write()

    # ============================================================================================
    # user calls (RFC 9293 §3.10.2 - §3.10.5): they only change state
    # ============================================================================================

    def send(self, data: Any) -> int:
        """Queue bytes for transmission; returns how many the send buffer took (0 when full)."""
        st = self.state
        if self.fin_queued or self.shutdown_after_open or self.close_after_open:
            raise LocalProtocolError("send() after shutdown_write()/close()")
        if st is CLOSED or st is TIME_WAIT or st is CLOSING or st is LAST_ACK:
            raise LocalProtocolError(f"send() in state {st}")
        n = self.sendbuf.write(data)
        lw = self.write_low_water
        if lw is not None and len(self.sendbuf) > lw:
            self.writable_armed = True
        return n

    def set_write_low_water(self, low_bytes: int | None) -> None:
        """``WritableAgain`` is reported once each time the send buffer drains to ``low_bytes`` or below
        after having been above it (None: never)."""
        self.write_low_water = low_bytes
        self.writable_armed = low_bytes is not None and len(self.sendbuf) > low_bytes

    def peek(self) -> Any:
        """The first contiguous piece of received data (a memoryview or bytes; no copy)."""
        return self.recvbuf.peek()

    def consume(self, n: int) -> int:
        """Mark ``n`` received bytes read; opens the receive window (window update when it matters)."""
        rb = self.recvbuf
        n = rb.consume(n)
        if n and self.state in SYNCHRONIZED and not self.fin_rcvd:
            self.maybe_window_update()
        return n

    def read(self, max_bytes: int = -1) -> bytes:
        """Copy out and consume up to ``max_bytes`` received bytes (all when negative)."""
        data = self.recvbuf.read(max_bytes)
        if data and self.state in SYNCHRONIZED and not self.fin_rcvd:
            self.maybe_window_update()
        return data

    def shutdown_write(self) -> None:
        """Send a FIN after the queued data (RFC 9293 §3.10.4 CLOSE for the sending direction)."""
        st = self.state
        if self.fin_queued:
            return
        if st is ESTABLISHED:
            self.state = FIN_WAIT_1
        elif st is CLOSE_WAIT:
            self.state = LAST_ACK
        elif st is SYN_SENT or st is SYN_RECEIVED:
            # RFC 9293 §3.10.4: queued until ESTABLISHED is reached
            self.shutdown_after_open = True
            return
        else:
            raise LocalProtocolError(f"shutdown_write() in state {st}")
        self.fin_queued = True

    def close(self) -> None:
        """Full close (RFC 9293 §3.10.4): FIN after the data, the reading side closed.

        Unread received data makes the close an abort with RST (RFC 2525 §2.17, as Linux does).
        """
        st = self.state
        if st is CLOSED:
            return
        if st is SYN_SENT:
            self.enter_closed(None)  # RFC 9293 §3.10.4: delete the TCB
            return
        if st is SYN_RECEIVED:
            self.close_after_open = True
            self.read_closed = True
            return
        self.read_closed = True
        if self.recvbuf.bytes:
            self.counters.inc("closes_with_unread_data")
            self.abort()
            return
        if not self.fin_queued and st in (ESTABLISHED, CLOSE_WAIT):
            self.shutdown_write()
        if self.state is FIN_WAIT_2 and self.timers.fin_wait2 is None:
            self.timers.fin_wait2 = self.last_rx_us + self.config.fin_wait2_timeout_us

    def abort(self) -> None:
        """RFC 9293 §3.10.5 ABORT: send <SEQ=SND.NXT><CTL=RST> in synchronized states, then CLOSED."""
        st = self.state
        if st is CLOSED:
            return
        if st in (SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT):
            self.out.append(Segment(self.local_port, self.remote_port, self.snd_nxt, 0, RST, 0))
            self.counters.inc("rsts_sent")
        self.enter_closed(None)

    def set_nodelay(self, enabled: bool) -> None:
        """TCP_NODELAY: True disables Nagle's algorithm (RFC 9293 §3.7.4)."""
        self.nagle = not enabled

    def set_cork(self, enabled: bool) -> None:
        """TCP_CORK: while corked, partial segments are held; uncorking sends them."""
        self.cork = enabled

    def set_keepalive(
        self,
        enabled: bool,
        idle_us: int | None = None,
        interval_us: int | None = None,
        count: int | None = None,
        *,
        now_us: int | None = None,
    ) -> None:
        """SO_KEEPALIVE with TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT (RFC 1122 §4.2.3.6)."""
        self.keepalive = enabled
        if idle_us is not None:
            self.keepalive_idle_us = idle_us
        if interval_us is not None:
            self.keepalive_interval_us = interval_us
        if count is not None:
            self.keepalive_count = count
        if enabled and self.state in (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_2):
            base = self.last_rx_us if now_us is None else max(self.last_rx_us, now_us)
            self.timers.keepalive = base + self.keepalive_idle_us
        elif not enabled:
            self.timers.keepalive = None

    def set_user_timeout(self, timeout_us: int) -> None:
        """TCP_USER_TIMEOUT (RFC 5482): transmitted data unacknowledged this long fails the connection."""
        self.user_timeout_us = max(0, timeout_us)

    # ============================================================================================
    # observability
    # ============================================================================================

    @property
    def send_buffer_bytes(self) -> int:
        return len(self.sendbuf)

    @property
    def recv_buffer_bytes(self) -> int:
        return self.recvbuf.bytes

    @property
    def bytes_in_flight(self) -> int:
        if self.in_recovery and self.sack_ok:
            return self.scoreboard.pipe(self.snd_una, self.snd_max, self.high_rxt, self.snd_mss)
        return seq_diff(self.snd_nxt, self.snd_una)

    @property
    def mss(self) -> int:
        """Payload bytes in a full-sized data segment (the GSO segment size for super-segments)."""
        return self.snd_mss

    def rcv_window(self) -> int:
        w = seq_diff(self.rcv_adv, self.rcv_nxt)
        return w if w > 0 else 0

    def is_finished(self) -> bool:
        """True once the host may forget this connection (CLOSED)."""
        return self.state is CLOSED

    def info(self) -> dict[str, Any]:
        """A TCP_INFO-like snapshot."""
        rtt = self.rtt
        return {
            "state": str(self.state),
            "local": (self.local_ip, self.local_port),
            "remote": (self.remote_ip, self.remote_port),
            "srtt_us": rtt.srtt_us,
            "rttvar_us": rtt.rttvar_us,
            "rto_us": rtt.rto_us,
            "min_rtt_us": rtt.min_rtt_us,
            "cwnd": self.cc.cwnd,
            "ssthresh": self.cc.ssthresh,
            "congestion_control": self.cc.name,
            "snd_mss": self.snd_mss,
            "rcv_mss": self.rcv_mss,
            "snd_una": self.snd_una,
            "snd_nxt": self.snd_nxt,
            "snd_max": self.snd_max,
            "rcv_nxt": self.rcv_nxt,
            "snd_wnd": self.snd_wnd,
            "rcv_wnd": self.rcv_window(),
            "snd_wscale": self.snd_wscale,
            "rcv_wscale": self.rcv_wscale,
            "timestamps": self.ts_ok,
            "sack": self.sack_ok,
            "bytes_in_flight": self.bytes_in_flight,
            "send_buffer_bytes": len(self.sendbuf),
            "recv_buffer_bytes": self.recvbuf.bytes,
            "ooo_bytes": self.recvbuf.ooo_bytes,
            "sacked_bytes": self.scoreboard.sacked_bytes,
            "in_recovery": self.in_recovery,
            "retransmits_in_a_row": self.retries,
            "dupacks": self.dupacks,
            "nagle": self.nagle,
            "cork": self.cork,
            "timers": self.timers.snapshot(),
            "counters": dict(self.counters.items()),
        }

    def __repr__(self) -> str:
        return (
            f"TcpConnection({self.local_port}->{self.remote_port} {self.state} una={self.snd_una} "
            f"nxt={self.snd_nxt} rcv_nxt={self.rcv_nxt})"
        )

    # ============================================================================================
    # events and the end of the connection
    # ============================================================================================

    def next_event(self) -> TcpEvent | None:
        ev = self.events
        return ev.popleft() if ev else None

    def has_events(self) -> bool:
        return bool(self.events)

    def data_event(self, n: int) -> None:
        ev = self.events
        if ev:
            last = ev[-1]
            if type(last) is DataReceived:
                last.nbytes += n
                return
        ev.append(DataReceived(n))

    def report_closed(self, error: BaseException | None) -> None:
        if not self.closed_reported:
            self.closed_reported = True
            self.error = error
            self.events.append(Closed(error))

    def enter_closed(self, error: BaseException | None) -> None:
        """Go to CLOSED, dropping buffers and timers; report Closed once."""
        self.state = CLOSED
        self.timers.clear()
        self.sendbuf.clear()
        self.recvbuf.clear_ooo()
        self.ack_now = False
        self.need_syn = False
        self.rtx_head = False
        if self.listener is not None:
            self.listener.connection_gone(self)
        self.report_closed(error)

    def enter_time_wait(self, now_us: int) -> None:
        """RFC 9293 §3.10.7.4: TIME-WAIT for 2×MSL; the application sees the connection closed now."""
        self.state = TIME_WAIT
        t = self.timers
        t.rto = t.tlp = t.persist = t.keepalive = t.fin_wait2 = t.delack = None
        t.time_wait = now_us + self.config.time_wait_us
        self.sendbuf.clear()
        if self.listener is not None:
            self.listener.connection_gone(self)
        self.report_closed(None)

    def fail(self, error: BaseException) -> None:
        self.enter_closed(error)

    # ============================================================================================
    # output
    # ============================================================================================

    def ts_now(self, now_us: int) -> int:
        # RFC 7323 §5.4: a 1 ms timestamp clock, offset per connection.
        return (now_us // 1000 + self.ts_offset) & _MASK32

    def window_field(self) -> int:
        """The window to advertise (RFC 9293 §3.8.6.2.2 receiver SWS avoidance, RFC 7323 §2.3 scaling);
        updates ``rcv_adv``. The right edge never moves left (RFC 9293 §3.8.6)."""
        buf = self.config.recv_buffer_bytes
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

    def maybe_window_update(self) -> None:
        """After the application read: send a window update when the window opens enough to matter
        (it was at most half the buffer and at least doubles, by at least an MSS; RFC 1122 §4.2.3.3)."""
        buf = self.config.recv_buffer_bytes
        cur = seq_diff(self.rcv_adv, self.rcv_nxt)
        if cur < 0:
            cur = 0
        free = buf - self.recvbuf.bytes
        step = min(buf >> 1, self.rcv_mss)
        if free - cur >= step and free >= 2 * cur:
            self.ack_now = True

    def make_segment(self, seq: int, flags: int, payload: Any, now_us: int) -> Segment:
        """A segment from this connection carrying the current ACK state (and options)."""
        seg = Segment(self.local_port, self.remote_port, seq, self.rcv_nxt, flags, self.window_field(), payload)
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
                seg.sack_blocks = self.sack_blocks(nblocks)
        # RFC 5681 §4.2: any segment with an ACK acknowledges all received data
        self.ack_now = False
        self.timers.delack = None
        self.rcv_unacked = 0
        self.last_ack_sent = self.rcv_nxt
        return seg

    def sack_blocks(self, limit: int) -> tuple[tuple[int, int], ...]:
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

    def queue_ack(self, now_us: int) -> None:
        """Build a pure ACK now (each duplicate/out-of-order arrival gets its own: RFC 5681 §4.2)."""
        self.out.append(self.make_segment(self.snd_max, ACK, b"", now_us))

    def challenge_ack(self, now_us: int) -> None:
        """RFC 5961 §3.2/§4.2/§5.2 challenge ACK, rate-limited per connection (RFC 5961 §7)."""
        if now_us - self.chack_window_us >= 1_000_000:
            self.chack_window_us = now_us
            self.chack_count = 0
        if self.chack_count >= self.config.challenge_ack_limit_per_s:
            self.counters.inc("challenge_acks_limited")
            return
        self.chack_count += 1
        self.counters.inc("challenge_acks")
        self.queue_ack(now_us)

    def poll_egress(self, now_us: int, max_segment_bytes: int | None = None) -> list[Segment]:
        """Segments to transmit now. ``max_segment_bytes`` > MSS allows super-segments (GSO) whose
        payload is a multiple of the MSS."""
        out = self.out
        self.out = []
        st = self.state
        if st in SENDS_DATA:
            self.output(now_us, out, max_segment_bytes)
        elif st is SYN_SENT or st is SYN_RECEIVED:
            if self.need_syn:
                self.need_syn = False
                out.append(self.syn_segment(now_us))
                if self.timers.rto is None:
                    self.timers.rto = now_us + self.rtt.rto_us
        if self.ack_now and st in SYNCHRONIZED:
            out.append(self.make_segment(self.snd_max, ACK, b"", now_us))
        if out:
            self.counters.inc("segments_out", len(out))
        return out

    def syn_segment(self, now_us: int) -> Segment:
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

    def output(self, now_us: int, out: list[Segment], max_segment_bytes: int | None) -> None:
        """Retransmissions first (fast retransmit, SACK recovery), then new data (RFC 9293 §3.8.6)."""
        if self.rtx_head:
            self.rtx_head = False
            seg = self.retransmit_at(self.snd_una, self.snd_mss, now_us)
            if seg is not None:
                out.append(seg)
                if self.sack_ok:
                    end = seq_add(seg.seq, len(seg.payload) + (1 if seg.flags & FIN else 0))
                    if seq_gt(end, self.high_rxt):
                        self.high_rxt = end
        if self.rtx_tail:
            # RFC 8985 §7.3: the probe retransmits the last segment sent
            self.rtx_tail = False
            k = seq_diff(self.snd_max, self.snd_una)
            if k > self.snd_mss:
                k = self.snd_mss
            if k > 0:
                seg = self.retransmit_at(seq_add(self.snd_max, -k), k, now_us)
                if seg is not None:
                    out.append(seg)
        cwnd = self.cc.cwnd
        if self.in_recovery and self.sack_ok:
            room = self.sack_recovery(now_us, out)
        else:
            room = cwnd + self.inflation - seq_diff(self.snd_nxt, self.snd_una)
        if self.tlp_new:
            # RFC 8985 §7.3: the probe is one new segment, even beyond cwnd
            self.tlp_new = False
            if room < self.snd_mss:
                room = self.snd_mss
        self.send_new(now_us, out, max_segment_bytes, room)

    def sack_recovery(self, now_us: int, out: list[Segment]) -> int:
        """RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS, send NextSeg(). Returns the room left for
        new data (NextSeg rule 2)."""
        sb = self.scoreboard
        mss = self.snd_mss
        cwnd = self.cc.cwnd
        while True:
            pipe = sb.pipe(self.snd_una, self.snd_max, self.high_rxt, mss)
            room = cwnd - pipe
            if room < mss:
                return room
            can_new = self.fin_seq is None and len(self.sendbuf) > seq_diff(self.snd_nxt, self.buf_seq) and (
                seq_diff(seq_add(self.snd_una, self.snd_wnd), self.snd_nxt) > 0
            )
            r = sb.next_seg(self.snd_una, self.snd_max, self.high_rxt, mss, can_new)
            if r is None:
                return room
            seq, ln = r
            seg = self.retransmit_at(seq, ln, now_us)
            if seg is None:
                return room
            out.append(seg)
            self.high_rxt = seq_add(seq, ln)

    def retransmit_at(self, seq: int, maxlen: int, now_us: int) -> Segment | None:
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
        seg = self.make_segment(seq, flags, payload, now_us)
        if self.in_recovery and seq == self.snd_una:
            self.rtx_mark = (seq, self.snd_max)
        c = self.counters.values
        c["retransmits"] = c.get("retransmits", 0) + 1
        c["retransmitted_bytes"] = c.get("retransmitted_bytes", 0) + n
        # RFC 6298 §3 / RFC 9293 §3.8.1 (Karn): no RTT sample from retransmitted data
        self.rtt_seq = None
        self.karn_blocked = True
        if seg.ts_val is not None:
            self.rtx_ts = seg.ts_val
        if self.timers.rto is None:
            self.arm_rto(now_us)
        return seg

    def send_new(self, now_us: int, out: list[Segment], max_segment_bytes: int | None, room: int) -> None:
        """Segment the send buffer from snd_nxt within the congestion and receive windows."""
        before = len(out)
        self.segmentize(now_us, out, max_segment_bytes, room)
        if len(out) != before and self.sack_ok and not self.retries and self.timers.rto is not None:
            self.arm_tlp(now_us)  # RFC 8985 §7.2: the PTO restarts when new data goes out

    def segmentize(self, now_us: int, out: list[Segment], max_segment_bytes: int | None, room: int) -> None:
        sb = self.sendbuf
        mss = self.snd_mss
        seg_max = mss
        if max_segment_bytes is not None and max_segment_bytes > mss:
            seg_max = (max_segment_bytes // mss) * mss
        tmpl: Segment | None = None
        while True:
            total = len(sb)
            nxt = self.snd_nxt
            off = seq_diff(nxt, self.buf_seq)
            avail = total - off
            if avail <= 0:
                if avail == 0 and self.fin_queued and (self.fin_seq is None or seq_le(nxt, self.fin_seq)):
                    # a bare FIN (the data went out already); it needs no window (as Linux)
                    self.emit_data(now_us, out, nxt, off, 0, ACK | FIN, None)
                return
            # already SACKed data need not be sent again after an RTO rewound snd_nxt
            if self.sack_ok and seq_lt(nxt, self.snd_max) and self.scoreboard.sacked_bytes:
                skip = self.sacked_run(nxt)
                if skip:
                    self.snd_nxt = seq_add(nxt, skip)
                    continue
            rwnd_room = seq_diff(seq_add(self.snd_una, self.snd_wnd), nxt)
            usable = room if room < rwnd_room else rwnd_room
            idle = self.snd_una == self.snd_max
            if usable <= 0:
                if rwnd_room <= 0 and idle and self.timers.persist is None and self.timers.rto is None:
                    self.arm_persist(now_us)
                return
            n = avail if avail < usable else usable
            if n > seg_max:
                n = seg_max
            elif n < mss:
                if n < avail:
                    # RFC 9293 §3.8.6.2.1 sender SWS avoidance: a window-limited small segment only
                    # if it is at least half the largest window seen, or nothing is in flight.
                    if not idle and n < (self.max_snd_wnd >> 1):
                        return
                    if idle and rwnd_room > n and n < (self.max_snd_wnd >> 1):
                        return  # limited by cwnd, not by the peer: wait for ACKs
                else:
                    if self.cork and not self.fin_queued:
                        return  # TCP_CORK: hold the partial segment
                    if self.nagle and not idle:
                        return  # RFC 9293 §3.7.4 Nagle: one small segment in flight at most
            elif n > mss and n % mss:
                n -= n % mss  # GSO super-segments are whole MSS multiples
            flags = ACK
            if off + n == total:
                flags |= PSH
                if self.fin_queued:
                    flags |= FIN
            tmpl = self.emit_data(now_us, out, nxt, off, n, flags, tmpl)
            room -= n
            if flags & FIN:
                return

    def emit_data(
        self, now_us: int, out: list[Segment], nxt: int, off: int, n: int, flags: int, tmpl: Segment | None
    ) -> Segment:
        """Emit one data (or FIN) segment from snd_nxt. ``tmpl``: an earlier segment of the same output
        pass whose ACK, window and timestamp fields can be reused (nothing changed in between)."""
        payload = self.sendbuf.view(off, n) if n else b""
        if tmpl is None or tmpl.sack_blocks:
            seg = self.make_segment(nxt, flags, payload, now_us)
        else:
            seg = Segment(self.local_port, self.remote_port, nxt, tmpl.ack, flags, tmpl.window, payload)
            seg.ts_val = tmpl.ts_val
            seg.ts_ecr = tmpl.ts_ecr
        out.append(seg)
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
        else:
            if self.snd_una == snd_max:
                self.head_sent_us = now_us
            c["bytes_out"] = c.get("bytes_out", 0) + n
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
            self.arm_rto(now_us)
        t.persist = None
        return seg

    def sacked_run(self, seq: int) -> int:
        """Bytes from ``seq`` that are SACKed (0 when ``seq`` is not)."""
        for left, right in self.scoreboard.ranges():
            if seq_le(left, seq) and seq_lt(seq, right):
                return seq_diff(right, seq)
        return 0

    # ============================================================================================
    # timers
    # ============================================================================================

    def poll_at(self) -> int | None:
        if self.out or self.ack_now or self.need_syn or self.rtx_head or self.rtx_tail or self.tlp_new:
            return self.created_us  # something is ready now (any time in the past)
        return self.timers.earliest()

    def arm_rto(self, now_us: int) -> None:
        d = now_us + self.rtt.rto_us
        ut = self.user_timeout_us
        if ut and self.snd_una != self.snd_max:
            limit = self.head_sent_us + ut
            if limit < d:
                d = limit if limit > now_us else now_us + 1
        t = self.timers
        t.rto = d
        t.tlp = None
        self.arm_tlp(now_us)

    def arm_tlp(self, now_us: int) -> None:
        """RFC 8985 §7.2: (re)arm the probe timeout after new data went out, when it beats the RTO."""
        srtt = self.rtt.srtt_us
        t = self.timers
        if (srtt is not None and self.sack_ok and not self.in_recovery and not self.tlp_out
                and self.config.tail_loss_probe and not self.retries and t.rto is not None):
            # PTO = 2*SRTT, plus the worst-case delayed ACK when one segment is in flight
            pto = 2 * srtt
            if seq_diff(self.snd_max, self.snd_una) <= self.snd_mss:
                pto += self.config.delayed_ack_us * 5
            if pto < 10_000:
                pto = 10_000
            if now_us + pto < t.rto:
                t.tlp = now_us + pto
            else:
                t.tlp = None

    def on_tlp(self, now_us: int) -> None:
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
        self.arm_rto(now_us)

    def arm_persist(self, now_us: int) -> None:
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

    def handle_timer(self, now_us: int) -> None:
        t = self.timers
        if t.rto is not None and t.rto <= now_us:
            t.rto = None
            self.on_rto(now_us)
        if t.tlp is not None and t.tlp <= now_us:
            t.tlp = None
            self.on_tlp(now_us)
        if t.delack is not None and t.delack <= now_us:
            t.delack = None
            self.ack_now = True
        if t.persist is not None and t.persist <= now_us:
            t.persist = None
            self.on_persist(now_us)
        if t.keepalive is not None and t.keepalive <= now_us:
            t.keepalive = None
            self.on_keepalive(now_us)
        if t.fin_wait2 is not None and t.fin_wait2 <= now_us:
            t.fin_wait2 = None
            if self.state is FIN_WAIT_2:
                self.counters.inc("fin_wait2_timeouts")
                self.enter_closed(None)
        if t.time_wait is not None and t.time_wait <= now_us:
            t.time_wait = None
            if self.state is TIME_WAIT:
                self.enter_closed(None)

    def on_rto(self, now_us: int) -> None:
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
        if self.retries >= cfg.max_retransmits:
            self.counters.inc("retransmit_limit")
            msg = "connection timed out"
            if self.soft_error:
                msg += f" (last ICMP error: {self.soft_error})"
            self.fail(TimeoutError(errno.ETIMEDOUT, msg))
            return
        self.retries += 1
        self.counters.inc("rto_expiries")
        flight = seq_diff(self.snd_max, self.snd_una)
        self.cc.on_rto(flight, now_us)
        self.rtt.backoff()
        # RFC 6582 §4: after an RTO, no fast retransmit until snd_una passes the data sent so far.
        self.recover = self.snd_max
        self.in_recovery = False
        self.inflation = 0
        self.dupacks = 0
        self.rtx_head = False
        self.rtx_mark = None
        self.snd_nxt = self.snd_una  # go back: resend from the first unacknowledged octet
        self.high_rxt = self.snd_una
        self.rtt_seq = None
        self.karn_blocked = True
        self.arm_rto(now_us)

    def on_persist(self, now_us: int) -> None:
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
        self.out.append(self.make_segment(seq_add(self.snd_una, -1), ACK, b"", now_us))
        if self.persist_backoff < 16:
            self.persist_backoff += 1
        self.arm_persist(now_us)

    def on_keepalive(self, now_us: int) -> None:
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
        self.out.append(self.make_segment(seq_add(self.snd_una, -1), ACK, b"", now_us))
        t.keepalive = now_us + self.keepalive_interval_us

    # ============================================================================================
    # ICMP (RFC 1122 §4.2.3.9, RFC 1191, RFC 5927)
    # ============================================================================================

    def on_icmp_error(self, kind: str, mtu: int | None = None, now_us: int | None = None) -> None:
        """An ICMP error quoting this connection. ``kind``: frag_needed (with ``mtu``: RFC 1191 lowers the
        MSS and resends), port_unreachable, protocol_unreachable, host_unreachable, net_unreachable,
        admin_prohibited, source_route_failed (hard in SYN-SENT, soft otherwise), ttl_exceeded,
        parameter_problem, source_quench (soft; RFC 6633: quench is ignored)."""
        if kind not in _ICMP_SOFT:
            self.counters.drop("icmp_unknown_kind")
            return
        self.counters.inc("icmp_errors")
        if kind == "frag_needed":
            if mtu is None or self.state is CLOSED:
                return
            new = mtu - 40  # IPv4 + TCP headers (RFC 1191 §3)
            if new < self.config.mss_floor:
                new = self.config.mss_floor  # RFC 1191 §3 / RFC 8201-like floor
            if new >= self.local_mss:
                return
            self.local_mss = new
            self.update_mss()
            self.counters.inc("pmtu_updates")
            if self.snd_una != self.snd_max and self.state in SENDS_DATA:
                # RFC 1191 §6.5: retransmit what was too big, without a congestion response
                self.snd_nxt = self.snd_una
                self.rtt_seq = None
                self.karn_blocked = True
            return
        if kind == "source_quench":
            return
        hard = _ICMP_HARD.get(kind)
        if hard is not None and self.state is SYN_SENT:
            exc_type, code = hard
            self.fail(exc_type(code, f"connection failed: ICMP {kind}"))
            return
        self.soft_error = kind  # RFC 1122 §4.2.3.9: MUST NOT abort a synchronized connection
