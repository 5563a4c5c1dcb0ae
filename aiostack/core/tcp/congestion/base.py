"""Congestion control: the interface every algorithm implements, with the RFC 5681 common parts.

Read first: RFC 5681 (slow start, congestion avoidance, ssthresh on loss, §4.1 restart after idle),
RFC 3465 (Appropriate Byte Counting, L = 2*SMSS), RFC 6928 (initial window of 10 segments), RFC 6582
(NewReno recovery, §3.2 step 3 on leaving recovery), RFC 7661 §4.3 / RFC 9438 §5.8 (do not grow cwnd
while the sender is not using it), RFC 9406 (HyStart++ in the initial slow start, ``hystart.py``).

Windows are int byte counts (``cwnd``, ``ssthresh``; compiled, the engine's window arithmetic on them
is in C integers). The engine calls (all cheap, they run per ACK):

- ``on_ack(acked_bytes, bytes_in_flight, rtt_us, now_us)`` for new data cumulatively acknowledged
  outside loss recovery. ``bytes_in_flight`` is the flight *after* this ACK was applied; ``rtt_us`` is
  the sample the ACK gave, or None.
- ``on_enter_recovery(bytes_in_flight, now_us)`` when fast retransmit starts (three duplicate ACKs or a
  SACK-detected loss); ``bytes_in_flight`` is FlightSize at that moment. Sets ssthresh and cwnd.
- ``on_exit_recovery(now_us)`` when the ACK covering the recovery point arrives.
- ``on_rto(bytes_in_flight, now_us)`` when the retransmission timer expires.
- ``on_idle_restart(now_us)`` optionally, before sending after an idle period longer than the RTO.
- ``on_spurious_congestion(now_us)`` when the last reduction proved spurious (RFC 3708 D-SACK, RFC 5682
  F-RTO, RFC 4015 Eifel): the state before it comes back (RFC 9438 §4.9); False if nothing to undo.
- ``set_mss(mss)`` when the effective MSS changes (handshake, PMTU).
"""

from __future__ import annotations

from aiostack.config import TcpConfig
from aiostack.core.tcp.congestion.hystart import CSS_GROWTH_DIVISOR, EXIT, HyStartPlusPlus

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

# RFC 5681 §3.1: ssthresh "MAY be arbitrarily high" initially; 2**31 - 1 bytes stands for infinity.
SSTHRESH_INFINITE = 2**31 - 1


