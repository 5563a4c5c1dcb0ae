"""One TCP connection as a sans-I/O engine: user calls, received segments and timers in; segments out.

Read first: RFC 9293 (§3.3 states, §3.4 sequence numbers, §3.7 segmentation and Nagle, §3.8 timers and
windows, §3.10 event processing), RFC 6298 (RTO), RFC 5681 / RFC 6582 (congestion control, NewReno),
RFC 6675 (SACK-based recovery), RFC 6937 (PRR), RFC 8985 (tail loss probe, time-order loss detection),
RFC 7323 (window scale, timestamps, PAWS), RFC 2018 / RFC 2883 (SACK, D-SACK), RFC 5961 (challenge
ACKs), RFC 1122 §4.2.3.6 (keep-alive), RFC 6528 (ISN).

Layout of the engine (``aiostack/core/tcp``): this module holds the state, opening, the user API,
events and observability; ``input.py`` processes arriving segments (RFC 9293 §3.10.7); ``output.py``
builds segments (ACK generation, segmentation, retransmission); ``timeouts.py`` runs the timers (RTO,
TLP, persist, keep-alive, TIME-WAIT); ``sendbuf``/``recvbuf`` hold the bytes; ``rtt``, ``congestion`` and
``scoreboard`` are the RTO estimator, congestion controllers and SACK scoreboard.

Sequence numbers are compared only through ``aiostack.fastpath`` ``seq_*`` helpers.
"""

from __future__ import annotations

import errno
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

from aiostack.config import TcpConfig
from aiostack.core.tcp import congestion
from aiostack.core.tcp import input as _input
from aiostack.core.tcp import output as _output
from aiostack.core.tcp import timeouts as _timeouts
from aiostack.core.tcp.events import (
    Closed,
    Connected,
    DataReceived,
    TcpEvent,
)
from aiostack.core.tcp.isn import isn_and_ts_offset
from aiostack.core.tcp.recvbuf import ReceiveBuffer
from aiostack.core.tcp.rtt import RttEstimator
from aiostack.core.tcp.scoreboard import SackScoreboard
from aiostack.core.tcp.segment import TS_OPTION_LEN, Segment
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
from aiostack.fastpath import seq_add, seq_diff
from aiostack.stats import TcpCounters
from aiostack.wire.tcp import RST

if TYPE_CHECKING:
    from aiostack.core.tcp.listener import TcpListener

# RFC 7323 §2.3: the shift count is at most 14.
MAX_WSCALE = 14
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
_EMPTY: Any = ()  # stands for an empty list until the first item (see out, events)


def _appended(items: list[Any], item: Any) -> list[Any]:
    """``items`` with ``item`` appended; a new list when ``items`` is empty (possibly ``_EMPTY``)."""
    if items:
        items.append(item)
        return items
    return [item]


def choose_wscale(recv_buffer_bytes: int) -> int:
    """RFC 7323 §2.2: the smallest shift that lets the 16-bit field cover the receive buffer, <= 14."""
    shift = 0
    while shift < MAX_WSCALE and (recv_buffer_bytes >> shift) > 0xFFFF:
        shift += 1
    return shift


