"""ICMPv4: echo, destination unreachable (RFC 1191 MTU), time exceeded, quoted headers; golden, fuzz, scapy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import ICMP, IP, raw

from aiostack.errors import MalformedPacket
from aiostack.wire.icmpv4 import (
    DEST_UNREACHABLE,
    ECHO_REPLY,
    ECHO_REQUEST,
    HEADER_LEN,
    TIME_EXCEEDED_TTL,
    UNREACH_FRAG_NEEDED,
    UNREACH_HOST,
    UNREACH_PORT,
    Icmpv4Repr,
    Icmpv4View,
)
from aiostack.wire.ipv4 import PROTO_TCP, PROTO_UDP, Ipv4Repr, int_to_ip, ip_to_int

A = ip_to_int("198.18.0.1")
B = ip_to_int("198.18.0.2")
C = ip_to_int("198.18.0.9")

ECHO = bytes.fromhex("08006667000100026162636465666768")
ECHO_REPR = Icmpv4Repr.echo_request(1, 2, b"abcdefgh")
QUOTED_UDP = bytes.fromhex("4500001f000900004011ee9dc6120001c612000204d21388000b68dc")
PORT_UNREACH = bytes.fromhex("03037bbb00000000") + QUOTED_UDP
PORT_UNREACH_REPR = Icmpv4Repr.dest_unreachable(UNREACH_PORT, QUOTED_UDP)
QUOTED_TCP = bytes.fromhex("45000410000a40004006aaafc6120001c61200099c40005000000005")
FRAG_NEEDED = bytes.fromhex("03045aee00000578") + QUOTED_TCP
FRAG_NEEDED_REPR = Icmpv4Repr.dest_unreachable(UNREACH_FRAG_NEEDED, QUOTED_TCP, next_hop_mtu=1400)
TTL_EXCEEDED = bytes.fromhex("0b0073be00000000") + QUOTED_UDP
TTL_EXCEEDED_REPR = Icmpv4Repr.time_exceeded(TIME_EXCEEDED_TTL, QUOTED_UDP)

GOLDENS = [(ECHO, ECHO_REPR), (PORT_UNREACH, PORT_UNREACH_REPR), (FRAG_NEEDED, FRAG_NEEDED_REPR),
           (TTL_EXCEEDED, TTL_EXCEEDED_REPR)]


@pytest.mark.parametrize("golden,r", GOLDENS)
def test_golden_both_ways(golden: bytes, r: Icmpv4Repr) -> None:
    assert Icmpv4Repr.parse(golden) == r
    assert r.buffer_len() == len(golden)
    buf = bytearray(b"\xa5" * (len(golden) + 3))
    r.emit(buf, 3)
    assert buf[:3] == b"\xa5" * 3 and bytes(buf[3:]) == golden
    v = Icmpv4View(golden)
    v.check_len()
    assert (v.type, v.code, v.rest) == (r.type, r.code, r.rest)
    assert v.checksum == int.from_bytes(golden[2:4], "big") and v.verify_checksum()
    assert bytes(v.data) == bytes(r.data)


def test_echo_fields() -> None:
    r = Icmpv4Repr.parse(ECHO)
    assert (r.type, r.ident, r.seq, bytes(r.data)) == (ECHO_REQUEST, 1, 2, b"abcdefgh")
    v = Icmpv4View(ECHO)
    assert (v.ident, v.seq) == (1, 2)
    reply = Icmpv4Repr.echo_reply(r.ident, r.seq, r.data)
    assert (reply.type, reply.rest) == (ECHO_REPLY, r.rest) and not reply.is_error


def test_unreachable_mtu_and_quoted() -> None:
    r = Icmpv4Repr.parse(FRAG_NEEDED)
    assert (r.type, r.code, r.next_hop_mtu, r.is_error) == (DEST_UNREACHABLE, UNREACH_FRAG_NEEDED, 1400, True)
    assert Icmpv4View(FRAG_NEEDED).next_hop_mtu == 1400
    ip, l4 = r.quoted()
    assert ip == Ipv4Repr(A, C, PROTO_TCP, 1020, 64, 0, 10, dont_frag=True)
    assert bytes(l4) == bytes.fromhex("9c40005000000005")  # ports 40000 -> 80, seq 5
    ip2, l42 = Icmpv4Repr.parse(TTL_EXCEEDED).quoted()
    assert (ip2.src, ip2.dst, ip2.protocol, bytes(l42[:4])) == (A, B, PROTO_UDP, bytes.fromhex("04d21388"))


@pytest.mark.parametrize("cut", range(28))
def test_quoted_too_short(cut: int) -> None:
    with pytest.raises(MalformedPacket):
        Icmpv4Repr.dest_unreachable(UNREACH_PORT, QUOTED_UDP[:cut]).quoted()


@pytest.mark.parametrize("first,reason", [(b"\x65", "bad_version"), (b"\x44", "bad_ihl"), (b"\x46", "truncated")])
def test_quoted_bad_header(first: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacket) as ei:
        Icmpv4Repr.time_exceeded(0, first + QUOTED_UDP[1:]).quoted()
    assert ei.value.reason == reason
    with pytest.raises(MalformedPacket) as ei:
        Icmpv4Repr.time_exceeded(0, QUOTED_UDP[:2] + b"\x00\x10" + QUOTED_UDP[4:]).quoted()
    assert ei.value.reason == "bad_total_length"


@pytest.mark.parametrize("golden,r", GOLDENS)
def test_every_truncation_is_malformed(golden: bytes, r: Icmpv4Repr) -> None:
    for n in range(len(golden)):
        with pytest.raises(MalformedPacket) as ei:
            Icmpv4Repr.parse(golden[:n])
        assert ei.value.reason == ("truncated" if n < HEADER_LEN else "bad_checksum")
        if n < HEADER_LEN:
            with pytest.raises(MalformedPacket):
                Icmpv4Repr.parse(golden[:n], verify_checksum=False)
            with pytest.raises(MalformedPacket):
                Icmpv4View(golden[:n]).check_len()


def test_bad_checksum_and_skip() -> None:
    bad = ECHO[:-1] + b"i"
    with pytest.raises(MalformedPacket) as ei:
        Icmpv4Repr.parse(bad)
    assert ei.value.reason == "bad_checksum"
    assert bytes(Icmpv4Repr.parse(bad, verify_checksum=False).data) == b"abcdefgi"


def test_pretty() -> None:
    assert ECHO_REPR.pretty(A, B) == "IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 1, seq 2, length 16"
    assert PORT_UNREACH_REPR.pretty() == "ICMP 198.18.0.2 udp port 5000 unreachable, length 36"
    assert FRAG_NEEDED_REPR.pretty() == "ICMP 198.18.0.9 unreachable - need to frag (mtu 1400), length 36"
    assert TTL_EXCEEDED_REPR.pretty() == "ICMP time exceeded in-transit, length 36"
    assert Icmpv4Repr.dest_unreachable(UNREACH_HOST, QUOTED_UDP).pretty().startswith("ICMP host 198.18.0.2 unr")
    assert Icmpv4Repr.dest_unreachable(UNREACH_HOST, b"").pretty() == "ICMP unreachable, code 1, length 8"
    assert Icmpv4Repr(13, 0).pretty() == "ICMP type 13, code 0, length 8"


u16 = st.integers(0, 0xFFFF)
reprs = st.builds(Icmpv4Repr, st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFFFFFF),
                  st.binary(max_size=100))


@settings(max_examples=200, deadline=None)
@given(reprs)
def test_round_trip(r: Icmpv4Repr) -> None:
    buf = bytearray(b"\xa5" * r.buffer_len())
    r.emit(buf)
    assert Icmpv4Repr.parse(buf) == r
    r.pretty(A, B)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), st.booleans())
def test_fuzz(data: bytes, verify: bool) -> None:
    try:
        r = Icmpv4Repr.parse(data, verify)
    except MalformedPacket:
        return
    r.pretty()
    try:
        r.quoted()
    except MalformedPacket:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(FRAG_NEEDED) - 1), st.integers(0, 255))
def test_fuzz_mutated_error(i: int, value: int) -> None:
    data = bytearray(FRAG_NEEDED)
    data[i] = value
    r = Icmpv4Repr.parse(data, verify_checksum=False)
    try:
        r.quoted()
    except MalformedPacket:
        pass
    r.pretty()


@settings(max_examples=100, deadline=None)
@given(u16, u16, st.binary(max_size=64))
def test_scapy_dissects_ours_echo(ident: int, seq: int, payload: bytes) -> None:
    r = Icmpv4Repr.echo_reply(ident, seq, payload)
    buf = bytearray(r.buffer_len())
    r.emit(buf)
    s = ICMP(bytes(buf))
    assert (s.type, s.code, s.id, s.seq, bytes(s.payload)) == (0, 0, ident, seq, payload)
    s2 = ICMP(bytes(buf))
    del s2.chksum
    assert ICMP(raw(s2)).chksum == s.chksum


def test_scapy_dissects_ours_errors() -> None:
    for r in (FRAG_NEEDED_REPR, PORT_UNREACH_REPR, TTL_EXCEEDED_REPR):
        buf = bytearray(r.buffer_len())
        r.emit(buf)
        s = ICMP(bytes(buf))
        assert (s.type, s.code) == (r.type, r.code)
        if r.code == UNREACH_FRAG_NEEDED:
            assert s.nexthopmtu == 1400
        quoted = s.payload  # scapy dissects the quote as IPerror
        assert quoted.src == int_to_ip(A) and quoted.dst == int_to_ip(r.quoted()[0].dst)
        s2 = ICMP(bytes(buf))
        del s2.chksum
        assert ICMP(raw(s2)).chksum == s.chksum


@settings(max_examples=100, deadline=None)
@given(u16, u16, st.binary(max_size=64), st.sampled_from([ECHO_REQUEST, ECHO_REPLY]))
def test_ours_parses_scapy(ident: int, seq: int, payload: bytes, t: int) -> None:
    data = raw(IP(src=int_to_ip(A), dst=int_to_ip(B)) / ICMP(type=t, id=ident, seq=seq) / payload)[20:]
    assert Icmpv4Repr.parse(data) == Icmpv4Repr(t, 0, (ident << 16) | seq, payload)


@settings(max_examples=100, deadline=None)
@given(st.integers(576, 0xFFFF), st.integers(0, 0xFFFF))
def test_ours_parses_scapy_frag_needed(mtu: int, ident: int) -> None:
    quoted = raw(IP(src=int_to_ip(A), dst=int_to_ip(C), id=ident, flags="DF") / (b"\0" * 40))[:28]
    data = raw(ICMP(type=DEST_UNREACHABLE, code=UNREACH_FRAG_NEEDED, nexthopmtu=mtu) / quoted)
    r = Icmpv4Repr.parse(data)
    assert (r.next_hop_mtu, r.quoted()[0].ident, r.quoted()[0].dst, r.type) == (mtu, ident, C, DEST_UNREACHABLE)
    assert r.is_error and r.quoted()[0].dont_frag
