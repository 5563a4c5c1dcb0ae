"""CUBIC congestion control.

Read first: RFC 9438 (CUBIC for fast and long-distance networks): §4.2 the window function
W_cubic(t) = C * (t - K)**3 + W_max, §4.3 the Reno-friendly region (W_est), §4.4/4.5 concave and convex
growth towards target = W_cubic(t + RTT), §4.6 multiplicative decrease with beta_cubic = 0.7, §4.7 fast
convergence, §4.8 timeouts, §5.8 application-limited flows. Slow start, ABC and the RTO loss window are
the RFC 5681 / RFC 3465 parts shared with NewReno (``base.py``).

The RFC works in segments and seconds; here cwnd and ssthresh stay in bytes (the engine's unit) and the
cubic state (W_max, W_est, K) is in segments as floats, time in microseconds from ``now_us``. HyStart is
not implemented (optional in RFC 9438 §4.10).
"""

from __future__ import annotations

from typing import cast

from aiostack.config import TcpConfig
from aiostack.core.tcp.congestion.base import CongestionControl

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

# RFC 9438 §5.1: C = 0.4 (segments / second**3); §4.6: beta_cubic = 0.7.
C = 0.4
BETA_CUBIC = 0.7
# RFC 9438 §4.3: alpha_cubic = 3 * (1 - beta) / (1 + beta) makes CUBIC as aggressive as Reno on average.
ALPHA_CUBIC = 3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC)
# RFC 9438 §4.7: fast convergence on (SHOULD).
FAST_CONVERGENCE = True

_US = 1_000_000.0


