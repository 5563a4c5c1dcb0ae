"""Scripted tests: sending and receiving data (segmentation, PSH, GSO, IW10, Nagle, cork, delayed ACK,
SACK / D-SACK generation, window scaling, zero window and persist probes, SWS avoidance, PAWS,
sequence wrap, the receive path fed three ways)."""

from __future__ import annotations

import random

import pytest
from tcp_script import LOCAL_IP, LOCAL_PORT, REMOTE_IP, REMOTE_PORT, SECRET, Script, cfg

from aiostack.core.tcp.events import DataReceived, WritableAgain
from aiostack.core.tcp.isn import generate_isn
from aiostack.core.tcp.state import State

pytestmark = pytest.mark.timeout(60)

MSS = 1448  # 1460 minus the timestamp option


# --- sending -----------------------------------------------------------------------------------------


def test_segmentation_psh_on_last_and_iw10() -> None:
    s = Script.client()
    data = bytes(range(256)) * 100  # 25600 bytes
    assert s.conn.send(data) == len(data)
    out = s.poll()
    assert len(out) == 10  # RFC 6928: IW10
    for i, seg in enumerate(out):
        assert seg.seq == s.l(1 + i * MSS) and len(seg.payload) == MSS
        assert seg.flags == 0x10  # no PSH: the buffer is not empty after any of them
    assert b"".join(bytes(x.payload) for x in out) == data[: 10 * MSS]
    s.expect_nothing()  # cwnd-limited
    s.inject(".", seq=s.r(1), ack=s.l(1 + 2 * MSS))
    out = s.poll()
    assert len(out) >= 2 and out[0].seq == s.l(1 + 10 * MSS)


def test_psh_on_segment_that_empties_the_buffer() -> None:
    s = Script.client()
    s.conn.send(b"a" * (MSS + 10))
    s.expect((".", {"len": MSS}), ("P.", {"len": 10, "seq": s.l(1 + MSS)}))


def test_payload_is_a_view_not_a_copy() -> None:
    s = Script.client()
    data = b"x" * (3 * MSS)
    s.conn.send(data)
    out = s.poll()
    assert all(isinstance(seg.payload, memoryview) for seg in out)
    assert all(seg.payload.obj is data for seg in out)  # slices of the application's own bytes


def test_gso_super_segments_are_mss_multiples() -> None:
    s = Script.client()
    s.conn.send(b"g" * (5 * MSS + 100))
    # a payload that is not a whole multiple of the MSS is never a super-segment
    out = s.expect((".", {"len": 4 * MSS, "seq": s.l(1)}), (".", {"len": MSS}), ("P.", {"len": 100}),
                   max_segment_bytes=4 * MSS + 1000)
    assert out[1].seq == s.l(1 + 4 * MSS)
    t = Script.client()
    t.conn.send(b"g" * (5 * MSS + 100))
    t.expect((".", {"len": 5 * MSS}), ("P.", {"len": 100}), max_segment_bytes=65536)


def test_send_buffer_bounded_and_writable_again() -> None:
    s = Script.client(cfg(send_buffer_bytes=10_000))
    s.conn.set_write_low_water(2_000)
    assert s.conn.send(b"a" * 15_000) == 10_000  # never silently dropped: the count says what was taken
    assert s.conn.send(b"b") == 0
    out = s.poll()
    assert sum(len(x.payload) for x in out) == 10_000
    s.inject(".", seq=s.r(1), ack=s.l(1 + 5_000))
    assert s.events() == []  # 5000 still buffered, above the mark
    s.inject(".", seq=s.r(1), ack=s.l(1 + 8_500))
    assert s.events() == [WritableAgain()]
    s.inject(".", seq=s.r(1), ack=s.l(1 + 10_000))
    assert s.events() == []  # once per crossing


def test_nagle_holds_small_segments_while_data_unacked() -> None:
    s = Script.client()
    s.conn.set_nodelay(False)
    s.conn.send(b"a")
    s.expect("P.", payload=b"a")
    s.conn.send(b"b")
    s.conn.send(b"c")
    s.expect_nothing()  # RFC 9293 §3.7.4: one small segment outstanding
    s.inject(".", seq=s.r(1), ack=s.l(2))
    s.expect("P.", seq=s.l(2), payload=b"bc")


