"""Two TCP engines through the deterministic in-memory network (tests/tcp_harness.py), virtual time.

Every transfer must end with equal sha256 on both sides, EOF both ways, and a finished FIN exchange,
within a bounded virtual time. Failures print the seed and both connections' ``info()``.
The 16 MiB runs are ``slow`` (skipped in the pure-mode pass); smaller variants of each mechanism run
everywhere.
"""

from __future__ import annotations

import pytest
from tcp_harness import SECOND, Harness, HarnessError, PathConfig, counter, payload, sha, with_config

from aiostack.core.tcp.state import State

MIB = 1024 * 1024
# Reordering and duplication are on in every lossy scenario (the issue asks for both).
REORDER = 0.02
DUPLICATE = 0.01


def run_transfer(
    nbytes_ab: int,
    nbytes_ba: int,
    *,
    seed: int,
    path: PathConfig,
    max_virtual_s: float,
    config_a=None,
    config_b=None,
    **kw,
):
    a_data = payload(nbytes_ab, seed * 2 + 1)
    b_data = payload(nbytes_ba, seed * 2 + 2)
    net = Harness(seed=seed, path=path, config_a=config_a, config_b=config_b, **kw)
    try:
        res = net.transfer(a_data, b_data, max_virtual_us=int(max_virtual_s * SECOND))
    except HarnessError as exc:
        raise AssertionError(f"scenario seed={seed} path={path}: {exc}") from None
    where = f"seed={seed} path={path}"
    assert res.b.sha256 == sha(a_data), where
    assert res.a.sha256 == sha(b_data), where
    assert res.a.received == nbytes_ba and res.b.received == nbytes_ab, where
    assert res.a.error is None and res.b.error is None, where
    assert res.a.eof and res.b.eof, where
    return res, net


# --- the matrix: 16 MiB each way ------------------------------------------------------------

# (loss, virtual-time bound in seconds): about 3x the times measured for seeds 11-13 (0 %: 14-15 s,
# 1 %: 22 s, 5 %: 41-43 s, 20 %: 425-691 s; 100 Mbit/s, 20 ms RTT, 2 % reordering), so a regression
# that makes recovery fall back to timeouts fails them.
MATRIX = [(0.0, 45), (0.01, 66), (0.05, 130), (0.20, 2100)]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("loss", "bound_s"), MATRIX, ids=[f"loss{int(x * 100)}" for x, _ in MATRIX])
def test_16mib_each_way(loss: float, bound_s: int) -> None:
    path = PathConfig(loss=loss, reorder=REORDER, duplicate=DUPLICATE)
    res, _ = run_transfer(16 * MIB, 16 * MIB, seed=11, path=path, max_virtual_s=bound_s)
    assert res.virtual_us < bound_s * SECOND
    if loss:
        assert counter(res.a.counters, "retransmits") > 0 and counter(res.b.counters, "retransmits") > 0


@pytest.mark.timeout(300)
@pytest.mark.parametrize("loss", [0.0, 0.01, 0.05], ids=["loss0", "loss1", "loss5"])
@pytest.mark.parametrize("cc", ["cubic", "newreno"])
def test_1mib_each_way(loss: float, cc: str) -> None:
    cfg = with_config(congestion_control=cc)
    path = PathConfig(loss=loss, reorder=REORDER, duplicate=DUPLICATE)
    res, _ = run_transfer(MIB, MIB, seed=5, path=path, max_virtual_s=120, config_a=cfg, config_b=cfg)
    assert res.link_ab.duplicated + res.link_ba.duplicated > 0
    assert res.link_ab.reordered + res.link_ba.reordered > 0


@pytest.mark.timeout(300)
def test_256kib_each_way_at_20_percent_loss() -> None:
    path = PathConfig(loss=0.20, reorder=REORDER, duplicate=DUPLICATE)
    res, _ = run_transfer(256 * 1024, 256 * 1024, seed=3, path=path, max_virtual_s=3600)
    assert res.link_ab.lost > 0 and res.link_ba.lost > 0


# --- SACK: no timeouts at 1 % loss ------------------------------------------------------------------


def _sack_no_rto(nbytes: int, seed: int, cc: str) -> None:
    # Windows of hundreds of segments (4 MiB buffers); the queue holds a whole window so the only losses
    # are the random 1 % (in both directions: ACKs are lost too).
    cfg = with_config(sack=True, congestion_control=cc)
    path = PathConfig(loss=0.01, queue_limit_bytes=8 * MIB)
    res, net = run_transfer(nbytes, 0, seed=seed, path=path, max_virtual_s=120, config_a=cfg, config_b=cfg)
    info = net.a.conn.info()
    assert info["sack"] is True
    a = res.a.counters
    assert res.link_ab.lost > 0, "the scenario must lose data segments"
    assert counter(a, "fast_retransmits") > 0
    assert counter(a, "rto") == 0, f"seed={seed}: RTO expiries {a}"


