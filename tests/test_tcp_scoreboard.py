"""RFC 6675 scoreboard: hand-worked examples, wrap-around through 2**32, and a per-octet reference."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiostack.core.tcp.scoreboard import SackScoreboard

M32 = 2**32


def sb_with(una: int, blocks: list[tuple[int, int]], nxt: int | None = None) -> SackScoreboard:
    sb = SackScoreboard()
    sb.update(una, blocks, nxt)
    return sb


def test_update_counts_new_bytes_and_merges() -> None:
    sb = SackScoreboard()
    assert sb.update(0, [(200, 300)]) == 100
    assert sb.update(0, [(200, 300)]) == 0  # repeated information
    assert sb.update(0, [(400, 500), (250, 450)]) == 100 + 100  # [400,500) then [300,400)
    assert list(sb.ranges()) == [(200, 500)]
    assert sb.update(0, [(500, 600)]) == 100  # adjacent ranges merge
    assert list(sb.ranges()) == [(200, 600)]
    assert sb.sacked_bytes == 400
    assert sb.highest_sacked == 600
    assert sb.is_sacked(200) and sb.is_sacked(599)
    assert not sb.is_sacked(199) and not sb.is_sacked(600)


def test_update_bridging_several_ranges() -> None:
    sb = sb_with(0, [(100, 200), (300, 400), (500, 600)])
    assert sb.update(0, [(150, 550)]) == 200
    assert list(sb.ranges()) == [(100, 600)]
    assert sb.sacked_bytes == 500


def test_cumulative_ack_drops_state_below() -> None:
    sb = sb_with(0, [(100, 200), (300, 400)])
    assert sb.update(150, []) == 0
    assert list(sb.ranges()) == [(150, 200), (300, 400)]
    assert sb.sacked_bytes == 150
    sb.update(400, [])
    assert list(sb.ranges()) == [] and sb.sacked_bytes == 0 and sb.highest_sacked is None


def test_dsack_and_invalid_blocks_add_nothing() -> None:
    sb = SackScoreboard()
    assert sb.update(1000, [(500, 600)]) == 0  # RFC 2883 D-SACK below the cumulative ACK
    assert sb.update(1000, [(900, 1100)], 5000) == 100  # straddles snd_una: only [1000, 1100)
    assert sb.update(1000, [(1200, 1100)], 5000) == 0  # reversed
    assert sb.update(1000, [(4000, 6000)], 5000) == 0  # beyond snd_nxt
    assert sb.update(1000, [(1300, 1300)], 5000) == 0  # empty
    assert sb.blocks_ignored == 3
    assert list(sb.ranges()) == [(1000, 1100)]


def test_is_lost_examples() -> None:
    mss = 100
    sb = sb_with(0, [(200, 300), (400, 500), (600, 700)])
    assert sb.is_lost(0, mss)  # three discontiguous SACKed ranges above
    assert sb.is_lost(199, mss)
    assert not sb.is_lost(300, mss)  # two ranges, 200 bytes: not more than 2 * SMSS
    assert not sb.is_lost(700, mss)
    sb2 = sb_with(0, [(200, 501)])
    assert sb2.is_lost(100, mss)  # 301 bytes > (DupThresh - 1) * SMSS
    assert not sb2.is_lost(100, 200)
    assert sb2.is_lost(100, 100, dupthresh=2) is True
    assert not sb_with(0, [(200, 400)]).is_lost(0, mss)  # exactly 2*SMSS is not enough


def test_next_seg_rules_one_and_three() -> None:
    mss = 100
    sb = sb_with(0, [(200, 300), (400, 500), (600, 700)], 1000)
    assert sb.next_seg(0, 1000, 0, mss) == (0, 100)
    assert sb.next_seg(0, 1000, 100, mss) == (100, 100)
    # [300, 400) has only two ranges (200 bytes) above it: not lost; rule 2 is the caller's
    assert sb.next_seg(0, 1000, 200, mss) is None
    # rule 3 (no new data to send): any hole below the highest SACK
    assert sb.next_seg(0, 1000, 200, mss, can_send_new=False) == (300, 100)
    assert sb.next_seg(0, 1000, 500, mss, can_send_new=False) == (500, 100)
    assert sb.next_seg(0, 1000, 600, mss, can_send_new=False) is None  # above the highest SACK
    assert sb.next_seg(0, 1000, 0, 150) == (0, 150)
    assert sb.next_seg(0, 1000, 0, 500) == (0, 200)  # stops at the SACKed range


def test_pipe_examples() -> None:
    mss = 100
    sb = sb_with(0, [(200, 300), (400, 500), (600, 700)], 1000)
    # not SACKed: 700 bytes; lost: [0, 200); in flight: [300,400) [500,600) [700,1000)
    assert sb.pipe(0, 1000, 0, mss) == 500
    assert sb.pipe(0, 1000, 100, mss) == 600  # + [0, 100) retransmitted
    assert sb.pipe(0, 1000, 500, mss) == 500 + 200 + 100  # retransmitted [0,200) and [300,400)
    assert sb.lost_bytes(0, mss) == 200
    assert SackScoreboard().pipe(0, 1000, 0, mss) == 1000
    assert SackScoreboard().pipe(0, 0, 0, mss) == 0


def test_wraparound_through_2_32() -> None:
    mss = 100
    una = M32 - 250
    blocks = [((una + 200) % M32, (una + 300) % M32), ((una + 400) % M32, (una + 500) % M32)]
    sb = sb_with(una, blocks, (una + 1000) % M32)
    assert sb.sacked_bytes == 200
    assert list(sb.ranges()) == [(M32 - 50, 50), (150, 250)]
    assert sb.highest_sacked == 250
    assert sb.is_sacked(M32 - 1) and sb.is_sacked(0) and not sb.is_sacked(50)
    assert sb.update(una, [(60, 120)]) == 60
    assert sb.is_lost(una, mss)
    assert sb.next_seg(una, (una + 1000) % M32, una, mss) == (una, 100)
    assert sb.pipe(una, (una + 1000) % M32, una, mss) == 1000 - 260 - 200
    sb.update(100, [])  # cumulative ACK passes the wrap point
    assert list(sb.ranges()) == [(100, 120), (150, 250)]
    assert sb.sacked_bytes == 120


def test_clear() -> None:
    sb = sb_with(0, [(10, 20)])
    sb.clear()
    assert not sb and sb.sacked_bytes == 0 and sb.highest_sacked is None


# --- per-octet reference of RFC 6675 §4 ------------------------------------------------------------


def ref_is_lost(sacked: set[int], s: int, hi: int, mss: int) -> bool:
    above = [x for x in range(s + 1, hi) if x in sacked]
    ranges = sum(1 for x in above if x - 1 not in sacked or x - 1 == s)
    return ranges >= 3 or len(above) > 2 * mss


def ref_pipe(sacked: set[int], nxt: int, high_rxt: int, mss: int) -> int:
    pipe = 0
    for s in range(nxt):
        if s in sacked:
            continue
        if not ref_is_lost(sacked, s, nxt, mss):
            pipe += 1
        if s < high_rxt:
            pipe += 1
    return pipe


def ref_next_seg(sacked: set[int], nxt: int, high_rxt: int, mss: int, can_send_new: bool):
    highest = max(sacked) + 1 if sacked else 0
    for s in range(high_rxt, min(highest, nxt)):
        if s in sacked:
            continue
        if can_send_new and not ref_is_lost(sacked, s, nxt, mss):
            return None
        n = 0
        while n < mss and s + n < nxt and s + n not in sacked:
            n += 1
        return (s, n)
    return None


@settings(max_examples=150, deadline=None)
@given(
    base=st.sampled_from([0, 1000, M32 - 300, M32 - 1]),
    nxt=st.integers(1, 400),
    raw=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 60)), max_size=8),
    mss=st.integers(5, 50),
    high_rxt=st.integers(0, 400),
    can_send_new=st.booleans(),
)
def test_matches_per_octet_reference(base, nxt, raw, mss, high_rxt, can_send_new) -> None:
    high_rxt = min(high_rxt, nxt)
    blocks = [(lo, min(lo + n, nxt)) for lo, n in raw if lo < nxt]
    sacked = {x for lo, hi in blocks for x in range(lo, hi)}
    sb = SackScoreboard()
    w = [((base + lo) % M32, (base + hi) % M32) for lo, hi in blocks]
    # feed in two ACKs, as a receiver reporting them over time would
    sb.update(base, w[: len(w) // 2], (base + nxt) % M32)
    sb.update(base, w[len(w) // 2 :], (base + nxt) % M32)
    assert sb.sacked_bytes == len(sacked)
    una, snxt, hr = base, (base + nxt) % M32, (base + high_rxt) % M32
    assert sb.pipe(una, snxt, hr, mss) == ref_pipe(sacked, nxt, high_rxt, mss)
    for s in range(0, nxt, 7):
        if s not in sacked:
            assert sb.is_lost((base + s) % M32, mss) == ref_is_lost(sacked, s, nxt, mss)
        assert sb.is_sacked((base + s) % M32) == (s in sacked)
    got = sb.next_seg(una, snxt, hr, mss, can_send_new)
    want = ref_next_seg(sacked, nxt, high_rxt, mss, can_send_new)
    assert got == (None if want is None else ((base + want[0]) % M32, want[1]))