def test_nodelay_by_default_sends_small_segments_at_once() -> None:
    s = Script.client()
    s.conn.send(b"a")
    s.expect("P.", payload=b"a")
    s.conn.send(b"b")
    s.expect("P.", payload=b"b", seq=s.l(2))


def test_cork_holds_partial_segments_until_uncorked() -> None:
    s = Script.client()
    s.conn.set_cork(True)
    s.conn.send(b"head")
    s.expect_nothing()
    s.conn.send(b"x" * (MSS - 4 + 10))
    s.expect(".", len=MSS)  # full segments still go
    s.conn.set_cork(False)
    s.expect("P.", len=10)


def test_peer_window_scaled_limits_sending() -> None:
    s = Script.client(peer_wscale=4)
    s.inject(".", seq=s.r(1), ack=s.l(1), window=200)  # 200 << 4 = 3200 bytes
    assert s.conn.snd_wnd == 3200
    s.conn.send(b"w" * 10_000)
    # two full segments; the 304-byte rest of the window waits (sender SWS avoidance, RFC 9293
    # §3.8.6.2.1: less than half the largest window seen, with data in flight)
    s.expect((".", {"len": MSS}), (".", {"len": MSS}))
    s.inject(".", seq=s.r(1), ack=s.l(1 + 2 * MSS), window=200)
    s.expect((".", {"len": MSS}), (".", {"len": MSS}))


def test_our_window_field_is_scaled() -> None:
    s = Script.client(cfg(recv_buffer_bytes=1 << 20))
    assert s.conn.rcv_wscale == 5  # 1 MiB >> 5 fits 16 bits
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"d" * 1000)
    s.advance(40_000)
    ack = s.expect(".", ack=s.r(1001))[0]
    assert ack.window == ((1 << 20) - 1000 + 31) >> 5 or ack.window == (1 << 20) >> 5


def test_sender_sws_avoidance_waits_for_useful_window() -> None:
    s = Script.client(peer_wscale=0)
    s.inject(".", seq=s.r(1), ack=s.l(1), window=10_000)
    s.conn.send(b"q" * 20_000)
    out = s.poll()
    assert sum(len(x.payload) for x in out) == 6 * MSS  # the 1312-byte rest of the window waits
    # 100 more bytes of window with data in flight: not worth a segment (RFC 9293 §3.8.6.2.1)
    s.inject(".", seq=s.r(1), ack=s.l(1 + 5_000), window=5_100)
    s.expect_nothing()
    # with nothing in flight the remaining window is used, so the connection cannot stall
    s.inject(".", seq=s.r(1), ack=s.l(1 + 6 * MSS), window=1_000)
    s.expect(".", len=1_000, seq=s.l(1 + 6 * MSS))


def test_zero_window_persist_probes_with_backoff_then_resume() -> None:
    s = Script.client(peer_wscale=0)
    s.conn.send(b"p" * 3000)
    out = s.poll()
    assert len(out) == 3
    s.inject(".", seq=s.r(1), ack=s.l(3001), window=0)  # all acked, window closed
    s.conn.send(b"z" * 500)
    s.expect_nothing()
    assert s.conn.timers.persist is not None
    first = s.conn.timers.persist - s.now
    s.advance(first - 1)
    s.expect_nothing()
    s.advance(1)
    s.expect(".", seq=s.l(3000), ack=s.r(1), len=0)  # probe: SND.UNA - 1, no data
    s.inject(".", seq=s.r(1), ack=s.l(3001), window=0)
    second = s.conn.timers.persist - s.now
    assert second == 2 * first  # backoff
    s.advance(second)
    s.expect(".", seq=s.l(3000), len=0)
    s.inject(".", seq=s.r(1), ack=s.l(3001), window=1000)  # window opens
    s.expect("P.", seq=s.l(3001), payload=b"z" * 500)
    assert s.conn.timers.persist is None
    assert s.conn.counters["persist_probes"] == 2


