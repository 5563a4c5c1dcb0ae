"""Round-trip time estimation and the retransmission timeout.

Read first: RFC 6298 (computing TCP's retransmission timer), RFC 7323 appendix G (RTO with timestamps:
many samples per RTT), RFC 9293 §3.8.1 (Karn's rule: no samples from retransmitted segments without
timestamps; that rule is the caller's, this module only takes samples).

All times are int microseconds. The estimator keeps integer state (SRTT, RTTVAR) and an ``rto_us``
attribute that already includes the current exponential backoff, so the engine reads one field when it
arms the retransmission timer.
"""

from __future__ import annotations

from aiostack.config import SECOND, TcpConfig

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

# RFC 6298 §2: alpha = 1/8, beta = 1/4, K = 4 (as integer divisors / multiplier).
ALPHA_DIV = 8
BETA_DIV = 4
K = 4
# RFC 6298 §2.4 (clock granularity G): our clock has microsecond resolution, but the driver's timer fires
# with roughly millisecond precision, so 1 ms is the honest G.
CLOCK_GRANULARITY_US = 1_000
# RFC 6298 §5.7: after a lost SYN or SYN-ACK, the RTO for data falls back to 3 s if still unmeasured.
SYN_FALLBACK_RTO_US = 3 * SECOND
# Exponent bound for backoff: 2**20 times any sane RTO exceeds every useful rto_max.
_MAX_BACKOFF_SHIFT = 20


@cython.no_gc
@cython.cclass
class RttEstimator:
    """RFC 6298 SRTT / RTTVAR / RTO with exponential backoff (§5.5) and clamping to [min, max]."""

    __slots__ = (
        "srtt_us",
        "rttvar_us",
        "rto_us",
        "base_rto_us",
        "backoff_shift",
        "latest_rtt_us",
        "min_rtt_us",
        "samples",
        "_min_us",
        "_max_us",
    )

    def __init__(self, config: TcpConfig) -> None:
        self._min_us = config.rto_min_us
        self._max_us = config.rto_max_us
        if self._min_us <= 0 or self._max_us < self._min_us:
            raise ValueError(f"bad RTO bounds: min {self._min_us} us, max {self._max_us} us")
        self.srtt_us: int | None = None
        self.rttvar_us = 0
        # RFC 6298 §2.1: until a sample arrives the RTO is the initial value (1 s by default).
        self.base_rto_us = self._clamp(config.rto_initial_us)
        self.backoff_shift = 0
        self.rto_us = self.base_rto_us
        self.latest_rtt_us: int | None = None
        self.min_rtt_us: int | None = None
        self.samples = 0

    def _clamp(self, rto: int) -> int:
        # RFC 6298 §2.4: below the minimum round up (RFC says 1 s; configurable, Linux uses 200 ms);
        # §2.5: a maximum may be placed on the value provided it is at least 60 s.
        if rto < self._min_us:
            return self._min_us
        if rto > self._max_us:
            return self._max_us
        return rto

    def on_sample(self, rtt_us: int, expected_samples: int = 1) -> None:
        """Take one RTT measurement (microseconds).

        ``expected_samples`` is RFC 7323 appendix G's ExpectedSamples = ceil(FlightSize / (SMSS * 2)) when
        samples come from timestamps on every ACK; it divides alpha and beta so that one RTT's worth of
        samples moves the estimate as much as one classic sample does. 1 = plain RFC 6298.
        """
        if rtt_us < 0:
            return  # a clock going backwards gives no information
        if rtt_us == 0:
            rtt_us = 1
        self.latest_rtt_us = rtt_us
        if self.min_rtt_us is None or rtt_us < self.min_rtt_us:
            self.min_rtt_us = rtt_us
        self.samples += 1
        # (compiled: the arithmetic below in C integers, see rtt.pxd; only the stored results become objects)
        r = rtt_us
        n = expected_samples if expected_samples > 1 else 1
        old = self.srtt_us
        if old is None:
            # RFC 6298 §2.2: first measurement R: SRTT <- R, RTTVAR <- R/2.
            srtt = r
            rttvar = r // 2
        else:
            # RFC 6298 §2.3: RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'| (with the *old* SRTT),
            # then SRTT <- (1 - alpha) * SRTT + alpha * R'. RFC 7323 app. G: alpha' = alpha / n, etc.
            srtt = old
            prev_var = self.rttvar_us
            err = srtt - r
            if err < 0:
                err = -err
            bdiv = BETA_DIV
            bdiv *= n
            adiv = ALPHA_DIV
            adiv *= n
            rttvar = ((bdiv - 1) * prev_var + err) // bdiv
            srtt = ((adiv - 1) * srtt + r) // adiv
        self.srtt_us = srtt
        self.rttvar_us = rttvar
        # RFC 6298 §2.2/2.3: RTO <- SRTT + max(G, K * RTTVAR), then §2.4/2.5 clamping.
        var = K
        var *= rttvar
        granularity = CLOCK_GRANULARITY_US
        self.base_rto_us = self._clamp(srtt + (var if var > granularity else granularity))
        # RFC 6298 §5.7 note: a new sample after backoff means the path answers again; the backed-off
        # RTO is replaced by the freshly computed one.
        self.backoff_shift = 0
        self.rto_us = self.base_rto_us

    def backoff(self) -> None:
        """RFC 6298 §5.5: the retransmission timer expired; double the RTO (capped at the maximum)."""
        if self.rto_us >= self._max_us:
            self.rto_us = self._max_us
            return
        if self.backoff_shift < _MAX_BACKOFF_SHIFT:
            self.backoff_shift += 1
        rto = self.base_rto_us << self.backoff_shift
        self.rto_us = rto if rto < self._max_us else self._max_us

    def reset_backoff(self) -> None:
        """Forget the backoff (e.g. new data acknowledged without a usable sample)."""
        self.backoff_shift = 0
        self.rto_us = self.base_rto_us

    def on_handshake_retransmitted(self) -> None:
        """RFC 6298 §5.7: the SYN (or SYN-ACK) timed out and no RTT was measured yet: when data
        transmission begins the RTO must be (re)initialised to 3 s if it is below that."""
        if self.srtt_us is None and self.base_rto_us < SYN_FALLBACK_RTO_US:
            self.base_rto_us = self._clamp(SYN_FALLBACK_RTO_US)
            self.backoff_shift = 0
            self.rto_us = self.base_rto_us

    def __repr__(self) -> str:
        return (
            f"RttEstimator(srtt_us={self.srtt_us}, rttvar_us={self.rttvar_us}, rto_us={self.rto_us}, "
            f"backoff_shift={self.backoff_shift})"
        )
