"""UDP: golden bytes both ways, every truncation, zero/0xFFFF checksums, fuzz, scapy cross-check."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import IP, UDP, raw

from aiostack.errors import MalformedPacket
from aiostack.fastpath import internet_checksum, pseudo_header_sum
from aiostack.wire.ipv4 import PROTO_UDP, int_to_ip, ip_to_int
from aiostack.wire.udp import CHECKSUM, HEADER_LEN, UdpRepr, UdpView

A = ip_to_int("198.18.0.1")
B = ip_to_int("198.18.0.2")

GOLDEN = bytes.fromhex("00010002000a0b46") + b"hi"  # A:1 -> B:2 "hi"
GOLDEN_REPR = UdpRepr(1, 2, b"hi")
# A:53 -> B:5000, payload chosen so the computed checksum is 0: sent as 0xFFFF (RFC 768).
ONES = bytes.fromhex("00351388000affff5ff5")
ONES_REPR = UdpRepr(53, 5000, bytes.fromhex("5ff5"))


def test_parse_golden() -> None:
    assert UdpRepr.parse(GOLDEN, A, B) == GOLDEN_REPR
    assert UdpRepr.parse(ONES, A, B) == ONES_REPR
    v = UdpView(GOLDEN)
    v.check_len()
    assert (v.src_port, v.dst_port, v.length, v.checksum, bytes(v.payload)) == (1, 2, 10, 0x0B46, b"hi")
    assert v.verify_checksum(A, B) and not v.verify_checksum(A, B + 1)


@pytest.mark.parametrize("golden,r", [(GOLDEN, GOLDEN_REPR), (ONES, ONES_REPR)])
def test_emit_golden_writes_every_byte(golden: bytes, r: UdpRepr) -> None:
    assert r.buffer_len() == len(golden)
    buf = bytearray(b"\xa5" * (len(golden) + 1))
    r.emit(buf, A, B, 1)
    assert buf[0] == 0xA5 and bytes(buf[1:]) == golden


def test_zero_checksum_means_none() -> None:
    buf = bytearray(b"\xa5" * 10)
    GOLDEN_REPR.emit(buf, A, B, no_checksum=True)
    assert bytes(buf) == GOLDEN[:6] + b"\0\0" + b"hi"
    r = UdpRepr.parse(buf, A, B + 7)  # any addresses: nothing to verify
    assert r == UdpRepr(1, 2, b"hi", checksum_present=False)
    assert UdpView(buf).verify_checksum(0, 0)


def test_partial_checksum_completes() -> None:
    buf = bytearray(b"\xa5" * 10)
    GOLDEN_REPR.emit(buf, A, B, partial_checksum=True)
    assert int.from_bytes(buf[CHECKSUM:CHECKSUM + 2], "big") == pseudo_header_sum(A, B, PROTO_UDP, 10)
    buf[CHECKSUM:CHECKSUM + 2] = internet_checksum(buf).to_bytes(2, "big")
    assert bytes(buf) == GOLDEN


@pytest.mark.parametrize("golden", [GOLDEN, ONES])
def test_every_truncation_is_malformed(golden: bytes) -> None:
    for n in range(len(golden)):
        with pytest.raises(MalformedPacket) as ei:
            UdpRepr.parse(golden[:n], A, B, verify_checksum=False)
        assert ei.value.reason == ("truncated" if n < HEADER_LEN else "bad_length")
        with pytest.raises(MalformedPacket):
            UdpView(golden[:n]).check_len()


def test_bad_length_and_checksum() -> None:
    for length in (0, 7, 11, 0xFFFF):
        bad = GOLDEN[:4] + length.to_bytes(2, "big") + GOLDEN[6:]
        with pytest.raises(MalformedPacket) as ei:
            UdpRepr.parse(bad, A, B, verify_checksum=False)
        assert ei.value.reason == "bad_length"
    with pytest.raises(MalformedPacket) as ei:
        UdpRepr.parse(GOLDEN[:-1] + b"j", A, B)
    assert ei.value.reason == "bad_checksum"
    assert bytes(UdpRepr.parse(GOLDEN[:-1] + b"j", A, B, verify_checksum=False).payload) == b"hj"


def test_padding_is_trimmed() -> None:
    r = UdpRepr.parse(GOLDEN + b"\0\0\0", A, B)
    assert r == GOLDEN_REPR
    assert bytes(UdpView(GOLDEN + b"xyz").payload) == b"hi"


def test_emit_rejects_oversize() -> None:
    with pytest.raises(ValueError):
        UdpRepr(1, 2, bytes(65528)).emit(bytearray(70000), A, B)


def test_pretty() -> None:
    assert ONES_REPR.pretty(A, B) == "IP 198.18.0.1.53 > 198.18.0.2.5000: UDP, length 2"
    assert GOLDEN_REPR.pretty() == "1 > 2: UDP, length 2"


u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


@settings(max_examples=200, deadline=None)
@given(u16, u16, st.binary(max_size=200), u32, u32, st.sampled_from(["full", "partial", "none"]))
def test_round_trip(sp: int, dp: int, payload: bytes, src: int, dst: int, mode: str) -> None:
    r = UdpRepr(sp, dp, payload)
    buf = bytearray(b"\xa5" * r.buffer_len())
    r.emit(buf, src, dst, partial_checksum=mode == "partial", no_checksum=mode == "none")
    if mode == "partial":
        csum = internet_checksum(buf)
        buf[CHECKSUM:CHECKSUM + 2] = (csum or 0xFFFF).to_bytes(2, "big")
    assert buf[CHECKSUM:CHECKSUM + 2] != b"\0\0" or mode == "none"
    assert UdpRepr.parse(buf, src, dst) == UdpRepr(sp, dp, payload, mode != "none")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.booleans())
def test_fuzz(data: bytes, verify: bool) -> None:
    try:
        r = UdpRepr.parse(data, A, B, verify)
    except MalformedPacket:
        return
    assert HEADER_LEN + len(r.payload) <= len(data)


@settings(max_examples=100, deadline=None)
@given(u16, u16, st.binary(max_size=100))
def test_scapy_dissects_ours(sp: int, dp: int, payload: bytes) -> None:
    r = UdpRepr(sp, dp, payload)
    buf = bytearray(r.buffer_len())
    r.emit(buf, A, B)
    s = UDP(bytes(buf))
    assert (s.sport, s.dport, s.len, bytes(s.payload)) == (sp, dp, len(buf), payload)
    pkt = IP(src=int_to_ip(A), dst=int_to_ip(B)) / UDP(bytes(buf))
    del pkt[UDP].chksum
    assert IP(raw(pkt))[UDP].chksum == s.chksum


@settings(max_examples=100, deadline=None)
@given(u16, u16, st.binary(max_size=100), u32, u32)
def test_ours_parses_scapy(sp: int, dp: int, payload: bytes, src: int, dst: int) -> None:
    data = raw(IP(src=int_to_ip(src), dst=int_to_ip(dst)) / UDP(sport=sp, dport=dp) / payload)[20:]
    assert UdpRepr.parse(data, src, dst) == UdpRepr(sp, dp, payload)