def test_zero_window_probes_do_not_time_out_while_answered() -> None:
    s = Script.client(cfg(max_retransmits=3), peer_wscale=0)
    s.inject(".", seq=s.r(1), ack=s.l(1), window=0)
    s.conn.send(b"z")
    s.expect_nothing()
    for _ in range(8):
        s.advance(s.conn.timers.persist - s.now)
        s.expect(".", len=0)
        s.inject(".", seq=s.r(1), ack=s.l(1), window=0)
    assert s.conn.state is State.ESTABLISHED


# --- receiving ---------------------------------------------------------------------------------------


def test_delayed_ack_timing() -> None:
    s = Script.client()
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"x" * 100)
    s.expect_nothing()
    s.advance(39_999)
    s.expect_nothing()
    s.advance(1)
    s.expect(".", seq=s.l(1), ack=s.r(101))  # 40 ms
    s.advance(1_000_000)
    s.expect_nothing()


def test_ack_every_second_full_segment() -> None:
    s = Script.client()
    s.inject(".", seq=s.r(1), ack=s.l(1), payload=b"a" * MSS)
    s.expect_nothing()
    s.inject(".", seq=s.r(1 + MSS), ack=s.l(1), payload=b"b" * MSS)
    s.expect(".", ack=s.r(1 + 2 * MSS))  # RFC 5681 §4.2
    s.inject(".", seq=s.r(1 + 2 * MSS), ack=s.l(1), payload=b"c" * MSS)
    s.expect_nothing()


def test_ack_piggybacks_on_data() -> None:
    s = Script.client()
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"ping")
    s.conn.send(b"pong")
    s.expect("P.", seq=s.l(1), ack=s.r(5), payload=b"pong")
    s.advance(100_000)
    s.expect_nothing()  # the delayed ACK went with the data


def test_out_of_order_gets_immediate_ack_with_sack_most_recent_first() -> None:
    s = Script.client()
    s.inject(".", seq=s.r(1001), ack=s.l(1), payload=b"b" * 500)
    s.expect(".", ack=s.r(1), sack_blocks=((s.r(1001), s.r(1501)),))
    s.inject(".", seq=s.r(3001), ack=s.l(1), payload=b"d" * 500)
    s.expect(".", ack=s.r(1), sack_blocks=((s.r(3001), s.r(3501)), (s.r(1001), s.r(1501))))
    s.inject(".", seq=s.r(1501), ack=s.l(1), payload=b"c" * 500)  # extends the first range
    s.expect(".", ack=s.r(1), sack_blocks=((s.r(1001), s.r(2001)), (s.r(3001), s.r(3501))))
    assert s.conn.counters["ooo_segments"] == 3
    s.inject(".", seq=s.r(1), ack=s.l(1), payload=b"a" * 1000)  # fills the first gap
    s.expect(".", ack=s.r(2001), sack_blocks=((s.r(3001), s.r(3501)),))  # gap fill: ACK at once
    assert s.events() == [DataReceived(2000)]
    s.inject(".", seq=s.r(2001), ack=s.l(1), payload=b"x" * 1000)
    s.expect(".", ack=s.r(3501), sack_blocks=())
    assert s.conn.read() == b"a" * 1000 + b"b" * 500 + b"c" * 500 + b"x" * 1000 + b"d" * 500


def test_sack_blocks_limited_to_what_fits() -> None:
    s = Script.client()
    for i in range(5):
        s.inject(".", seq=s.r(1 + 200 * (2 * i + 1)), ack=s.l(1), payload=b"z" * 200)
        s.poll()
    s.inject(".", seq=s.r(1 + 200 * 11), ack=s.l(1), payload=b"z" * 200)
    seg = s.poll()[0]
    assert len(seg.sack_blocks) == 3  # RFC 2018 §3: three blocks fit beside timestamps
    assert seg.sack_blocks[0] == (s.r(2201), s.r(2401))
    t = Script.client(ts=False)
    for i in range(6):
        t.inject(".", seq=t.r(1 + 200 * (2 * i + 1)), ack=t.l(1), payload=b"z" * 200)
    segs = t.poll()
    assert len(segs[-1].sack_blocks) == 4


