"""IPv4 headers: golden bytes both ways, every truncation, bad fields, round trip, fuzz, scapy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import IP, raw

from aiostack.errors import MalformedPacket
from aiostack.wire.ipv4 import (
    CHECKSUM,
    PROTO_TCP,
    PROTO_UDP,
    TOTAL_LEN,
    Ipv4Repr,
    Ipv4View,
    int_to_ip,
    ip_to_int,
)

A = ip_to_int("198.18.0.1")
B = ip_to_int("198.18.0.2")

# IPv4 with a Router Alert option (RFC 2113), MF set, fragment offset 3 (= 24 bytes), ttl 5, UDP payload.
GOLDEN_HDR = bytes.fromhex("46000022" "00072003" "05117495" "c6120001" "c6120002" "94040000")
GOLDEN_PAYLOAD = bytes.fromhex("00010002000a0b46" "6869")
GOLDEN = GOLDEN_HDR + GOLDEN_PAYLOAD
GOLDEN_REPR = Ipv4Repr(
    src=A, dst=B, protocol=PROTO_UDP, payload_len=10, ttl=5, tos=0, ident=7,
    dont_frag=False, more_frags=True, frag_offset=24, options=bytes.fromhex("94040000"),
)
# The IP header of a TCP SYN-ACK: DF, tos 0x10, id 0x1234.
GOLDEN2 = bytes.fromhex("4510003c1234400040069c50c6120001c6120002") + bytes(40)


def test_addresses() -> None:
    assert A == 0xC6120001
    assert int_to_ip(A) == "198.18.0.1"
    assert ip_to_int("255.255.255.255") == 0xFFFFFFFF and int_to_ip(0) == "0.0.0.0"
    for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "a.b.c.d", "01.2.3.4", "1..2.3", " 1.2.3.4"]:
        with pytest.raises(ValueError):
            ip_to_int(bad)


def test_parse_golden() -> None:
    assert Ipv4Repr.parse(GOLDEN) == GOLDEN_REPR
    r, payload = Ipv4Repr.parse_packet(GOLDEN)
    assert r == GOLDEN_REPR and bytes(payload) == GOLDEN_PAYLOAD
    v = Ipv4View(GOLDEN)
    v.check_len()
    assert (v.version, v.header_len, v.total_len, v.ident, v.ttl, v.protocol) == (4, 24, 34, 7, 5, 17)
    assert (v.dont_frag, v.more_frags, v.frag_offset, v.checksum) == (False, True, 24, 0x7495)
    assert (v.src, v.dst, v.tos) == (A, B, 0)
    assert bytes(v.options) == bytes.fromhex("94040000") and bytes(v.payload) == GOLDEN_PAYLOAD
    assert v.verify_checksum()
    r2 = Ipv4Repr.parse(GOLDEN2)
    assert r2 == Ipv4Repr(src=A, dst=B, protocol=PROTO_TCP, payload_len=40, ttl=64, tos=0x10, ident=0x1234,
                          dont_frag=True)


def test_emit_golden_writes_every_byte() -> None:
    for golden, r in [(GOLDEN, GOLDEN_REPR), (GOLDEN2, Ipv4Repr.parse(GOLDEN2))]:
        hl = r.buffer_len()
        buf = bytearray(b"\xa5" * (hl + 3))
        r.emit(buf, 3)
        assert buf[:3] == b"\xa5" * 3
        assert bytes(buf[3:]) == golden[:hl]
        mv = memoryview(bytearray(b"\xa5" * hl))
        r.emit(mv)
        assert bytes(mv) == golden[:hl]


@pytest.mark.parametrize("n", range(len(GOLDEN)))
def test_every_truncation_is_malformed(n: int) -> None:
    with pytest.raises(MalformedPacket) as ei:
        Ipv4Repr.parse(GOLDEN[:n])
    assert ei.value.reason in ("truncated", "bad_total_length")
    with pytest.raises(MalformedPacket):
        Ipv4View(GOLDEN[:n]).check_len()
    with pytest.raises(MalformedPacket):
        Ipv4Repr.parse(GOLDEN[:n], verify_checksum=False)


def _patched(data: bytes, offset: int, value: bytes, fix_checksum: bool = True) -> bytes:
    b = bytearray(data)
    b[offset:offset + len(value)] = value
    if fix_checksum:
        from aiostack.fastpath import internet_checksum

        hl = (b[0] & 15) * 4
        b[CHECKSUM:CHECKSUM + 2] = b"\0\0"
        b[CHECKSUM:CHECKSUM + 2] = internet_checksum(bytes(b[:max(hl, 20)])).to_bytes(2, "big")
    return bytes(b)


@pytest.mark.parametrize(
    "offset,value,reason",
    [
        (0, b"\x66", "bad_version"),
        (0, b"\x44", "bad_ihl"),
        (0, b"\x40", "bad_ihl"),
        (0, b"\x4f", "truncated"),
        (TOTAL_LEN, b"\x00\x17", "bad_total_length"),  # total < header length
        (TOTAL_LEN, b"\x00\x23", "bad_total_length"),  # total > buffer
    ],
)
def test_bad_fields(offset: int, value: bytes, reason: str) -> None:
    bad = _patched(GOLDEN, offset, value)
    with pytest.raises(MalformedPacket) as ei:
        Ipv4Repr.parse(bad)
    assert ei.value.reason == reason
    with pytest.raises(MalformedPacket):
        Ipv4View(bad).check_len()


def test_bad_checksum_and_skip() -> None:
    bad = _patched(GOLDEN, 8, b"\x06", fix_checksum=False)  # ttl changed, checksum left stale
    with pytest.raises(MalformedPacket) as ei:
        Ipv4Repr.parse(bad)
    assert ei.value.reason == "bad_checksum"
    assert not Ipv4View(bad).verify_checksum()
    assert Ipv4Repr.parse(bad, verify_checksum=False).ttl == 6


def test_padding_after_total_length_is_ignored() -> None:
    padded = GOLDEN + b"\0" * 16
    r, payload = Ipv4Repr.parse_packet(padded)
    assert r == GOLDEN_REPR and bytes(payload) == GOLDEN_PAYLOAD
    assert bytes(Ipv4View(padded).payload) == GOLDEN_PAYLOAD


def test_emit_rejects_unencodable() -> None:
    buf = bytearray(80)
    for r in [
        Ipv4Repr(A, B, 6, 0, options=b"\x01\x01"),
        Ipv4Repr(A, B, 6, 0, options=b"\x01" * 44),
        Ipv4Repr(A, B, 6, 0, frag_offset=12),
        Ipv4Repr(A, B, 6, 65516),
    ]:
        with pytest.raises(ValueError):
            r.emit(buf)


def test_pretty() -> None:
    assert Ipv4Repr.parse(GOLDEN2).pretty() == (
        "IP 198.18.0.1 > 198.18.0.2: (tos 0x10, ttl 64, id 4660, offset 0, flags [DF], proto TCP (6), length 60)"
    )
    assert "flags [+]" in GOLDEN_REPR.pretty() and "options (4 bytes)" in GOLDEN_REPR.pretty()


u32 = st.integers(0, 0xFFFFFFFF)
reprs = st.builds(
    Ipv4Repr,
    src=u32,
    dst=u32,
    protocol=st.integers(0, 255),
    payload_len=st.integers(0, 65535 - 60),
    ttl=st.integers(0, 255),
    tos=st.integers(0, 255),
    ident=st.integers(0, 0xFFFF),
    dont_frag=st.booleans(),
    more_frags=st.booleans(),
    frag_offset=st.integers(0, 0x1FFF).map(lambda x: x * 8),
    options=st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
)


@settings(max_examples=200, deadline=None)
@given(reprs)
def test_round_trip(r: Ipv4Repr) -> None:
    hl = r.buffer_len()
    buf = bytearray(b"\xa5" * (hl + min(r.payload_len, 64)))
    r.emit(buf)
    # Parse the header alone: give a buffer as long as the total length claims.
    full = bytes(buf[:hl]) + bytes(r.payload_len)
    assert Ipv4Repr.parse(full) == r


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_random_bytes(data: bytes) -> None:
    for verify in (True, False):
        try:
            r, payload = Ipv4Repr.parse_packet(data, verify)
        except MalformedPacket:
            continue
        assert len(payload) == r.payload_len
        assert r.total_len <= len(data)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(GOLDEN) - 1), st.integers(0, 255))
def test_fuzz_mutated_golden(i: int, value: int) -> None:
    data = bytearray(GOLDEN)
    data[i] = value
    try:
        Ipv4Repr.parse(bytes(data), verify_checksum=False)
        v = Ipv4View(data)
        v.check_len()
        _ = (v.payload, v.options, v.frag_offset)
    except MalformedPacket:
        pass


def test_scapy_dissects_ours() -> None:
    for r in [GOLDEN_REPR, Ipv4Repr.parse(GOLDEN2)]:
        buf = bytearray(r.buffer_len() + r.payload_len)
        r.emit(buf)
        s = IP(bytes(buf))
        assert (s.version, s.ihl, s.tos, s.len, s.id, s.ttl, s.proto) == (
            4, r.header_len // 4, r.tos, r.total_len, r.ident, r.ttl, r.protocol)
        assert (s.src, s.dst, int(s.frag) * 8) == (int_to_ip(r.src), int_to_ip(r.dst), r.frag_offset)
        assert bool(s.flags.DF) == r.dont_frag and bool(s.flags.MF) == r.more_frags
        s2 = IP(bytes(buf))
        del s2.chksum
        assert IP(raw(s2)).chksum == s.chksum


@settings(max_examples=100, deadline=None)
@given(u32, u32, st.integers(0, 255), st.integers(1, 255), st.integers(0, 0xFFFF), st.booleans(),
       st.integers(0, 0x1FFF), st.binary(max_size=32))
def test_ours_parses_scapy(src: int, dst: int, tos: int, ttl: int, ident: int, df: bool, frag: int,
                           payload: bytes) -> None:
    pkt = IP(src=int_to_ip(src), dst=int_to_ip(dst), tos=tos, ttl=ttl, id=ident,
             flags="DF" if df else 0, frag=frag, proto=PROTO_UDP) / payload
    data = raw(pkt)
    r, p = Ipv4Repr.parse_packet(data)
    assert r == Ipv4Repr(src, dst, PROTO_UDP, len(payload), ttl, tos, ident, df, False, frag * 8)
    assert bytes(p) == payload