# Compiled, out of the cyclic GC (its ~125 fields made each connection the costliest object of a full
# collection). Nothing a connection references may lead back to it: the listener is held weakly, the
# errors it makes are never raised by it (the application gets copies), the rest are numbers, bytes,
# events, segments and no_gc helpers. See docs/ARCHITECTURE.md ("Compiled code").
@cython.no_gc
@cython.cclass
class TcpConnection:
    """A TCP endpoint for one 4-tuple. See ``docs/ARCHITECTURE.md`` ("TCP engine") for the verbs."""

    # No per-instance __dict__: 10,000 idle connections must stay small (issue: idle connections).
    __slots__ = (
        "ack_now", "buf_seq", "cc", "chack_count", "chack_window_us", "close_after_open", "closed_reported",
        "_config", "cfg_recv_buffer", "cfg_delack_us", "cfg_delack_segments", "cfg_tlp", "cork", "counters",
        "created_us", "dsack", "dupacks", "dupthresh", "eifel_ts", "error", "fin_queued", "fin_rcvd", "fin_seq",
        "first_partial", "head_sent_us", "high_rxt", "in_recovery", "inflation", "irs", "isn_secret", "iss",
        "ka_probes", "karn_blocked", "keepalive", "keepalive_count", "keepalive_idle_us",
        "keepalive_interval_us", "last_ack_sent", "last_rx_us", "last_send_us", "local_ip", "local_mss",
        "local_port", "max_snd_wnd", "nagle", "need_syn", "ooo_fin", "out", "passive", "peer_mss",
        "persist_backoff", "persist_start_us", "prior_cwnd", "prior_ssthresh", "probes_out", "prr_delivered",
        "prr_last_delivered", "prr_out", "rack_scan_us", "rcv_adv", "rcv_mss", "rcv_nxt", "rcv_unacked",
        "rcv_wscale", "read_closed", "recover", "recover_fs", "recovery_us", "recvbuf", "reduction_us",
        "remote_ip", "remote_port", "retries", "rto_eifel_pending", "rto_eifel_ts", "rto_prior", "rtt",
        "rtt_seq", "rtt_time", "rtx_again_bytes", "rtx_head", "rtx_tail", "rtx_ts", "sack_ok", "_scoreboard",
        "sendbuf", "shutdown_after_open", "snd_max", "snd_mss", "snd_nxt", "snd_una", "snd_wl1", "snd_wl2",
        "snd_wnd", "snd_wscale", "soft_error", "state", "syn_reuse", "syn_sent_us", "tail_end", "tail_lost",
        "timers", "tlp_new", "tlp_out", "ts_offset", "ts_ok", "ts_recent", "ts_recent_us", "undo_bytes",
        "undo_end", "undo_start", "user_timeout_us", "writable_armed", "write_low_water", "ws_ok",
        "listener_ref", "events", "_rtx_list", "_rtx_again", "__weakref__",
    )

    # The engine's work lives in modules by concern. Bound here as methods: the public verbs, and the
    # helper ``timeouts`` calls (``timeouts`` cannot import ``output``, which imports it).
    # The engine modules call each other's functions directly (compiled: C calls).
    receive_segment = _input.segment_arrives
    poll_egress = _output.poll_egress
    poll_at = _timeouts.poll_at
    handle_timer = _timeouts.handle_timer
    make_segment = _output.make_segment

    @property
    def config(self) -> TcpConfig:
        """The connection's tunables. Set it to change them (``dataclasses.replace``): the four the
        per-segment path reads are copied into fields of their own (no look-up on the config per segment)."""
        return self._config

    @config.setter
    def config(self, cfg: TcpConfig) -> None:
        self._config = cfg
        self.cfg_recv_buffer = cfg.recv_buffer_bytes
        self.cfg_delack_us = cfg.delayed_ack_us
        self.cfg_delack_segments = cfg.delayed_ack_segments
        self.cfg_tlp = cfg.tail_loss_probe

    @property
    def listener(self) -> TcpListener | None:
        """The listener whose queues hold this connection (SYN-RECEIVED, or ESTABLISHED and not accepted
        yet), else None."""
        ref = self.listener_ref
        return ref() if ref is not None else None

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
        self.counters = TcpCounters("tcp")
        self.state: State = CLOSED
        # weakref.ref to the listener while the connection waits in its queues, else None. Weak: the
        # connection is out of the cyclic GC (see above the class), so it must not close a cycle.
        self.listener_ref: weakref.ref[TcpListener] | None = None
        self.passive = False
        self.created_us = now_us
        # --- MSS (RFC 9293 §3.7.1, RFC 6691) -------------------------------------------------------
        self.local_mss = max(int(mss), cfg.mss_floor)
        self.peer_mss = DEFAULT_PEER_MSS
        self.snd_mss = min(self.local_mss, DEFAULT_PEER_MSS)  # payload bytes per full data segment
        self.rcv_mss = min(self.local_mss, DEFAULT_PEER_MSS)  # estimate of the peer's segment size
        # --- send sequence space (RFC 9293 §3.3.1) -------------------------------------------------
        self.isn_secret = isn_secret
        # RFC 6528 §3 ISN and RFC 7323 §5.4 timestamp offset, from one keyed hash of the 4-tuple
        iss, ts_offset = isn_and_ts_offset(isn_secret, local_ip, local_port, remote_ip, remote_port, now_us)
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
        self.ts_offset = ts_offset
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
        self._scoreboard: SackScoreboard | None = None  # created on first use (most ACKs carry no SACK)
        self.in_recovery = False
        self.recover = iss  # RFC 6582: initialised to the ISS
        self.dupacks = 0
        self.inflation = 0  # RFC 5681 §3.2 NewReno cwnd inflation, kept apart from the controller's cwnd
        self.high_rxt = iss  # RFC 6675 HighRxt + 1
        self.rtx_head = False  # retransmit the segment at snd_una on the next output
        # (seq, end, sent_us, kind) of the segments sent during recovery, in send order; kind: NEW_DATA,
        # FIRST_RTX (its original may still arrive) or AGAIN_RTX (an earlier copy may still arrive)
        self._rtx_list: deque[tuple[int, int, int, int]] | None = None  # created on first use
        self.recovery_us = 0  # when the current recovery began
        # retransmissions found lost: send them again (created on first use)
        self._rtx_again: deque[tuple[int, int]] | None = None
        self.rtx_again_bytes = 0
        self.rack_scan_us = 0
        self.reduction_us = 0  # when the window was last reduced in this recovery
        self.dupthresh = DUPTHRESH  # raised when D-SACKs reveal reordering
        self.prior_cwnd = 0
        self.prior_ssthresh = 0
        self.undo_start = iss
        self.undo_end = iss
        self.undo_bytes = 0  # bytes retransmitted in the episode not yet reported as duplicates
        self.eifel_ts: int | None = None  # TSval of the episode's first retransmission (RFC 3522)
        self.rto_prior = (0, 0)  # (cwnd, ssthresh) before the first RTO of a series
        self.rto_eifel_pending = False
        self.rto_eifel_ts: int | None = None  # TSval of the first retransmission after that RTO
        self.tail_lost = False  # RACK-style: the unSACKed data sent before recovery is lost
        self.tail_end = iss  # SND.MAX when recovery began: the end of that data
        self.recover_fs = 0  # RFC 6937 RecoverFS
        self.prr_delivered = 0
        self.prr_out = 0
        self.prr_last_delivered = 0
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
        self.last_send_us: int | None = None  # last transmission of data (RFC 5681 §4.1 idle restart)
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
        # Segments built outside poll_egress (RSTs, immediate ACKs) and the event queue (DataReceived
        # coalesces): the shared empty tuple until the first one, again once taken (an idle connection then
        # holds no list for the cyclic GC to walk).
        self.out: list[Segment] = _EMPTY
        self.events: list[TcpEvent] = _EMPTY
        self.closed_reported = False
        self.error: BaseException | None = None
        self.soft_error: str | None = None
        self.syn_reuse = False  # TIME-WAIT ended by a new SYN: the host hands that SYN to its listener
        self.close_after_open = False  # close() during the handshake
        self.shutdown_after_open = False

    @property
    def scoreboard(self) -> SackScoreboard:
        """The SACK scoreboard (RFC 6675), created on first use."""
        b = self._scoreboard
        if b is None:
            b = self._scoreboard = SackScoreboard()
        return b

    @property
    def sacked_bytes(self) -> int:
        """Bytes the peer SACKed above SND.UNA (0 without a scoreboard: read without creating one)."""
        b = self._scoreboard
        return b.sacked_bytes if b is not None else 0

    @property
    def rtx_list(self) -> deque[tuple[int, int, int, int]]:
        """Segments sent during recovery, in send order (created on first use: most connections never
        enter recovery, and an empty deque costs 760 bytes)."""
        d = self._rtx_list
        if d is None:
            d = self._rtx_list = deque()
        return d

    @property
    def rtx_again(self) -> deque[tuple[int, int]]:
        """Retransmissions found lost, to send once more (created on first use)."""
        d = self._rtx_again
        if d is None:
            d = self._rtx_again = deque()
        return d

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
        _input.syn_text(self, seg)  # RFC 9293 §3.10.7.2: text on the SYN is queued

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
        self.push_event(Connected())
        listener = self.listener
        if listener is not None:
            listener.connection_established(self)
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

    def writable(self) -> bool:
        """Whether a blocked writer should be given room now: the send buffer's free space is at least
        half of what it holds (Linux sk_stream_is_writeable). Waking the writer for every freed segment
        would refill the buffer a segment at a time; this lets each refill move a third of the buffer."""
        sb = self.sendbuf
        queued = sb.end - sb.base
        return sb.capacity - queued >= queued >> 1

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

    def maybe_window_update(self) -> None:
        """After the application read: send a window update when the window opens enough to matter
        (it was at most half the buffer and at least doubles, by at least an MSS; RFC 1122 §4.2.3.3)."""
        buf = self.cfg_recv_buffer
        cur = seq_diff(self.rcv_adv, self.rcv_nxt)
        if cur < 0:
            cur = 0
        free = buf - self.recvbuf.bytes
        step = min(buf >> 1, self.rcv_mss)
        if free - cur >= step and free >= 2 * cur:
            self.ack_now = True

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
            self.push_out(Segment(self.local_port, self.remote_port, self.snd_nxt, 0, RST, 0))
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
            "sacked_bytes": self.sacked_bytes,
            "in_recovery": self.in_recovery,
            "retransmits_in_a_row": self.retries,
            "dupacks": self.dupacks,
            "dupthresh": self.dupthresh,
            "recover": self.recover,
            "prr_delivered": self.prr_delivered,
            "prr_out": self.prr_out,
            "lost_retransmission_bytes": self.rtx_again_bytes,
            "tail_lost": self.tail_lost,
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

    def push_out(self, seg: Segment) -> None:
        """Queue a segment for the next ``poll_egress``."""
        self.out = _appended(self.out, seg)

    def take_out(self) -> list[Segment]:
        """The queued segments (a new list when none), leaving the queue empty."""
        out = self.out
        if out:
            self.out = _EMPTY
            return out
        return []

    def push_event(self, event: TcpEvent) -> None:
        self.events = _appended(self.events, event)

    def next_event(self) -> TcpEvent | None:
        ev = self.events
        if not ev:
            return None
        event = ev.pop(0)
        if not ev:
            self.events = _EMPTY
        return event

    def has_events(self) -> bool:
        return bool(self.events)

    def data_event(self, n: int) -> None:
        ev = self.events
        if ev:
            last = ev[-1]
            if type(last) is DataReceived:
                last.nbytes += n
                return
        self.push_event(DataReceived(n))

    def report_closed(self, error: BaseException | None) -> None:
        if not self.closed_reported:
            self.closed_reported = True
            self.error = error
            self.push_event(Closed(error))

    def enter_closed(self, error: BaseException | None) -> None:
        """Go to CLOSED, dropping buffers and timers; report Closed once."""
        self.state = CLOSED
        self.timers.clear()
        self.sendbuf.clear()
        self.recvbuf.clear_ooo()
        self.ack_now = False
        self.need_syn = False
        self.rtx_head = False
        listener = self.listener
        if listener is not None:
            listener.connection_gone(self)
        self.report_closed(error)

    def enter_time_wait(self, now_us: int) -> None:
        """RFC 9293 §3.10.7.4: TIME-WAIT for 2×MSL; the application sees the connection closed now."""
        self.state = TIME_WAIT
        t = self.timers
        t.rto = t.tlp = t.persist = t.keepalive = t.fin_wait2 = t.delack = None
        t.time_wait = now_us + self.config.time_wait_us
        self.sendbuf.clear()
        listener = self.listener
        if listener is not None:
            listener.connection_gone(self)
        self.report_closed(None)

    def fail(self, error: BaseException) -> None:
        self.enter_closed(error)

    def ts_now(self, now_us: int) -> int:
        # RFC 7323 §5.4: a 1 ms timestamp clock, offset per connection (compiled: C integers).
        now = now_us
        offset = self.ts_offset
        return (now // 1000 + offset) & 0xFFFFFFFF  # a literal: a C constant when compiled

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