def test_dsack_for_duplicate_below_rcv_nxt() -> None:
    s = Script.client()
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"x" * 100)
    s.advance(40_000)
    s.expect(".", ack=s.r(101))
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"x" * 100)  # a spurious retransmission
    s.expect(".", ack=s.r(101), sack_blocks=((s.r(1), s.r(101)),))  # RFC 2883 §4.1
    assert s.conn.counters["dsacks_sent"] == 1


def test_dsack_for_duplicate_out_of_order_data() -> None:
    s = Script.client()
    s.inject(".", seq=s.r(1001), ack=s.l(1), payload=b"b" * 500)
    s.poll()
    s.inject(".", seq=s.r(1001), ack=s.l(1), payload=b"b" * 500)
    # RFC 2883 §4.2: the D-SACK block first, then the block containing it
    s.expect(".", ack=s.r(1), sack_blocks=((s.r(1001), s.r(1501)), (s.r(1001), s.r(1501))))


def test_partially_old_segment_is_trimmed() -> None:
    s = Script.client()
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"abcdef")
    s.inject("P.", seq=s.r(4), ack=s.l(1), payload=b"defghi")  # starts below RCV.NXT
    assert s.conn.read() == b"abcdefghi"
    assert s.conn.rcv_nxt == s.r(10)


def test_segment_beyond_window_is_trimmed_and_wholly_outside_dropped() -> None:
    s = Script.client(cfg(recv_buffer_bytes=1000, window_scaling=False))
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"a" * 1500)  # tail beyond the 1000-byte window
    assert s.conn.recv_buffer_bytes == 1000
    s.expect(".", ack=s.r(1001), window=0)
    s.inject("P.", seq=s.r(1001), ack=s.l(1), payload=b"b" * 10)  # zero window: not acceptable
    s.expect(".", ack=s.r(1001), window=0)
    assert s.conn.recv_buffer_bytes == 1000


def test_zero_window_still_processes_acks() -> None:
    s = Script.client(cfg(recv_buffer_bytes=1000, window_scaling=False))
    s.conn.send(b"out")
    s.poll()
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"a" * 1000)
    s.advance(40_000)
    s.expect(".", ack=s.r(1001), window=0)
    s.inject("P.", seq=s.r(1001), ack=s.l(4), payload=b"more")  # RFC 9293: ACK processed, text not
    assert s.conn.snd_una == s.l(4)
    s.expect(".", ack=s.r(1001), window=0)


def test_window_update_after_application_reads_and_receiver_sws() -> None:
    s = Script.client(cfg(recv_buffer_bytes=4000, window_scaling=False))
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"a" * 4000)
    s.expect(".", ack=s.r(4001), window=0)
    s.conn.consume(100)  # RFC 9293 §3.8.6.2.2: 100 bytes is not worth advertising
    s.expect_nothing()
    s.conn.consume(2000)  # now at least min(buffer/2, MSS): a window update
    s.expect(".", ack=s.r(4001), window=2100)


def test_paws_rejects_old_timestamp() -> None:
    s = Script.client()
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"new", ts_val=10_000)
    s.advance(40_000)
    s.expect(".", ack=s.r(4), ts_ecr=10_000)
    # RFC 7323 §5.3: an old duplicate whose TSval is behind TS.Recent: dropped, answered with an ACK
    s.inject("P.", seq=s.r(4), ack=s.l(1), payload=b"old", ts_val=9_000)
    s.expect(".", ack=s.r(4))
    assert s.conn.recv_buffer_bytes == 3
    assert s.conn.counters["drops.paws"] == 1
    s.inject("P.", seq=s.r(4), ack=s.l(1), payload=b"ok!", ts_val=10_001)
    assert s.conn.recv_buffer_bytes == 6


def test_paws_does_not_apply_to_rst() -> None:
    s = Script.client()
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"x", ts_val=10_000)
    s.inject("R", seq=s.r(2), ts_val=1)
    assert s.conn.state is State.CLOSED