@cython.no_gc
@cython.cclass
class Cubic(CongestionControl):
    name = "cubic"

    __slots__ = (
        "w_max",
        "cwnd_prior",
        "k_s",
        "epoch_start_us",
        "w_est",
        "alpha",
        "srtt_us",
        "_origin",
        "_frac",
        "_after_rto",
        "_app_limited_since",
    )

    def __init__(self, mss: int, config: TcpConfig, now_us: int) -> None:
        super().__init__(mss, config, now_us)
        self.w_max = 0.0  # segments; 0 = no congestion event yet
        self.cwnd_prior = 0.0  # segments, cwnd before the last reduction (RFC 9438 §4.6)
        self.k_s = 0.0  # K in seconds (RFC 9438 eq. 2)
        self.epoch_start_us: int | None = None  # start of the current congestion avoidance stage
        self.w_est = 0.0  # RFC 9438 §4.3 Reno-friendly estimate, segments
        self.alpha = ALPHA_CUBIC
        self.srtt_us = 0  # smoothed RTT from the samples the engine passes (RFC 9438: "RTT")
        self._origin = 0.0  # the plateau of the current cubic curve (W_max of this epoch), segments
        self._frac = 0.0  # fractional cwnd increase (bytes) not yet applied
        self._after_rto = False
        self._app_limited_since: int | None = None

    # --- curve ---------------------------------------------------------------------------------------
    def w_cubic(self, t_us: int) -> float:
        """RFC 9438 eq. 1: window (segments) ``t_us`` after the start of the current epoch."""
        d = t_us / _US - self.k_s
        return C * d * d * d + self._origin

    def _start_epoch(self, now_us: int) -> None:
        self.epoch_start_us = now_us
        self._app_limited_since = None
        self._frac = 0.0
        cw = self.cwnd / self.mss
        if self._after_rto or self.w_max <= cw:
            # RFC 9438 §4.8: first CA stage after a timeout: K = 0 and W_max = cwnd at the stage start.
            # RFC 9438 §4.2: likewise when cwnd already reached W_max (or no loss happened yet).
            self._after_rto = False
            self.k_s = 0.0
            self._origin = cw
        else:
            # RFC 9438 eq. 2: K = cubic_root((W_max - cwnd_epoch) / C).
            self.k_s = ((self.w_max - cw) / C) ** (1.0 / 3.0)
            self._origin = self.w_max
        # RFC 9438 §4.3: W_est = cwnd_epoch at the start of a congestion avoidance stage.
        self.w_est = cw
        self.alpha = 1.0 if cw >= self.cwnd_prior else ALPHA_CUBIC

    # --- hooks ---------------------------------------------------------------------------------------
    def _on_rtt(self, rtt_us: int | None, now_us: int) -> None:
        if rtt_us is not None and rtt_us > 0:
            s = self.srtt_us
            self.srtt_us = rtt_us if s == 0 else s + ((rtt_us - s) >> 3)

    def _on_enter_ca(self, now_us: int) -> None:
        self.epoch_start_us = None  # the next ACK in congestion avoidance starts the epoch

    def _on_app_limited(self, now_us: int) -> None:
        # RFC 9438 §5.8: no growth while application-limited, and that time is excluded from t.
        if self._app_limited_since is None and self.epoch_start_us is not None:
            self._app_limited_since = now_us

    def _ssthresh_on_loss(self, bytes_in_flight: int, now_us: int) -> int:
        # RFC 9438 §4.6: ssthresh = flight_size * beta_cubic, at least 2 segments.
        v = int(bytes_in_flight * BETA_CUBIC)
        floor = 2 * self.mss
        return v if v > floor else floor

    def _remember_w_max(self) -> None:
        cw = self.cwnd / self.mss
        # RFC 9438 §4.7 fast convergence: a loss below the previous W_max releases bandwidth.
        if FAST_CONVERGENCE and cw < self.w_max:
            self.w_max = cw * (1.0 + BETA_CUBIC) / 2.0
        else:
            self.w_max = cw
        self.cwnd_prior = cw  # RFC 9438 §4.6

    def _on_congestion_event(self, now_us: int) -> None:
        self._remember_w_max()

    def on_enter_recovery(self, bytes_in_flight: int, now_us: int) -> None:
        # the base named, not super(): compiled, these are cpdef methods (no __class__ cell)
        CongestionControl.on_enter_recovery(self, bytes_in_flight, now_us)
        self.epoch_start_us = None

    def on_rto(self, bytes_in_flight: int, now_us: int) -> None:
        CongestionControl.on_rto(self, bytes_in_flight, now_us)
        self._after_rto = True
        self.epoch_start_us = None

    def _on_mss_changed(self, old: int, new: int) -> None:
        self.epoch_start_us = None

    def _save_state(self) -> tuple[object, ...]:
        # RFC 9438 §4.9: W_max, K, the epoch and W_est before the (spurious) congestion event
        return (
            self.w_max,
            self.cwnd_prior,
            self.k_s,
            self.epoch_start_us,
            self.w_est,
            self.alpha,
            self._origin,
            self._after_rto,
        )

    def _restore_state(self, state: tuple[object, ...], now_us: int) -> None:
        w_max, cwnd_prior, k_s, epoch, w_est, alpha, origin, after_rto = cast(
            "tuple[float, float, float, int | None, float, float, float, bool]", state
        )
        self.w_max = w_max
        self.cwnd_prior = cwnd_prior
        self.k_s = k_s
        self.epoch_start_us = epoch
        self.w_est = w_est
        self.alpha = alpha
        self._origin = origin
        self._after_rto = after_rto
        self._app_limited_since = None

    def _congestion_avoidance(self, acked_bytes: int, now_us: int) -> None:
        start = self.epoch_start_us
        if start is None:
            self._start_epoch(now_us)
            start = now_us
        elif self._app_limited_since is not None:
            # RFC 9438 §5.8: shift the epoch by the application-limited period.
            start += now_us - self._app_limited_since
            if start > now_us:
                start = now_us
            self.epoch_start_us = start
            self._app_limited_since = None
        mss = self.mss
        cwnd = self.cwnd
        cw = cwnd / mss
        acked_segs = acked_bytes / mss
        # RFC 9438 §4.3: W_est grows by alpha_cubic segments per window acknowledged.
        w_est = self.w_est + self.alpha * acked_segs / cw
        if self.alpha != 1.0 and w_est >= self.cwnd_prior:
            self.alpha = 1.0
        self.w_est = w_est
        t = now_us - start
        if self.w_cubic(t) < w_est:
            # RFC 9438 §4.3: Reno-friendly region: cwnd = W_est.
            new = int(w_est * mss)
            if new > cwnd:
                self.cwnd = new
            return
        # RFC 9438 §4.4/4.5: target = W_cubic(t + RTT), clamped to [cwnd, 1.5 * cwnd];
        # cwnd += (target - cwnd) / cwnd per acknowledged segment.
        target = self.w_cubic(t + self.srtt_us)
        if target <= cw:
            return
        if target > 1.5 * cw:
            target = 1.5 * cw
        frac = self._frac + (target - cw) * acked_bytes / cw
        if frac >= 1.0:
            inc = int(frac)
            self.cwnd = cwnd + inc
            frac -= inc
        self._frac = frac

    def __repr__(self) -> str:
        return (
            f"Cubic(cwnd={self.cwnd}, ssthresh={self.ssthresh}, mss={self.mss}, w_max={self.w_max:.2f}, "
            f"k_s={self.k_s:.3f})"
        )