# Seeds 1-20 and 21 were tried. Seed 9 loses the first of the last three segments (its neighbours arrive
# and are SACKed: 2240 bytes, fewer than DupThresh ranges and not more than 2 * SMSS), which RFC 6675
# alone leaves to the RTO; RFC 5827 early retransmit repairs it (engine e048060).
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [21, 3, 9])
@pytest.mark.parametrize("cc", ["cubic", "newreno"])
def test_sack_10mib_one_percent_loss_needs_no_rto(cc: str, seed: int) -> None:
    _sack_no_rto(10 * MIB, seed, cc)


@pytest.mark.timeout(300)
def test_sack_2mib_one_percent_loss_needs_no_rto() -> None:
    _sack_no_rto(2 * MIB, 21, "cubic")


# --- variations of the mechanisms -------------------------------------------------------------------


@pytest.mark.timeout(300)
@pytest.mark.parametrize("cc", ["cubic", "newreno"])
def test_without_sack_newreno_recovery(cc: str) -> None:
    cfg = with_config(sack=False, congestion_control=cc)
    path = PathConfig(loss=0.03, reorder=REORDER, duplicate=DUPLICATE)
    res, net = run_transfer(MIB, MIB // 2, seed=8, path=path, max_virtual_s=300, config_a=cfg, config_b=cfg)
    assert net.a.conn.info()["sack"] is False
    assert counter(res.a.counters, "fast_retransmits") > 0


@pytest.mark.timeout(300)
def test_without_timestamps_and_window_scaling() -> None:
    cfg = with_config(timestamps=False, window_scaling=False)
    path = PathConfig(loss=0.01, reorder=REORDER, duplicate=DUPLICATE)
    res, net = run_transfer(MIB, MIB, seed=9, path=path, max_virtual_s=300, config_a=cfg, config_b=cfg)
    info = net.a.conn.info()
    assert info["timestamps"] is False and info["snd_wscale"] == 0
    assert info["snd_wnd"] <= 65535


@pytest.mark.timeout(300)
def test_small_mss_and_small_buffers() -> None:
    cfg = with_config(send_buffer_bytes=16 * 1024, recv_buffer_bytes=12 * 1024)
    path = PathConfig(loss=0.02, reorder=REORDER, duplicate=DUPLICATE)
    run_transfer(300_000, 200_000, seed=12, path=path, max_virtual_s=600, config_a=cfg, config_b=cfg, mss=536)


@pytest.mark.timeout(300)
def test_jumbo_mss() -> None:
    path = PathConfig(loss=0.005, bandwidth_bps=10_000_000_000, queue_limit_bytes=16 * MIB)
    run_transfer(8 * MIB, 2 * MIB, seed=13, path=path, max_virtual_s=120, mss=65495)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("loss", [0.0, 0.01])
def test_gso_super_segments(loss: float) -> None:
    path = PathConfig(loss=loss, reorder=REORDER, bandwidth_bps=1_000_000_000, queue_limit_bytes=4 * MIB)
    sizes: list[int] = []

    def trace(side: str, now_us: int, seg) -> None:
        sizes.append(len(seg.payload))

    res, net = run_transfer(
        2 * MIB, MIB, seed=14, path=path, max_virtual_s=120, max_segment_bytes=65536, trace=trace
    )
    mss = net.a.conn.mss
    big = [n for n in sizes if n > mss]
    assert big, "GSO was allowed but no super-segment was produced"
    assert all(n <= 65536 for n in sizes)


@pytest.mark.timeout(300)
def test_zero_window_then_reader_resumes() -> None:
    cfg_b = with_config(recv_buffer_bytes=64 * 1024)
    a_data = payload(MIB, 77)
    net = Harness(seed=15, path=PathConfig(), config_b=cfg_b)
    net.a.data = a_data
    net.b.reading = False
    net.connect()
    net.run(
        lambda: net.b.conn is not None and net.b.conn.recv_buffer_bytes >= 60 * 1024,
        max_virtual_us=30 * SECOND,
    )
    t_full = net.now_us
    # nothing more can arrive while the window is closed; persist probes keep asking
    net.run(lambda: net.now_us >= t_full + 20 * SECOND, max_virtual_us=30 * SECOND)
    assert net.b.conn.recv_buffer_bytes <= 64 * 1024
    assert net.a.conn.info()["snd_wnd"] < net.a.conn.mss
    assert net.a.counters.get("persist_probes", 0) > 0
    net.b.reading = True
    net.run(net.finished, max_virtual_us=60 * SECOND)
    assert net.b.sha256 == sha(a_data)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("cc", ["cubic", "newreno"])
def test_goodput_without_random_loss(cc: str) -> None:
    # The only losses are drop-tail overflow at the end of slow start (no HyStart): recovery must not
    # degrade into timeouts-only sending. Measured: ~37 (CUBIC) / ~52 (NewReno) Mbit/s for 8 MiB.
    cfg = with_config(congestion_control=cc)
    path = PathConfig(bandwidth_bps=100_000_000, queue_limit_bytes=MIB)
    res, _ = run_transfer(8 * MIB, 0, seed=16, path=path, max_virtual_s=60, config_a=cfg, config_b=cfg)
    goodput = res.goodput_bps(8 * MIB)
    assert goodput > 25_000_000, f"{goodput / 1e6:.1f} Mbit/s on a 100 Mbit/s path"
    # with a queue that never overflows, the link runs nearly full
    path = PathConfig(bandwidth_bps=100_000_000, queue_limit_bytes=16 * MIB)
    res, _ = run_transfer(8 * MIB, 0, seed=16, path=path, max_virtual_s=60, config_a=cfg, config_b=cfg)
    goodput = res.goodput_bps(8 * MIB)
    assert goodput > 70_000_000, f"{goodput / 1e6:.1f} Mbit/s on a 100 Mbit/s path"


@pytest.mark.timeout(300)
def test_close_states_at_the_end() -> None:
    res, net = run_transfer(100_000, 50_000, seed=17, path=PathConfig(), max_virtual_s=30)
    states = {net.a.conn.state, net.b.conn.state}
    assert states <= {State.TIME_WAIT, State.CLOSED}
    assert State.TIME_WAIT in states  # someone closed first and holds TIME-WAIT (RFC 9293 §3.6.1)


# --- targeted losses --------------------------------------------------------------------------------


def _drop_first_data(side_name: str):
    dropped: list[int] = []

    def drop(side: str, now_us: int, seg) -> bool:
        if side == side_name and len(seg.payload) and not dropped:
            dropped.append(seg.seq)
            return True
        return False

    return drop, dropped


@pytest.mark.timeout(60)
@pytest.mark.parametrize("nagle", [False, True])
@pytest.mark.parametrize("sack", [False, True])
def test_lost_small_tail_is_retransmitted(nagle: bool, sack: bool) -> None:
    """The only data segment (smaller than the MSS) is lost: the RTO (or a tail loss probe) must resend
    it. With Nagle on, "one small segment in flight" must not hold back its own retransmission
    (RFC 9293 §3.7.4 governs new data only)."""
    cfg = with_config(nagle=nagle, sack=sack)
    drop, dropped = _drop_first_data("a")
    res, _ = run_transfer(
        1000, 0, seed=31, path=PathConfig(), max_virtual_s=30, config_a=cfg, config_b=cfg, drop=drop
    )
    assert dropped
    assert counter(res.a.counters, "retransmits") >= 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cc", ["newreno", "cubic"])
def test_retransmissions_track_losses_after_slow_start_overshoot(cc: str) -> None:
    """No random loss: only the bottleneck queue overflows when slow start overshoots. Every dropped
    segment needs one retransmission; a recovery that keeps the queue overflowing resends far more."""
    cfg = with_config(congestion_control=cc)
    res, _ = run_transfer(8 * MIB, 0, seed=1, path=PathConfig(), max_virtual_s=60, config_a=cfg, config_b=cfg)
    drops = res.link_ab.queue_drops + res.link_ab.lost
    assert drops > 0
    rtx = counter(res.a.counters, "retransmits")
    assert rtx <= 1.5 * drops + 20, f"{rtx} retransmissions for {drops} drops"
    assert counter(res.a.counters, "rto") == 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sack", [True, False])
def test_hystart_leaves_slow_start_before_the_queue_overflows(sack: bool) -> None:
    """RFC 9406 HyStart++ with per-ACK RTT samples from the timestamp echo (RFC 7323 §4): the rising
    queueing delay ends CUBIC's slow start early, so the overshoot into the 512 KiB drop-tail queue is
    far smaller. Without the samples (one Karn sample per round, below N_RTT_SAMPLE) the same transfer
    lost 844 segments at the queue with SACK (1003 retransmissions) and 1019 without (2537, 2 RTOs)."""
    cfg = with_config(congestion_control="cubic", sack=sack)
    res, _ = run_transfer(8 * MIB, 0, seed=1, path=PathConfig(), max_virtual_s=60, config_a=cfg, config_b=cfg)
    drops = res.link_ab.queue_drops
    rtx = counter(res.a.counters, "retransmits")
    assert drops < 400, f"{drops} queue drops"
    assert rtx < (400 if sack else 1500), f"{rtx} retransmissions"


# --- half-close, asymmetric paths, outages ----------------------------------------------------------


@pytest.mark.timeout(120)
def test_request_then_response_after_half_close() -> None:
    """a sends a request and FIN; b reads to EOF, then answers on its still-open half (RFC 9293 §3.6)."""
    request = payload(200_000, 41)
    response = payload(1_500_000, 42)
    first_b_data: list[bool] = []  # whether b had seen EOF when its first data segment left

    def trace(side: str, now_us: int, seg) -> None:
        if side == "b" and len(seg.payload) and not first_b_data:
            first_b_data.append(net.b.eof)

    net = Harness(seed=41, path=PathConfig(loss=0.02, reorder=REORDER, duplicate=DUPLICATE), trace=trace)
    net.a.data = request
    net.b.data = response
    net.b.write_after_eof = True
    net.connect()
    net.run(lambda: net.b.eof, max_virtual_us=60 * SECOND)
    assert net.b.received == len(request)
    assert net.a.conn.state in (State.FIN_WAIT_2, State.FIN_WAIT_1)
    net.run(net.finished, max_virtual_us=120 * SECOND)
    assert first_b_data == [True]  # the response flowed after a's FIN
    assert net.a.sha256 == sha(response) and net.b.sha256 == sha(request)
    assert net.a.conn.state is State.TIME_WAIT  # a closed first
    assert net.b.conn.state is State.CLOSED


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sack", [True, False])
def test_ack_path_loss_only(sack: bool) -> None:
    """Clean data path, 20 % loss on the ACK path: cumulative ACKs cover for the lost ones."""
    cfg = with_config(sack=sack)
    res, _ = run_transfer(
        2 * MIB,
        0,
        seed=43,
        path=PathConfig(),
        path_ba=PathConfig(loss=0.2),
        max_virtual_s=60,
        config_a=cfg,
        config_b=cfg,
    )
    assert res.link_ab.lost == 0 and res.link_ba.lost > 0


def _outage(start_us: int, end_us: int | None):
    def drop(side: str, now_us: int, seg) -> bool:
        return now_us >= start_us and (end_us is None or now_us < end_us)

    return drop


@pytest.mark.timeout(120)
def test_link_outage_survived_with_rto_backoff() -> None:
    """Everything is lost for 5 s in the middle of a transfer: RTOs back off and the transfer resumes."""
    # 10 Mbit/s: 2 MiB need ~1.7 s, so the outage from 1.5 s to 6.5 s hits the middle of the transfer
    path = PathConfig(bandwidth_bps=10_000_000, queue_limit_bytes=256 * 1024)
    res, net = run_transfer(
        2 * MIB, 0, seed=44, path=path, max_virtual_s=120, drop=_outage(1_500_000, 6_500_000)
    )
    rtos = counter(res.a.counters, "rto")
    assert rtos >= 3  # 5 s of silence: at least ~0.2 + 0.4 + 0.8 + 1.6 s of backed-off timers
    assert res.virtual_us > 5 * SECOND


@pytest.mark.timeout(120)
def test_permanent_outage_times_out() -> None:
    """The path dies for good: after max_retransmits backed-off RTOs the connection fails with
    TimeoutError (the application sees Closed(TimeoutError)), in bounded virtual time."""
    cfg = with_config(max_retransmits=6)
    path = PathConfig(bandwidth_bps=10_000_000, queue_limit_bytes=256 * 1024)
    net = Harness(seed=45, path=path, config_a=cfg, config_b=cfg, drop=_outage(1_400_000, None))
    net.a.data = payload(2 * MIB, 45)
    net.connect()
    net.run(lambda: net.a.closed, max_virtual_us=600 * SECOND)
    assert isinstance(net.a.error, TimeoutError)
    assert net.a.conn.state is State.CLOSED
    assert counter(net.a.counters, "rto") == 6
    # 6 RTOs from >= 200 ms doubling: at least 0.2 * (2**7 - 1) s = 25.4 s after the outage began
    assert net.now_us - 1_400_000 >= 25_400_000