@cython.no_gc
@cython.cclass
class CongestionControl:
    """Base class: slow start with ABC and the RFC 5681 loss responses; subclasses override
    ``_congestion_avoidance`` and ``_ssthresh_on_loss`` (and may hook the events)."""

    name = "base"
    # RFC 9406: HyStart++ during the initial slow start (it needs RTT samples with the ACKs).
    use_hystart = True

    __slots__ = (
        "hystart",
        "mss",
        "cwnd",
        "ssthresh",
        "initial_window",
        "in_recovery",
        "_ca_acked",
        "_abc_limit",
        "_rto_streak",
        "_iw_segments",
        "_undo",
    )

    def __init__(self, mss: int, config: TcpConfig, now_us: int) -> None:
        if mss <= 0:
            raise ValueError(f"mss must be positive, got {mss}")
        self.mss = mss
        self._iw_segments = max(1, config.initial_window_segments)
        # RFC 6928 §2: IW = 10 segments (configurable; the byte cap of RFC 6928 is not applied, as on
        # Linux, which counts the initial window in segments).
        self.initial_window = self._iw_segments * mss
        self.cwnd = self.initial_window
        self.ssthresh = SSTHRESH_INFINITE
        self.in_recovery = False
        self._ca_acked = 0  # RFC 3465 §2.1: bytes acknowledged since the last 1-MSS increase in CA
        self._abc_limit = 2 * mss  # RFC 3465 §2.2: L = 2*SMSS
        self._rto_streak = 0  # consecutive RTOs without an ACK of new data in between
        self.hystart: HyStartPlusPlus | None = HyStartPlusPlus() if self.use_hystart else None
        self._undo: tuple[int, int, tuple[object, ...]] | None = None  # state before the episode's cut

    # --- queries -------------------------------------------------------------------------------------
    @property
    def in_slow_start(self) -> bool:
        return self.cwnd < self.ssthresh

    def is_cwnd_limited(self, flight_before_ack: int) -> bool:
        """Was the sender using its window (RFC 7661 §4.3, RFC 9438 §5.8)?

        In slow start, growth is allowed while at least half the window is in use (as Linux
        ``tcp_is_cwnd_limited``); in congestion avoidance the flight must have been within one MSS of
        cwnd, since the sender segments at MSS boundaries.
        """
        cwnd = self.cwnd
        if cwnd < self.ssthresh:
            return 2 * flight_before_ack >= cwnd
        return flight_before_ack + self.mss > cwnd

    # --- events --------------------------------------------------------------------------------------
    def on_ack(self, acked_bytes: int, bytes_in_flight: int, rtt_us: int | None, now_us: int) -> None:
        if acked_bytes <= 0:
            return
        self._rto_streak = 0
        self._on_rtt(rtt_us, now_us)
        if not self.is_cwnd_limited(bytes_in_flight + acked_bytes):
            self._on_app_limited(now_us)
            return
        cwnd = self.cwnd
        ssthresh = self.ssthresh
        if cwnd < ssthresh:
            # RFC 5681 §3.1 slow start with RFC 3465 §2.2 ABC: cwnd += min(N, L) per ACK. Bytes past
            # ssthresh spill over into congestion avoidance (as Linux tcp_slow_start does).
            limit = self._abc_limit
            inc = acked_bytes if acked_bytes < limit else limit
            hs = self.hystart
            if hs is not None:
                r = hs.on_ack(acked_bytes, bytes_in_flight, rtt_us)
                if r == CSS_GROWTH_DIVISOR:
                    inc //= CSS_GROWTH_DIVISOR  # RFC 9406 §4.2: Conservative Slow Start
                elif r == EXIT:
                    # RFC 9406 §4.2: after CSS_ROUNDS rounds of CSS, ssthresh = cwnd: avoidance
                    self.hystart = None
                    self.ssthresh = cwnd
                    self._on_enter_ca(now_us)
                    self._congestion_avoidance(acked_bytes, now_us)
                    return
            if cwnd + inc <= ssthresh:
                self.cwnd = cwnd + inc
                return
            self.cwnd = ssthresh
            acked_bytes -= ssthresh - cwnd
            self._abc_limit = 2 * self.mss  # RFC 3465 §2.3: L = 1*SMSS only for slow start after an RTO
            self._on_enter_ca(now_us)
            if acked_bytes <= 0:
                return
        self._congestion_avoidance(acked_bytes, now_us)

    def on_enter_recovery(self, bytes_in_flight: int, now_us: int) -> None:
        """Fast retransmit (RFC 5681 §3.2 step 2 / RFC 6582 §3.2 step 2 / RFC 6675 §5 step 4.2)."""
        if not self.in_recovery:
            self._undo = (self.cwnd, self.ssthresh, self._save_state())  # a new episode begins
        self._on_congestion_event(now_us)
        self.ssthresh = self._ssthresh_on_loss(bytes_in_flight, now_us)
        self.cwnd = self.ssthresh
        self._ca_acked = 0
        self.in_recovery = True
        self.hystart = None  # RFC 9406 §4.4: only the initial slow start

    def on_exit_recovery(self, now_us: int) -> None:
        """RFC 6582 §3.2 step 3 (full acknowledgment), option 2: set cwnd to ssthresh (deflate)."""
        self.in_recovery = False
        if self.cwnd != self.ssthresh and self.ssthresh != SSTHRESH_INFINITE:
            self.cwnd = self.ssthresh
        self._ca_acked = 0
        self._on_enter_ca(now_us)

    def on_rto(self, bytes_in_flight: int, now_us: int) -> None:
        """RFC 5681 §3.1 eq. 4 and "loss window": cwnd = 1 SMSS after the retransmission timer fires."""
        if self._rto_streak == 0:
            if not self.in_recovery:
                self._undo = (self.cwnd, self.ssthresh, self._save_state())
            self._on_congestion_event(now_us)
            # RFC 5681 §3.1: when the segment was already retransmitted by the timer, ssthresh is held
            # constant (only the first expiry of a streak recomputes it).
            self.ssthresh = self._ssthresh_on_loss(bytes_in_flight, now_us)
        self._rto_streak += 1
        self.hystart = None  # RFC 9406 §4.4: not for slow start after a timeout
        self.cwnd = self.mss
        self._ca_acked = 0
        self.in_recovery = False
        # RFC 3465 §2.3: L = 1*SMSS during slow start following an RTO.
        self._abc_limit = self.mss

    def on_spurious_congestion(self, now_us: int) -> bool:
        """Undo the last congestion episode's reduction (RFC 9438 §4.9; as Linux
        tcp_undo_cwnd_reduction: cwnd and ssthresh never end lower than they are now)."""
        saved = self._undo
        if saved is None:
            return False
        self._undo = None
        cwnd, ssthresh, extra = saved
        if cwnd > self.cwnd:
            self.cwnd = cwnd
        if ssthresh > self.ssthresh or self.ssthresh == SSTHRESH_INFINITE:
            self.ssthresh = ssthresh
        self.in_recovery = False
        self._rto_streak = 0
        self._ca_acked = 0
        self._abc_limit = 2 * self.mss
        self._restore_state(extra, now_us)
        return True

    def on_idle_restart(self, now_us: int) -> None:
        """RFC 5681 §4.1: after an idle period longer than the RTO, cwnd = min(cwnd, RW = IW)."""
        if self.cwnd > self.initial_window:
            self.cwnd = self.initial_window
        self._on_enter_ca(now_us)

    def set_mss(self, mss: int) -> None:
        """The effective MSS changed: keep cwnd and ssthresh in segments (as Linux counts them)."""
        if mss <= 0:
            raise ValueError(f"mss must be positive, got {mss}")
        old = self.mss
        if mss == old:
            return
        self._undo = None
        self.mss = mss
        self.initial_window = self._iw_segments * mss
        segs = self.cwnd // old
        self.cwnd = (segs if segs > 1 else 1) * mss
        if self.ssthresh != SSTHRESH_INFINITE:
            segs = self.ssthresh // old
            self.ssthresh = (segs if segs > 2 else 2) * mss
        self._abc_limit = (self._abc_limit // old) * mss
        self._ca_acked = 0
        self._on_mss_changed(old, mss)

    # --- hooks for subclasses ------------------------------------------------------------------------
    def _ssthresh_on_loss(self, bytes_in_flight: int, now_us: int) -> int:
        # RFC 5681 §3.1 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS).
        half = bytes_in_flight // 2
        floor = 2 * self.mss
        return half if half > floor else floor

    def _congestion_avoidance(self, acked_bytes: int, now_us: int) -> None:
        # RFC 5681 §3.1 with RFC 3465 §2.1 byte counting: +1 SMSS per cwnd bytes acknowledged.
        acc = self._ca_acked + acked_bytes
        cwnd = self.cwnd
        if acc >= cwnd:
            acc -= cwnd
            cwnd += self.mss
            if acc >= cwnd:  # a huge stretch ACK: do not carry more than one window over
                acc = 0
            self.cwnd = cwnd
        self._ca_acked = acc

    def _on_rtt(self, rtt_us: int | None, now_us: int) -> None:
        """A new ACK (with its RTT sample or None); CUBIC keeps an RTT estimate."""

    def _on_enter_ca(self, now_us: int) -> None:
        """Congestion avoidance (re)starts; CUBIC resets its epoch here."""

    def _on_app_limited(self, now_us: int) -> None:
        """An ACK arrived while the sender was not using its window."""

    def _on_mss_changed(self, old: int, new: int) -> None:
        """Hook: MSS changed (bytes-based state already rescaled)."""

    def _on_congestion_event(self, now_us: int) -> None:
        """Hook: a loss response is about to cut the window (cwnd still holds its value before)."""

    def _save_state(self) -> tuple[object, ...]:
        """Hook: algorithm state to keep for an undo (RFC 9438 §4.9)."""
        return ()

    def _restore_state(self, state: tuple[object, ...], now_us: int) -> None:
        """Hook: put back what ``_save_state`` returned."""

    def __repr__(self) -> str:
        ss = "inf" if self.ssthresh == SSTHRESH_INFINITE else str(self.ssthresh)
        return f"{type(self).__name__}(cwnd={self.cwnd}, ssthresh={ss}, mss={self.mss})"
