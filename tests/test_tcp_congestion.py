"""Congestion control: registry, RFC 5681/3465 NewReno arithmetic, RFC 9438 CUBIC curve."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiostack.config import TcpConfig
from aiostack.core.tcp import congestion
from aiostack.core.tcp.congestion import SSTHRESH_INFINITE, CongestionControl, Cubic, NewReno
from aiostack.core.tcp.congestion.cubic import ALPHA_CUBIC, BETA_CUBIC, C

MSS = 1000
CFG = TcpConfig()


def full_window_round(cc: CongestionControl, now_us: int, rtt_us: int) -> int:
    """ACK one cwnd worth of 1-MSS segments spread over one RTT, the sender always cwnd-limited."""
    segs = cc.cwnd // cc.mss
    step = rtt_us // segs
    for _ in range(segs):
        now_us += step
        cc.on_ack(cc.mss, cc.cwnd - cc.mss, rtt_us, now_us)
    return now_us


# --- registry ---------------------------------------------------------------------------------------


def test_registry_names_and_default() -> None:
    assert congestion.available() == ["cubic", "newreno"]
    cc = congestion.create(CFG.congestion_control, MSS, CFG, 0)
    assert isinstance(cc, Cubic) and cc.name == "cubic"
    assert isinstance(congestion.create("newreno", MSS, CFG, 0), NewReno)


def test_unknown_name_lists_available() -> None:
    with pytest.raises(ValueError, match="cubic, newreno"):
        congestion.create("vegas", MSS, CFG, 0)


def test_register_custom_and_reject_non_subclass() -> None:
    class Fixed(NewReno):
        name = "fixed-test"

    congestion.register("fixed-test", Fixed)
    try:
        assert "fixed-test" in congestion.available()
        assert type(congestion.create("fixed-test", MSS, CFG, 0)) is Fixed
    finally:
        congestion._REGISTRY.pop("fixed-test")
    with pytest.raises(TypeError):
        congestion.register("bad", int)  # type: ignore[arg-type]


# --- common / NewReno -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["newreno", "cubic"])
def test_initial_window_rfc6928(name: str) -> None:
    cc = congestion.create(name, 1460, CFG, 0)
    assert cc.cwnd == 14600
    assert cc.ssthresh == SSTHRESH_INFINITE == 2**31 - 1
    cc3 = congestion.create(name, 1460, dataclasses.replace(CFG, initial_window_segments=3), 0)
    assert cc3.cwnd == 3 * 1460


@pytest.mark.parametrize("name", ["newreno", "cubic"])
def test_slow_start_abc_limit_two_mss(name: str) -> None:
    cc = congestion.create(name, MSS, CFG, 0)
    cc.on_ack(3000, 10_000, None, 1)  # RFC 3465: increase min(N, 2*SMSS)
    assert cc.cwnd == 12_000
    cc.on_ack(500, 12_000, None, 2)
    assert cc.cwnd == 12_500
    # ten full-sized ACKs double ... well, add 10 MSS
    for i in range(10):
        cc.on_ack(MSS, cc.cwnd - MSS, None, 3 + i)
    assert cc.cwnd == 22_500


@pytest.mark.parametrize("name", ["newreno", "cubic"])
def test_no_growth_when_application_limited(name: str) -> None:
    cc = congestion.create(name, MSS, CFG, 0)
    cc.on_ack(1000, 1000, None, 1)  # only 2 of 10 segments were in flight
    assert cc.cwnd == 10_000
    cc.ssthresh = 10_000  # congestion avoidance: needs the flight within one MSS of cwnd
    for _ in range(30):
        cc.on_ack(MSS, 7_000, 50_000, 10)
    assert cc.cwnd == 10_000
    for _ in range(10):
        cc.on_ack(MSS, 9_500, 50_000, 10)
    assert cc.cwnd > 10_000


def test_newreno_congestion_avoidance_one_mss_per_window() -> None:
    cc = NewReno(MSS, CFG, 0)
    cc.ssthresh = 10_000
    for _ in range(10):
        cc.on_ack(MSS, cc.cwnd - MSS, None, 0)
    assert cc.cwnd == 11_000  # 10 ACKs of 1 MSS = one window -> +1 MSS (RFC 5681 eq. 3 / RFC 3465)
    for _ in range(10):
        cc.on_ack(MSS, cc.cwnd - MSS, None, 0)
    assert cc.cwnd == 11_000  # 10 000 of 11 000 bytes counted
    cc.on_ack(MSS, cc.cwnd - MSS, None, 0)
    assert cc.cwnd == 12_000


def test_newreno_slow_start_spills_into_avoidance() -> None:
    cc = NewReno(MSS, CFG, 0)
    cc.ssthresh = 11_000
    cc.on_ack(2000, 10_000, None, 0)  # +1000 reaches ssthresh, the other 1000 counts toward CA
    assert cc.cwnd == 11_000
    assert cc._ca_acked == 1000


def test_newreno_fast_retransmit_halves_flight() -> None:
    cc = NewReno(MSS, CFG, 0)
    cc.cwnd = 40_000
    cc.on_enter_recovery(30_000, 5)  # RFC 5681 eq. 4: max(FlightSize/2, 2*SMSS)
    assert (cc.ssthresh, cc.cwnd, cc.in_recovery) == (15_000, 15_000, True)
    cc.cwnd = 9_000  # the engine may deflate during recovery
    cc.on_exit_recovery(6)  # RFC 6582 §3.2 step 3: cwnd = ssthresh
    assert (cc.cwnd, cc.in_recovery) == (15_000, False)
    cc.on_enter_recovery(3_000, 7)
    assert cc.ssthresh == 2 * MSS


def test_newreno_rto_loss_window_and_repeated_timeouts() -> None:
    cc = NewReno(MSS, CFG, 0)
    cc.cwnd = 40_000
    cc.on_rto(40_000, 1)
    assert (cc.cwnd, cc.ssthresh) == (MSS, 20_000)
    cc.on_rto(1_000, 2)  # RFC 5681: the retransmission timed out again: ssthresh held
    assert (cc.cwnd, cc.ssthresh) == (MSS, 20_000)
    cc.on_ack(3000, 0, None, 3)  # RFC 3465 §2.3: L = 1*SMSS in slow start after an RTO
    assert cc.cwnd == 2 * MSS
    cc.on_rto(2_000, 4)  # a new timeout after new data was ACKed recomputes ssthresh
    assert cc.ssthresh == 2 * MSS


def test_newreno_hundred_rounds_of_avoidance() -> None:
    cc = NewReno(MSS, CFG, 0)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, 0)
    cc.on_exit_recovery(0)
    now = 0
    for _ in range(100):
        now = full_window_round(cc, now, 10_000)
    assert cc.cwnd == 150 * MSS  # 50 + 1 per round trip


def test_set_mss_keeps_segments_and_rejects_nonsense() -> None:
    cc = NewReno(65_495, CFG, 0)
    cc.set_mss(1460)
    assert cc.cwnd == 14_600 and cc.initial_window == 14_600
    cc.cwnd = 20 * 1460
    cc.ssthresh = 30 * 1460
    cc.set_mss(536)
    assert (cc.cwnd, cc.ssthresh) == (20 * 536, 30 * 536)
    with pytest.raises(ValueError):
        cc.set_mss(0)
    with pytest.raises(ValueError):
        NewReno(0, CFG, 0)


def test_idle_restart_caps_cwnd_at_initial_window() -> None:
    cc = NewReno(MSS, CFG, 0)
    cc.cwnd = 50_000
    cc.on_idle_restart(10)
    assert cc.cwnd == 10_000


# --- CUBIC ------------------------------------------------------------------------------------------


def test_cubic_constants() -> None:
    assert C == 0.4 and BETA_CUBIC == 0.7
    assert ALPHA_CUBIC == pytest.approx(0.9 / 1.7)


def test_cubic_loss_reduction_beta_and_k() -> None:
    cc = Cubic(MSS, CFG, 0)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, 0)
    assert cc.ssthresh == cc.cwnd == 70 * MSS  # RFC 9438 §4.6
    assert cc.w_max == 100.0
    cc.on_exit_recovery(0)
    cc.on_ack(MSS, cc.cwnd - MSS, 100_000, 0)  # first ACK in CA starts the epoch
    assert cc.epoch_start_us == 0
    assert cc.k_s == pytest.approx((30 / 0.4) ** (1 / 3))  # RFC 9438 eq. 2: cbrt((100 - 70) / C)
    assert cc.w_cubic(0) == pytest.approx(70.0)
    assert cc.w_cubic(round(cc.k_s * 1e6)) == pytest.approx(100.0, abs=1e-3)


def test_cubic_returns_to_w_max_at_k() -> None:
    cc = Cubic(MSS, CFG, 0)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, 0)
    cc.on_exit_recovery(0)
    rtt = 100_000
    cc.on_ack(MSS, cc.cwnd - MSS, rtt, 0)
    k_us = cc.k_s * 1e6
    now = 0
    halfway = None
    while now < k_us:
        now = full_window_round(cc, now, rtt)
        if halfway is None and now >= k_us / 2:
            halfway = cc.cwnd / MSS
    # concave region: at K/2 cwnd is already close to W_max (cubic: 100 - 0.4*(K/2)**3 ~ 96.25)
    assert halfway is not None and 93 <= halfway <= 99
    assert 99 <= cc.cwnd / MSS <= 101  # plateau at W_max around t = K


def test_cubic_reno_friendly_region_short_rtt() -> None:
    cc = Cubic(MSS, CFG, 0)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, 0)
    cc.on_exit_recovery(0)
    now = 0
    for _ in range(100):
        now = full_window_round(cc, now, 10_000)
    # RFC 9438 §4.3: W_est gains alpha_cubic (~0.53) per RTT until it reaches cwnd_prior = 100
    # (~57 RTTs), then 1 per RTT: 70 + 30 + 43 = ~143 segments; the cubic curve is far lower (~87).
    assert cc.w_cubic(now) < cc.w_est
    assert cc.cwnd == int(cc.w_est * MSS)
    assert 140 <= cc.cwnd / MSS <= 145
    assert cc.alpha == 1.0


def test_cubic_fast_convergence() -> None:
    cc = Cubic(MSS, CFG, 0)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, 0)
    cc.cwnd = 80 * MSS
    cc.on_enter_recovery(80 * MSS, 1)  # below the previous W_max: W_max = 80 * (1 + 0.7) / 2
    assert cc.w_max == pytest.approx(68.0)
    assert cc.ssthresh == 56 * MSS


def test_cubic_timeout_restarts_curve_at_cwnd() -> None:
    cc = Cubic(MSS, CFG, 0)
    cc.cwnd = 100 * MSS
    cc.on_rto(100 * MSS, 0)
    assert (cc.cwnd, cc.ssthresh) == (MSS, 70 * MSS)
    now = 0
    while cc.cwnd < cc.ssthresh:
        now += 1000
        cc.on_ack(MSS, cc.cwnd - MSS, 50_000, now)
    cc.on_ack(MSS, cc.cwnd - MSS, 50_000, now + 1000)
    # RFC 9438 §4.8: first CA stage after a timeout: K = 0, W_max = cwnd at the stage start.
    assert cc.k_s == 0.0
    assert cc.w_cubic(0) == pytest.approx(70.0, abs=0.01)


def test_cubic_app_limited_time_excluded() -> None:
    cc = Cubic(MSS, CFG, 0)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, 0)
    cc.on_exit_recovery(0)
    cc.on_ack(MSS, cc.cwnd - MSS, 100_000, 0)
    cw = cc.cwnd
    cc.on_ack(MSS, 10 * MSS, 100_000, 1_000_000)  # application-limited for 3 s
    cc.on_ack(MSS, 10 * MSS, 100_000, 3_000_000)
    assert cc.cwnd == cw
    cc.on_ack(MSS, cc.cwnd - MSS, 100_000, 4_000_000)
    assert cc.epoch_start_us == 3_000_000  # shifted by the 3 s without use of the window


# --- HyStart++ (RFC 9406) ---------------------------------------------------------------------------


class Sender:
    """A window-limited sender ACKed one MSS at a time, rounds of one cwnd each."""

    def __init__(self, cc: CongestionControl) -> None:
        self.cc = cc
        self.una = 0
        self.nxt = cc.cwnd // cc.mss * cc.mss
        self.now = 0

    def round(self, rtt_us: int, sample_every: int = 1) -> None:
        end = self.nxt
        i = 0
        while self.una < end:
            self.una += self.cc.mss
            self.now += 100
            i += 1
            rtt = rtt_us if i % sample_every == 0 else None
            self.cc.on_ack(self.cc.mss, self.nxt - self.una, rtt, self.now)
            self.nxt = self.una + self.cc.cwnd // self.cc.mss * self.cc.mss  # refill: whole segments


@pytest.mark.parametrize("name", ["newreno", "cubic"])
def test_hystart_constant_rtt_keeps_slow_start(name: str) -> None:
    s = Sender(congestion.create(name, MSS, CFG, 0))
    for _ in range(5):
        s.round(20_000)
    assert s.cc.hystart is not None and not s.cc.hystart.in_css
    assert s.cc.cwnd == 10 * MSS * 2**5  # doubling per round: 10 -> 320 segments
    assert s.cc.ssthresh == SSTHRESH_INFINITE


@pytest.mark.parametrize("name", ["newreno", "cubic"])
def test_hystart_delay_increase_enters_css_then_avoidance(name: str) -> None:
    s = Sender(congestion.create(name, MSS, CFG, 0))
    s.round(20_000)
    s.round(20_000)
    before = s.cc.cwnd  # 40 segments
    s.round(23_000)  # +3 ms < max(4 ms, 20/8 ms): still slow start
    assert not s.cc.hystart.in_css
    assert s.cc.cwnd == 2 * before
    s.round(28_000)  # last round's minimum 23 ms; 28 >= 23 + 4: CSS after the 8th sample
    hs = s.cc.hystart
    assert hs is not None and hs.in_css and hs.css_baseline_min_rtt == 28_000
    # round 4 starts at 80 segments: 7 ACKs at full slow-start growth, the 8th detects the delay and it
    # and the other 72 grow by a quarter (RFC 9406 CSS_GROWTH_DIVISOR = 4)
    assert s.cc.cwnd == 80 * MSS + 7 * MSS + 73 * MSS // 4
    for _ in range(4):
        s.round(28_000)
        assert s.cc.ssthresh == SSTHRESH_INFINITE
    s.round(28_000)  # the fifth CSS round begins: ssthresh = cwnd, congestion avoidance
    assert s.cc.hystart is None
    assert s.cc.ssthresh <= s.cc.cwnd
    assert not s.cc.in_slow_start


def test_hystart_spurious_delay_resumes_slow_start() -> None:
    s = Sender(NewReno(MSS, CFG, 0))
    s.round(20_000)
    s.round(30_000)
    assert s.cc.hystart.in_css
    s.round(21_000)  # below the CSS baseline: back to slow start
    assert not s.cc.hystart.in_css
    c = s.cc.cwnd
    s.round(21_000)
    assert s.cc.cwnd == 2 * c


def test_hystart_needs_eight_samples_per_round() -> None:
    s = Sender(NewReno(MSS, CFG, 0))
    s.round(20_000, sample_every=5)  # 10 ACKs, 2 samples
    s.round(40_000, sample_every=5)  # 20 ACKs, 4 samples: not enough evidence
    assert not s.cc.hystart.in_css
    assert s.cc.cwnd == 40 * MSS


def test_hystart_only_in_the_initial_slow_start() -> None:
    cc = Cubic(MSS, CFG, 0)
    cc.on_enter_recovery(10 * MSS, 0)
    assert cc.hystart is None
    cc2 = NewReno(MSS, CFG, 0)
    cc2.on_rto(10 * MSS, 0)
    assert cc2.hystart is None


# --- undo of a spurious reduction (RFC 9438 §4.9) ---------------------------------------------------


def test_newreno_undo_restores_window_and_threshold() -> None:
    cc = NewReno(MSS, CFG, 0)
    assert cc.on_spurious_congestion(0) is False  # nothing to undo yet
    cc.cwnd = 40_000
    cc.ssthresh = 50_000
    cc.on_enter_recovery(40_000, 1)
    cc.on_enter_recovery(20_000, 2)  # a second cut in the same episode keeps the first snapshot
    assert (cc.cwnd, cc.ssthresh) == (10_000, 10_000)
    assert cc.on_spurious_congestion(3) is True
    assert (cc.cwnd, cc.ssthresh, cc.in_recovery) == (40_000, 50_000, False)
    assert cc.on_spurious_congestion(4) is False  # once


def test_undo_after_rto_and_never_lower_than_now() -> None:
    cc = NewReno(MSS, CFG, 0)
    cc.cwnd = 30_000
    cc.on_rto(30_000, 1)
    assert (cc.cwnd, cc.ssthresh) == (MSS, 15_000)
    cc.on_ack(MSS, 0, None, 2)
    cc.cwnd = 35_000  # grew past the old value meanwhile
    assert cc.on_spurious_congestion(3)
    assert cc.cwnd == 35_000 and cc.ssthresh == SSTHRESH_INFINITE  # max(now, before)


def test_cubic_undo_restores_curve() -> None:
    cc = Cubic(MSS, CFG, 0)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, 0)
    cc.on_exit_recovery(0)
    cc.on_ack(MSS, cc.cwnd - MSS, 50_000, 1000)
    k_before, w_max_before, epoch_before = cc.k_s, cc.w_max, cc.epoch_start_us
    cwnd_before = cc.cwnd
    cc.on_enter_recovery(cc.cwnd, 2000)  # fast convergence: W_max drops to ~70 * 1.7 / 2
    assert cc.w_max == pytest.approx(cwnd_before / MSS * 0.85)
    assert cc.on_spurious_congestion(3000)
    assert (cc.k_s, cc.w_max, cc.epoch_start_us) == (k_before, w_max_before, epoch_before)
    assert cc.cwnd == cwnd_before and cc.ssthresh == 70 * MSS


# --- invariants under random event sequences ---------------------------------------------------------

EVENT = st.one_of(
    st.tuples(st.just("ack"), st.integers(1, 200_000), st.integers(0, 2_000_000), st.integers(0, 500_000)),
    st.tuples(st.just("recovery"), st.integers(0, 2_000_000), st.just(0), st.just(0)),
    st.tuples(st.just("exit"), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just("rto"), st.integers(0, 2_000_000), st.just(0), st.just(0)),
    st.tuples(st.just("undo"), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just("mss"), st.sampled_from([536, 1200, 1448, 8960]), st.just(0), st.just(0)),
    st.tuples(st.just("idle"), st.just(0), st.just(0), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["newreno", "cubic"]), events=st.lists(EVENT, max_size=60))
def test_random_event_sequences_keep_sane_windows(name: str, events) -> None:
    cc = congestion.create(name, 1448, CFG, 0)
    now = 0
    for kind, a, b, c in events:
        now += 1_000 + c
        if kind == "ack":
            cc.on_ack(a, b, c or None, now)
        elif kind == "recovery":
            cc.on_enter_recovery(a, now)
            assert cc.cwnd == cc.ssthresh >= 2 * cc.mss
        elif kind == "exit":
            cc.on_exit_recovery(now)
        elif kind == "rto":
            cc.on_rto(a, now)
            assert cc.cwnd == cc.mss and cc.ssthresh >= 2 * cc.mss
        elif kind == "undo":
            cc.on_spurious_congestion(now)
        elif kind == "mss":
            cc.set_mss(a)
        else:
            cc.on_idle_restart(now)
        assert isinstance(cc.cwnd, int) and isinstance(cc.ssthresh, int)
        assert cc.mss <= cc.cwnd < 2**40
        assert cc.ssthresh >= 2 * cc.mss or cc.ssthresh == SSTHRESH_INFINITE
