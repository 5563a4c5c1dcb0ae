"""HyStart++: leave the initial slow start when queueing delay appears, before the queue overflows.

Read first: RFC 9406 (HyStart++: modified slow start for TCP), §4.2 the algorithm, §4.3 the constants,
§4.4 "use only for the initial slow start". RFC 9438 §4.10 recommends it for CUBIC.

Rounds are delimited as RFC 9406 does with ``windowEnd = SND.NXT``: in acknowledged-byte space the
current round ends once the bytes acknowledged since the round began cover the flight at its start.
RTT samples are whatever the engine passes with each ACK; with fewer than N_RTT_SAMPLE samples in a
round the delay test never fires (HyStart++ then changes nothing).
"""

from __future__ import annotations

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

# RFC 9406 §4.3 constants (microseconds where RFC says msec).
MIN_RTT_THRESH_US = 4_000
MAX_RTT_THRESH_US = 16_000
MIN_RTT_DIVISOR = 8
N_RTT_SAMPLE = 8
CSS_GROWTH_DIVISOR = 4
CSS_ROUNDS = 5

_INF = 1 << 62

# Results of ``on_ack``: the divisor of the slow-start increase, or EXIT (enter congestion avoidance).
SLOW_START = 1
CSS = CSS_GROWTH_DIVISOR
EXIT = 0


@cython.no_gc
@cython.cclass
class HyStartPlusPlus:
    __slots__ = (
        "acked_total",
        "window_end",
        "last_round_min_rtt",
        "current_round_min_rtt",
        "rtt_sample_count",
        "css_baseline_min_rtt",
        "in_css",
        "css_rounds",
        "rounds",
    )

    def __init__(self) -> None:
        self.acked_total = 0
        self.window_end = 0
        self.last_round_min_rtt = _INF
        self.current_round_min_rtt = _INF
        self.rtt_sample_count = 0
        self.css_baseline_min_rtt = _INF
        self.in_css = False
        self.css_rounds = 0
        self.rounds = 0

    def on_ack(self, acked_bytes: int, bytes_in_flight: int, rtt_us: int | None) -> int:
        """One ACK of new data during the initial slow start. Returns SLOW_START (1), CSS (the growth
        divisor, 4) or EXIT (0: set ssthresh = cwnd and continue in congestion avoidance)."""
        total = self.acked_total + acked_bytes
        self.acked_total = total
        if total > self.window_end:
            # RFC 9406 §4.2: at the start of each round (the ACK that reaches windowEnd itself still
            # belongs to the old round, as Linux's after(snd_una, end_seq))
            self.rounds += 1
            self.window_end = total + bytes_in_flight
            self.last_round_min_rtt = self.current_round_min_rtt
            self.current_round_min_rtt = _INF
            self.rtt_sample_count = 0
            if self.in_css:
                self.css_rounds += 1
                if self.css_rounds >= CSS_ROUNDS:
                    return EXIT  # RFC 9406 §4.2: CSS_ROUNDS rounds in CSS: enter congestion avoidance
        if rtt_us is not None and rtt_us > 0:
            if rtt_us < self.current_round_min_rtt:
                self.current_round_min_rtt = rtt_us
            self.rtt_sample_count += 1
        cur = self.current_round_min_rtt
        if not self.in_css:
            last = self.last_round_min_rtt
            if self.rtt_sample_count >= N_RTT_SAMPLE and cur != _INF and last != _INF:
                # RttThresh = clamp(MIN_RTT_THRESH, lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH)
                thresh = last // MIN_RTT_DIVISOR
                if thresh < MIN_RTT_THRESH_US:
                    thresh = MIN_RTT_THRESH_US
                elif thresh > MAX_RTT_THRESH_US:
                    thresh = MAX_RTT_THRESH_US
                if cur >= last + thresh:
                    # delay increase: leave slow start for Conservative Slow Start
                    self.in_css = True
                    self.css_baseline_min_rtt = cur
                    self.css_rounds = 0
                    return CSS
            return SLOW_START
        if self.rtt_sample_count >= N_RTT_SAMPLE and cur < self.css_baseline_min_rtt:
            # RFC 9406 §4.2: the delay increase was spurious: resume slow start
            self.in_css = False
            self.css_baseline_min_rtt = _INF
            return SLOW_START
        return CSS