def _wrap_script(peer_iss: int) -> Script:
    # choose now_us so that our ISS lands 3000 bytes before 2**32 (RFC 6528: ISS = F() + now/4)
    base = generate_isn(SECRET, LOCAL_IP, LOCAL_PORT, REMOTE_IP, REMOTE_PORT, 0)
    target = (2**32 - 3000) & 0xFFFFFFFF
    now = 4 * ((target - base) % 2**32)
    return Script.client(peer_iss=peer_iss, now_us=now)


def test_sequence_numbers_wrap_mid_transfer_both_ways() -> None:
    s = _wrap_script(peer_iss=2**32 - 2500)
    assert s.conn.iss == 2**32 - 3000
    rng = random.Random(7)
    out_data = rng.randbytes(40_000)
    in_data = rng.randbytes(40_000)
    sent_in = 0
    s.conn.send(out_data)
    got_out = bytearray()
    for _ in range(200):
        for seg in s.poll():
            if seg.payload:
                off = (seg.seq - s.l(1)) & 0xFFFFFFFF
                assert off == len(got_out)
                got_out += bytes(seg.payload)
        if sent_in < len(in_data):
            chunk = in_data[sent_in:sent_in + 1000]
            s.inject(".", seq=s.r(1 + sent_in), ack=s.l(1 + len(got_out)), payload=chunk)
            sent_in += len(chunk)
        else:
            s.inject(".", seq=s.r(1 + sent_in), ack=s.l(1 + len(got_out)))
        if len(got_out) == len(out_data) and sent_in == len(in_data):
            break
    assert bytes(got_out) == out_data
    assert s.conn.read() == in_data
    assert s.conn.snd_una == (s.l(1 + len(out_data)))
    assert s.conn.rcv_nxt == s.r(1 + len(in_data))
    assert s.conn.snd_una < 2**31 and s.conn.rcv_nxt < 2**31  # both really wrapped


def test_wrap_with_out_of_order_and_sack() -> None:
    s = _wrap_script(peer_iss=2**32 - 1000)
    # bytes [1000, 2000) cross the wrap of the peer's sequence space and arrive first
    s.inject(".", seq=s.r(1001), ack=s.l(1), payload=b"B" * 1000)
    s.expect(".", ack=s.r(1), sack_blocks=((s.r(1001), s.r(2001)),))
    assert s.r(1001) < s.r(1)  # the peer's sequence space wrapped between the two pieces
    s.inject(".", seq=s.r(1), ack=s.l(1), payload=b"A" * 1000)
    s.expect(".", ack=s.r(2001))
    assert s.conn.read() == b"A" * 1000 + b"B" * 1000


# --- the receive path fed three ways (h11's habit) ---------------------------------------------------

PAYLOAD = bytes(random.Random(3).randbytes(6000))


def _segments_whole() -> list[tuple[int, bytes]]:
    return [(0, PAYLOAD)]


def _segments_bytewise() -> list[tuple[int, bytes]]:
    return [(i, PAYLOAD[i:i + 1]) for i in range(len(PAYLOAD))]


def _segments_shuffled() -> list[tuple[int, bytes]]:
    rng = random.Random(11)
    pieces = []
    i = 0
    while i < len(PAYLOAD):
        n = rng.randint(1, 700)
        pieces.append((i, PAYLOAD[i:i + n]))
        i += n
    rng.shuffle(pieces)
    # some duplicates and overlapping re-sends too
    for _ in range(10):
        a = rng.randrange(len(PAYLOAD))
        pieces.insert(rng.randrange(len(pieces)), (a, PAYLOAD[a:a + rng.randint(1, 900)]))
    return pieces


