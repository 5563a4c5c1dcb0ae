"""RFC 6298 retransmission timer arithmetic, checked against hand-computed sequences."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiostack.config import MS, SECOND, TcpConfig
from aiostack.core.tcp.rtt import CLOCK_GRANULARITY_US, RttEstimator


def test_initial_rto_is_one_second() -> None:
    est = RttEstimator(TcpConfig())
    assert est.srtt_us is None
    assert est.rttvar_us == 0
    assert est.rto_us == 1 * SECOND  # RFC 6298 §2.1


def test_first_and_second_sample_hand_computed() -> None:
    est = RttEstimator(TcpConfig())
    est.on_sample(100 * MS)
    # §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4*RTTVAR = 100 + 200 ms
    assert (est.srtt_us, est.rttvar_us, est.rto_us) == (100_000, 50_000, 300_000)
    est.on_sample(200 * MS)
    # §2.3: RTTVAR = 3/4*50000 + 1/4*|100000-200000| = 62500; SRTT = 7/8*100000 + 1/8*200000 = 112500
    assert (est.srtt_us, est.rttvar_us) == (112_500, 62_500)
    assert est.rto_us == 112_500 + 4 * 62_500
    est.on_sample(100 * MS)
    # RTTVAR = (3*62500 + 12500) / 4 = 50000; SRTT = (7*112500 + 100000) / 8 = 110937 (floor)
    assert (est.srtt_us, est.rttvar_us) == (110_937, 50_000)
    assert est.rto_us == 310_937


def test_minimum_rto_clamps_small_rtts() -> None:
    est = RttEstimator(TcpConfig())
    for _ in range(50):
        est.on_sample(1 * MS)
    assert est.rto_us == 200 * MS  # §2.4 with the configured 200 ms floor


def test_clock_granularity_term_when_variance_vanishes() -> None:
    cfg = dataclasses.replace(TcpConfig(), rto_min_us=1)
    est = RttEstimator(cfg)
    for _ in range(200):
        est.on_sample(10 * MS)
    assert est.srtt_us == 10 * MS
    assert est.rttvar_us == 0
    assert est.rto_us == 10 * MS + CLOCK_GRANULARITY_US  # SRTT + max(G, K*RTTVAR)


def test_backoff_doubles_and_caps_and_sample_clears_it() -> None:
    cfg = dataclasses.replace(TcpConfig(), rto_max_us=2 * SECOND)
    est = RttEstimator(cfg)
    est.on_sample(100 * MS)
    assert est.rto_us == 300_000
    est.backoff()
    assert est.rto_us == 600_000
    est.backoff()
    assert est.rto_us == 1_200_000
    est.backoff()
    assert est.rto_us == 2 * SECOND  # capped (§5.5 with §2.5 maximum)
    est.backoff()
    assert est.rto_us == 2 * SECOND
    est.on_sample(100 * MS)  # a fresh sample replaces the backed-off value
    # RTTVAR = 3/4*50000 + 0 = 37500, SRTT = 100000
    assert est.rto_us == 100_000 + 4 * 37_500
    est.backoff()
    est.reset_backoff()
    assert est.rto_us == 250_000


def test_backoff_from_initial_rto() -> None:
    est = RttEstimator(TcpConfig())
    seq = []
    for _ in range(10):
        est.backoff()
        seq.append(est.rto_us // SECOND)
    assert seq == [2, 4, 8, 16, 32, 64, 120, 120, 120, 120]


def test_maximum_rto_clamps_huge_rtts() -> None:
    est = RttEstimator(TcpConfig())
    est.on_sample(100 * SECOND)
    assert est.rto_us == 120 * SECOND


def test_timestamp_samples_scale_gains_appendix_g() -> None:
    est = RttEstimator(TcpConfig())
    est.on_sample(100 * MS, expected_samples=4)  # the first sample initialises as usual
    assert (est.srtt_us, est.rttvar_us) == (100_000, 50_000)
    est.on_sample(200 * MS, expected_samples=2)
    # beta' = 1/8, alpha' = 1/16: RTTVAR = (7*50000 + 100000)/8 = 56250; SRTT = (15*100000+200000)/16
    assert (est.srtt_us, est.rttvar_us) == (106_250, 56_250)


def test_negative_sample_ignored_and_zero_sample_counts_as_one_us() -> None:
    est = RttEstimator(TcpConfig())
    est.on_sample(-5)
    assert est.srtt_us is None and est.samples == 0
    est.on_sample(0)
    assert est.srtt_us == 1
    assert est.min_rtt_us == 1


def test_handshake_loss_falls_back_to_three_seconds() -> None:
    est = RttEstimator(TcpConfig())
    est.on_handshake_retransmitted()
    assert est.rto_us == 3 * SECOND  # RFC 6298 §5.7
    est.on_sample(50 * MS)
    assert est.rto_us == 200 * MS
    est.on_handshake_retransmitted()  # measured already: no change
    assert est.rto_us == 200 * MS


def test_bad_bounds_rejected() -> None:
    with pytest.raises(ValueError):
        RttEstimator(dataclasses.replace(TcpConfig(), rto_min_us=5 * SECOND, rto_max_us=1 * SECOND))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("sample"), st.integers(-10, 300 * SECOND), st.integers(1, 64)),
            st.tuples(st.just("backoff"), st.just(0), st.just(1)),
            st.tuples(st.just("reset"), st.just(0), st.just(1)),
        ),
        max_size=80,
    )
)
def test_rto_always_within_bounds(ops) -> None:
    cfg = TcpConfig()
    est = RttEstimator(cfg)
    for kind, v, n in ops:
        if kind == "sample":
            est.on_sample(v, n)
        elif kind == "backoff":
            est.backoff()
        else:
            est.reset_backoff()
        assert cfg.rto_min_us <= est.rto_us <= cfg.rto_max_us
        assert est.rto_us >= est.base_rto_us
        assert est.srtt_us is None or est.srtt_us >= 1
        assert est.rttvar_us >= 0
