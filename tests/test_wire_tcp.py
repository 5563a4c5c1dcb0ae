"""TCP segments: golden bytes both ways, every truncation, options, checksums, fuzz, scapy cross-check."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import IP, TCP, raw

from aiostack.errors import MalformedPacket
from aiostack.fastpath import internet_checksum, pseudo_header_sum
from aiostack.wire.ipv4 import PROTO_TCP, int_to_ip, ip_to_int
from aiostack.wire.tcp import (
    ACK,
    CHECKSUM,
    CWR,
    ECE,
    FIN,
    HEADER_LEN,
    PSH,
    RST,
    SYN,
    URG,
    TcpRepr,
    TcpView,
    flags_str,
    parse_options,
)

A = ip_to_int("198.18.0.1")
B = ip_to_int("198.18.0.2")

# A -> B SYN-ACK with MSS, SACK-permitted, timestamps, NOP, window scale (Linux layout).
SYNACK = bytes.fromhex(
    "138800500000000100000002a012ffffa7ec0000020405b40402080a000000010000000001030307"
)
SYNACK_REPR = TcpRepr(5000, 80, 1, 2, SYN | ACK, 65535, mss=1460, wscale=7, sack_permitted=True,
                      ts_val=1, ts_ecr=0)
# B -> A data with NOP,NOP,TS and NOP,NOP,SACK (2 blocks), payload "hello".
DATA = bytes.fromhex(
    "005013880000000200000002d01801f6128100000101080a00000064000000c801010512000003e8000007d0"
    "00000bb800000fa068656c6c6f"
)
DATA_REPR = TcpRepr(80, 5000, 2, 2, PSH | ACK, 502, sack_blocks=((1000, 2000), (3000, 4000)),
                    ts_val=100, ts_ecr=200, payload=b"hello")
# B -> A SYN|ECE|CWR with MSS, an unknown option (kind 30, len 4) and EOL then padding.
ODD = bytes.fromhex("00501388000000070000000080c20400b7ed0000020402181e04010200000000")
ODD_REPR = TcpRepr(80, 5000, 7, 0, SYN | ECE | CWR, 1024, mss=536)

GOLDENS = [(SYNACK, SYNACK_REPR, A, B), (DATA, DATA_REPR, B, A), (ODD, ODD_REPR, B, A)]


def test_flag_constants() -> None:
    assert (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR) == (1, 2, 4, 8, 16, 32, 64, 128)
    assert flags_str(SYN | ACK) == "S." and flags_str(FIN | PSH | ACK) == "FP." and flags_str(0) == "none"
    assert flags_str(0xFF) == "FSRP.UEW"


@pytest.mark.parametrize("golden,expected,src,dst", GOLDENS)
def test_parse_golden(golden: bytes, expected: TcpRepr, src: int, dst: int) -> None:
    r = TcpRepr.parse(golden, src, dst)
    assert r == expected
    v = TcpView(golden)
    v.check_len()
    assert (v.src_port, v.dst_port, v.seq, v.ack, v.flags, v.window, v.urgent) == (
        expected.src_port, expected.dst_port, expected.seq, expected.ack, expected.flags, expected.window, 0)
    assert v.checksum == int.from_bytes(golden[16:18], "big")
    assert v.verify_checksum(src, dst)
    assert bytes(v.payload) == bytes(expected.payload)
    assert v.parse_options()[0] == expected.mss


@pytest.mark.parametrize("golden,r,src,dst", GOLDENS[:2])
def test_emit_golden_writes_every_byte(golden: bytes, r: TcpRepr, src: int, dst: int) -> None:
    assert r.buffer_len() == len(golden)
    buf = bytearray(b"\xa5" * (len(golden) + 4))
    r.emit(buf, src, dst, 4)
    assert buf[:4] == b"\xa5" * 4
    assert bytes(buf[4:]) == golden


def test_emit_partial_checksum_completes_to_full() -> None:
    buf = bytearray(b"\xa5" * len(DATA))
    DATA_REPR.emit(buf, B, A, partial_checksum=True)
    assert int.from_bytes(buf[CHECKSUM:CHECKSUM + 2], "big") == pseudo_header_sum(B, A, PROTO_TCP, len(DATA))
    # What a device does for NEEDS_CSUM: sum from csum_start to the end (field included), store the complement.
    buf[CHECKSUM:CHECKSUM + 2] = internet_checksum(buf).to_bytes(2, "big")
    assert bytes(buf) == DATA


@pytest.mark.parametrize("golden,r,src,dst", GOLDENS)
def test_every_truncation_is_malformed(golden: bytes, r: TcpRepr, src: int, dst: int) -> None:
    hl = (golden[12] >> 4) * 4
    for n in range(len(golden)):
        with pytest.raises(MalformedPacket):
            TcpRepr.parse(golden[:n], src, dst)  # the checksum catches a cut payload
        if n < hl:
            with pytest.raises(MalformedPacket) as ei:
                TcpRepr.parse(golden[:n], src, dst, verify_checksum=False)
            assert ei.value.reason in ("truncated", "bad_data_offset")
            with pytest.raises(MalformedPacket):
                TcpView(golden[:n]).check_len()


def _with(data: bytes, offset: int, value: bytes) -> bytes:
    b = bytearray(data)
    b[offset:offset + len(value)] = value
    return bytes(b)


@pytest.mark.parametrize(
    "data,reason",
    [
        (_with(SYNACK, 12, b"\x40"), "bad_data_offset"),
        (_with(SYNACK, 12, b"\x00"), "bad_data_offset"),
        (_with(SYNACK, 12, b"\xb0"), "bad_data_offset"),
        (_with(SYNACK, 20, b"\x02\x05"), "bad_option_length"),  # MSS length 5
        (_with(SYNACK, 20, b"\x02\x03"), "bad_option_length"),
        (_with(SYNACK, 20, b"\x1e\x01"), "bad_option_length"),  # unknown kind, length < 2
        (_with(SYNACK, 20, b"\x1e\x15"), "bad_option_length"),  # runs past the options area
        (_with(SYNACK, 24, b"\x04\x03"), "bad_option_length"),  # sackOK length 3
        (_with(SYNACK, 26, b"\x08\x0b"), "bad_option_length"),  # timestamp length 11
        (_with(SYNACK, 37, b"\x03\x04"), "bad_option_length"),  # wscale length 4
        (_with(SYNACK, 36, b"\x00\x01\x03"), None),  # EOL ends the list: parses
        (_with(DATA, 34, b"\x05\x0b"), "bad_option_length"),  # SACK length not 2 + 8n
        (_with(SYNACK, 36, b"\x01\x01\x01\x1e"), "bad_option_length"),  # kind with no length byte
    ],
)
def test_bad_header_and_options(data: bytes, reason: str | None) -> None:
    if reason is None:
        r = TcpRepr.parse(data, A, B, verify_checksum=False)
        assert r.wscale is None and r.mss == 1460
        return
    with pytest.raises(MalformedPacket) as ei:
        TcpRepr.parse(data, A, B, verify_checksum=False)
    assert ei.value.reason == reason


def test_bad_checksum_and_skip() -> None:
    bad = _with(SYNACK, 4, b"\x00\x00\x00\x09")
    with pytest.raises(MalformedPacket) as ei:
        TcpRepr.parse(bad, A, B)
    assert ei.value.reason == "bad_checksum"
    assert TcpRepr.parse(bad, A, B, verify_checksum=False).seq == 9
    with pytest.raises(MalformedPacket):
        TcpRepr.parse(SYNACK, B, A + 1)  # wrong pseudo-header


def test_parse_options_direct() -> None:
    assert parse_options(b"") == (None, None, False, (), None, None)
    assert parse_options(b"\x01\x01\x00\xff\xff") == (None, None, False, (), None, None)
    assert parse_options(b"\x03\x03\x0e\x04\x02") == (None, 14, True, (), None, None)
    with pytest.raises(MalformedPacket):
        parse_options(b"\x05\x02")  # SACK with no block


def test_emit_rejects_too_many_options() -> None:
    r = TcpRepr(1, 2, 3, 4, ACK, 5, mss=1460, ts_val=1, ts_ecr=2, sack_blocks=((1, 2),) * 3)
    with pytest.raises(ValueError):
        r.emit(bytearray(100), A, B)
    with pytest.raises(ValueError):
        TcpRepr(1, 2, 3, 4, ACK, 5, sack_blocks=((1, 2),) * 5).emit(bytearray(100), A, B)


def test_pretty() -> None:
    assert SYNACK_REPR.pretty(A, B) == (
        "IP 198.18.0.1.5000 > 198.18.0.2.80: Flags [S.], seq 1, ack 2, win 65535, "
        "options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"
    )
    assert DATA_REPR.pretty() == (
        "80 > 5000: Flags [P.], seq 2:7, ack 2, win 502, "
        "options [nop,nop,TS val 100 ecr 200,nop,nop,sack 2 {1000:2000}{3000:4000}], length 5"
    )
    assert TcpRepr(1, 2, 3, 4, ACK, 5).pretty() == "1 > 2: Flags [.], ack 4, win 5, length 0"
    assert "urg 9" in TcpRepr(1, 2, 3, 4, URG, 5, urgent=9).pretty()
    assert "nop,nop,sackOK" in TcpRepr(1, 2, 3, 4, SYN, 5, sack_permitted=True).pretty()


u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
edges = st.tuples(u32, u32)


@st.composite
def tcp_reprs(draw: st.DrawFn) -> TcpRepr:
    ts = draw(st.none() | st.tuples(u32, u32))
    mss = draw(st.none() | u16)
    max_blocks = 3 if ts is not None else 4
    if mss is not None:
        max_blocks -= 1
    ws = draw(st.none() | st.integers(0, 255))
    sp = draw(st.booleans())
    if ws is not None or (sp and ts is None):
        max_blocks = min(max_blocks, 3 if ts is None else 2)
    if mss is not None and ws is not None and sp and ts is not None:
        max_blocks = 1
    blocks = tuple(draw(st.lists(edges, max_size=max(0, max_blocks))))
    r = TcpRepr(draw(u16), draw(u16), draw(u32), draw(u32), draw(st.integers(0, 255)), draw(u16), draw(u16),
                mss, ws, sp, blocks, None if ts is None else ts[0], None if ts is None else ts[1],
                draw(st.binary(max_size=64)))
    if r.options_len() > 40:
        r = TcpRepr(r.src_port, r.dst_port, r.seq, r.ack, r.flags, r.window, r.urgent, payload=r.payload)
    return r


@settings(max_examples=200, deadline=None)
@given(tcp_reprs(), u32, u32, st.booleans())
def test_round_trip(r: TcpRepr, src: int, dst: int, partial: bool) -> None:
    buf = bytearray(b"\xa5" * r.buffer_len())
    r.emit(buf, src, dst, partial_checksum=partial)
    if partial:
        buf[CHECKSUM:CHECKSUM + 2] = internet_checksum(buf).to_bytes(2, "big")
    assert TcpRepr.parse(buf, src, dst) == r
    assert TcpRepr.parse(bytes(buf), src, dst, verify_checksum=False) == r


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.booleans())
def test_fuzz_random_bytes(data: bytes, verify: bool) -> None:
    try:
        r = TcpRepr.parse(data, A, B, verify)
    except MalformedPacket:
        return
    assert len(r.payload) <= len(data) - HEADER_LEN
    r.pretty(A, B)


@settings(max_examples=200, deadline=None)
@given(st.integers(12, len(SYNACK) - 1), st.integers(0, 255), st.integers(0, 12))
def test_fuzz_mutated_options(i: int, value: int, cut: int) -> None:
    data = bytearray(SYNACK + b"\0" * 4)
    data[i] = value
    try:
        TcpRepr.parse(bytes(data[:len(data) - cut]), A, B, verify_checksum=False)
    except MalformedPacket:
        pass


def _scapy_opts(s: TCP) -> dict[str, object]:
    return {name: val for name, val in s.options}


@settings(max_examples=100, deadline=None)
@given(tcp_reprs())
def test_scapy_dissects_ours(r: TcpRepr) -> None:
    buf = bytearray(r.buffer_len())
    r.emit(buf, A, B)
    s = TCP(bytes(buf))
    assert (s.sport, s.dport, s.seq, s.ack, int(s.flags), s.window, s.urgptr) == (
        r.src_port, r.dst_port, r.seq, r.ack, r.flags, r.window, r.urgent)
    assert s.dataofs * 4 == r.header_len
    opts = _scapy_opts(s)
    assert opts.get("MSS") == r.mss and opts.get("WScale") == r.wscale
    assert ("SAckOK" in opts) == r.sack_permitted
    assert opts.get("Timestamp") == (None if r.ts_val is None else (r.ts_val, r.ts_ecr))
    sack = opts.get("SAck")
    assert (sack or ()) == tuple(e for b in r.sack_blocks for e in b)
    assert bytes(s.payload) == bytes(r.payload)
    # scapy recomputes the checksum when we delete it: it must agree with ours.
    pkt = IP(src=int_to_ip(A), dst=int_to_ip(B)) / TCP(bytes(buf))
    del pkt[TCP].chksum
    assert IP(raw(pkt))[TCP].chksum == s.chksum


@settings(max_examples=100, deadline=None)
@given(u16, u16, u32, u32, st.integers(0, 255), u16, u16, st.none() | u16, st.none() | st.integers(0, 14),
       st.booleans(), st.none() | st.tuples(u32, u32), st.binary(max_size=40))
def test_ours_parses_scapy(sp: int, dp: int, seq: int, ack: int, flags: int, win: int, urg: int,
                           mss: int | None, ws: int | None, sok: bool, ts: tuple[int, int] | None,
                           payload: bytes) -> None:
    opts: list[tuple[str, object]] = []
    if mss is not None:
        opts.append(("MSS", mss))
    if ws is not None:
        opts.append(("WScale", ws))
    if sok:
        opts.append(("SAckOK", b""))
    if ts is not None:
        opts.append(("Timestamp", ts))
    opts.append(("SAck", (10, 20)))
    pkt = IP(src=int_to_ip(B), dst=int_to_ip(A)) / TCP(sport=sp, dport=dp, seq=seq, ack=ack, flags=flags,
                                                        window=win, urgptr=urg, options=opts) / payload
    data = raw(pkt)[20:]
    r = TcpRepr.parse(data, B, A)
    assert r == TcpRepr(sp, dp, seq, ack, flags, win, urg, mss, ws, sok, ((10, 20),),
                        None if ts is None else ts[0], None if ts is None else ts[1], payload)