@pytest.mark.parametrize("feed", [_segments_whole, _segments_bytewise, _segments_shuffled])
def test_receive_path_three_ways(feed) -> None:  # type: ignore[no-untyped-def]
    s = Script.client(cfg(recv_buffer_bytes=1 << 16))
    for off, data in feed():
        s.inject("P.", seq=s.r(1 + off), ack=s.l(1), payload=data)
        s.poll()
    s.inject("F.", seq=s.r(1 + len(PAYLOAD)), ack=s.l(1))
    assert s.conn.read() == PAYLOAD
    assert s.conn.state is State.CLOSE_WAIT
    assert not s.conn.recvbuf.ooo


def test_one_byte_probe_into_zero_window_is_acked_not_accepted() -> None:
    s = Script.client(cfg(recv_buffer_bytes=1000, window_scaling=False))
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"a" * 1000)
    s.advance(40_000)
    s.expect(".", ack=s.r(1001), window=0)
    s.inject("P.", seq=s.r(1001), ack=s.l(1), payload=b"b")  # a BSD-style 1-byte window probe
    s.expect(".", ack=s.r(1001), window=0)
    s.inject(".", seq=s.r(1000), ack=s.l(1))  # a Linux-style probe: SEQ = RCV.NXT - 1
    s.expect(".", ack=s.r(1001), window=0)
    assert s.conn.recv_buffer_bytes == 1000


def test_out_of_order_store_is_bounded_in_ranges_and_bytes() -> None:
    s = Script.client(cfg(ooo_max_ranges=2, ooo_max_bytes=1000))
    s.inject(".", seq=s.r(1001), ack=s.l(1), payload=b"a" * 100)
    s.inject(".", seq=s.r(2001), ack=s.l(1), payload=b"b" * 100)
    s.inject(".", seq=s.r(3001), ack=s.l(1), payload=b"c" * 100)  # a third hole: over the range bound
    assert s.conn.counters["drops.ooo_limit"] == 1
    s.inject(".", seq=s.r(1101), ack=s.l(1), payload=b"d" * 900)  # merging would exceed the byte bound
    assert s.conn.counters["drops.ooo_limit"] == 2
    out = s.poll()
    assert len(out) == 4  # every out-of-order arrival is still acknowledged at once
    assert out[-1].sack_blocks == ((s.r(2001), s.r(2101)), (s.r(1001), s.r(1101)))
    assert s.conn.recvbuf.ooo_bytes == 200


def test_ack_too_old_is_challenged_and_dropped() -> None:
    s = Script.client(peer_wscale=0)
    s.inject(".", seq=s.r(1), ack=s.l(1), window=1000)
    # RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND is not acceptable
    s.inject("P.", seq=s.r(1), ack=s.l(-100_000), payload=b"data")
    s.expect(".", seq=s.l(1), ack=s.r(1))
    assert s.conn.recv_buffer_bytes == 0
    assert s.conn.counters["drops.ack_too_old"] == 1
    s.inject("P.", seq=s.r(1), ack=s.l(-10), payload=b"data")  # old but within MAX.SND.WND: fine
    assert s.conn.recv_buffer_bytes == 4


def test_every_ack_with_a_timestamp_echo_gives_the_congestion_controller_an_rtt_sample() -> None:
    """RFC 7323 §4 RTTM: each ACK's echoed timestamp is an RTT sample; the controller gets it with the
    ACK (cc.on_ack rtt_us), so HyStart++ sees N_RTT_SAMPLE samples per round (RFC 9406 §4.2)."""
    s = Script.client()
    mss = s.conn.snd_mss
    s.conn.send(b"h" * (100 * mss))  # more than the window: the sender stays cwnd-limited
    sent = s.poll()
    assert len(sent) == 10
    s.advance(30_000)
    hs = s.conn.cc.hystart
    assert hs is not None
    for i, seg in enumerate(sent):  # one round: the ACKs for the initial window
        s.inject(".", seq=s.r(1), ack=s.l(1 + (i + 1) * mss), ts_val=s.peer_ts(), ts_ecr=seg.ts_val)
        assert hs.rtt_sample_count == i + 1
        assert len(s.poll()) == 2  # slow start: two new segments per ACK
    assert hs.current_round_min_rtt == 30_000
    assert s.conn.cc.srtt_us == 30_000  # CUBIC's own RTT (RFC 9438 §4.4) follows the same samples
