"""Ethernet II: golden bytes both ways, truncation, round trip, fuzz, scapy cross-check."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import ARP, IP, Ether, raw

from aiostack.errors import MalformedPacket
from aiostack.wire.ethernet import (
    BROADCAST,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
    HEADER_LEN,
    EthernetRepr,
    EthernetView,
    mac_from_str,
    mac_to_str,
)

MAC1 = bytes.fromhex("020000000001")
MAC2 = bytes.fromhex("020000000002")
GOLDEN = bytes.fromhex("020000000002" "020000000001" "0800") + b"payload"


def test_parse_golden() -> None:
    r = EthernetRepr.parse(GOLDEN)
    assert r == EthernetRepr(dst=MAC2, src=MAC1, ethertype=ETHERTYPE_IPV4)
    v = EthernetView(GOLDEN)
    v.check_len()
    assert (v.dst, v.src, v.ethertype) == (MAC2, MAC1, 0x0800)
    assert bytes(v.payload) == b"payload"
    r2, payload = EthernetRepr.parse_frame(GOLDEN)
    assert r2 == r and bytes(payload) == b"payload"


def test_emit_golden_writes_every_byte() -> None:
    r = EthernetRepr(dst=MAC2, src=MAC1, ethertype=ETHERTYPE_IPV4)
    assert r.buffer_len() == HEADER_LEN
    buf = bytearray(b"\xa5" * (HEADER_LEN + 2))
    r.emit(buf, 2)
    assert buf[:2] == b"\xa5\xa5"
    assert bytes(buf[2:]) == GOLDEN[:HEADER_LEN]


@pytest.mark.parametrize("n", range(HEADER_LEN))
def test_every_truncation_is_malformed(n: int) -> None:
    with pytest.raises(MalformedPacket) as ei:
        EthernetRepr.parse(GOLDEN[:n])
    assert ei.value.reason == "truncated"
    with pytest.raises(MalformedPacket):
        EthernetView(GOLDEN[:n]).check_len()


def test_mac_helpers() -> None:
    assert mac_to_str(MAC1) == "02:00:00:00:00:01"
    assert mac_from_str("02:00:00:00:00:01") == MAC1
    assert mac_from_str("FF-ff-ff-ff-ff-ff") == BROADCAST
    for bad in ["", "02:00:00:00:00", "02:00:00:00:00:0g", "020:00:00:00:00:01", "1:2:3:4:5:6:7"]:
        with pytest.raises(ValueError):
            mac_from_str(bad)


def test_pretty() -> None:
    r = EthernetRepr(dst=BROADCAST, src=MAC1, ethertype=ETHERTYPE_ARP)
    assert r.pretty(42) == "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42"


macs = st.binary(min_size=6, max_size=6)


@settings(max_examples=200, deadline=None)
@given(macs, macs, st.integers(0, 0xFFFF))
def test_round_trip(dst: bytes, src: bytes, et: int) -> None:
    r = EthernetRepr(dst, src, et)
    buf = bytearray(b"\xa5" * r.buffer_len())
    r.emit(buf)
    assert EthernetRepr.parse(buf) == r
    assert mac_from_str(mac_to_str(dst)) == dst


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz(data: bytes) -> None:
    try:
        r = EthernetRepr.parse(data)
    except MalformedPacket:
        assert len(data) < HEADER_LEN
    else:
        assert r.buffer_len() == HEADER_LEN


def test_scapy_dissects_ours() -> None:
    r = EthernetRepr(dst=MAC2, src=MAC1, ethertype=ETHERTYPE_IPV4)
    buf = bytearray(r.buffer_len())
    r.emit(buf)
    pkt = bytes(buf) + raw(IP(src="198.18.0.1", dst="198.18.0.2"))
    e = Ether(pkt)
    assert (e.dst, e.src, e.type) == ("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800)
    assert e.haslayer(IP)


def test_ours_parses_scapy() -> None:
    data = raw(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:07") / ARP())
    r, payload = EthernetRepr.parse_frame(data)
    assert r == EthernetRepr(BROADCAST, bytes.fromhex("020000000007"), ETHERTYPE_ARP)
    assert len(payload) == len(data) - HEADER_LEN
