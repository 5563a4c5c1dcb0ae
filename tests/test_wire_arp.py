"""ARP (Ethernet/IPv4): golden bytes both ways, every truncation, unsupported types, fuzz, scapy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import ARP, Ether, raw

from aiostack.errors import MalformedPacket
from aiostack.wire.arp import OP_REPLY, OP_REQUEST, PACKET_LEN, ArpRepr, ArpView
from aiostack.wire.ethernet import mac_to_str
from aiostack.wire.ipv4 import int_to_ip, ip_to_int

A = ip_to_int("198.18.0.1")
B = ip_to_int("198.18.0.2")
MAC1 = bytes.fromhex("020000000001")
MAC2 = bytes.fromhex("020000000002")

REQUEST = bytes.fromhex("0001080006040001020000000001c6120001000000000000c6120002")
REPLY = bytes.fromhex("0001080006040002020000000002c6120002020000000001c6120001")
REQUEST_REPR = ArpRepr(OP_REQUEST, MAC1, A, bytes(6), B)
REPLY_REPR = ArpRepr(OP_REPLY, MAC2, B, MAC1, A)


@pytest.mark.parametrize("golden,r", [(REQUEST, REQUEST_REPR), (REPLY, REPLY_REPR)])
def test_golden_both_ways(golden: bytes, r: ArpRepr) -> None:
    assert ArpRepr.parse(golden) == r
    assert ArpRepr.parse(golden + bytes(18)) == r  # padded to the Ethernet minimum
    assert r.buffer_len() == PACKET_LEN
    buf = bytearray(b"\xa5" * (PACKET_LEN + 2))
    r.emit(buf, 2)
    assert buf[:2] == b"\xa5\xa5" and bytes(buf[2:]) == golden
    v = ArpView(golden)
    v.check_len()
    assert (v.htype, v.ptype, v.hlen, v.plen, v.operation) == (1, 0x0800, 6, 4, r.operation)
    assert (v.sender_mac, v.sender_ip, v.target_mac, v.target_ip) == (
        r.sender_mac, r.sender_ip, r.target_mac, r.target_ip)


def test_request_and_reply_helpers() -> None:
    assert ArpRepr.request(MAC1, A, B) == REQUEST_REPR
    assert REQUEST_REPR.reply_from(MAC2) == REPLY_REPR


@pytest.mark.parametrize("golden", [REQUEST, REPLY])
def test_every_truncation_is_malformed(golden: bytes) -> None:
    for n in range(len(golden)):
        with pytest.raises(MalformedPacket) as ei:
            ArpRepr.parse(golden[:n])
        assert ei.value.reason == "truncated"
        with pytest.raises(MalformedPacket):
            ArpView(golden[:n]).check_len()


@pytest.mark.parametrize("offset,value", [(0, b"\x00\x06"), (2, b"\x86\xdd"), (4, b"\x08"), (5, b"\x10")])
def test_unsupported(offset: int, value: bytes) -> None:
    bad = bytearray(REQUEST)
    bad[offset:offset + len(value)] = value
    with pytest.raises(MalformedPacket) as ei:
        ArpRepr.parse(bad)
    assert ei.value.reason == "unsupported"


def test_pretty() -> None:
    assert REQUEST_REPR.pretty() == "ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28"
    assert REPLY_REPR.pretty() == "ARP, Reply 198.18.0.2 is-at 02:00:00:00:00:02, length 28"
    assert "Unknown operation (9)" in ArpRepr(9, MAC1, A, MAC2, B).pretty()


macs = st.binary(min_size=6, max_size=6)
u32 = st.integers(0, 0xFFFFFFFF)
reprs = st.builds(ArpRepr, st.integers(0, 0xFFFF), macs, u32, macs, u32)


@settings(max_examples=200, deadline=None)
@given(reprs)
def test_round_trip(r: ArpRepr) -> None:
    buf = bytearray(b"\xa5" * r.buffer_len())
    r.emit(buf)
    assert ArpRepr.parse(buf) == r


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40) | st.binary(max_size=40).map(lambda b: REQUEST[:8] + b))
def test_fuzz(data: bytes) -> None:
    try:
        ArpRepr.parse(data).pretty()
    except MalformedPacket:
        pass


@settings(max_examples=100, deadline=None)
@given(reprs)
def test_scapy_dissects_ours(r: ArpRepr) -> None:
    buf = bytearray(r.buffer_len())
    r.emit(buf)
    s = ARP(bytes(buf))
    assert (s.hwtype, s.ptype, s.hwlen, s.plen, s.op) == (1, 0x0800, 6, 4, r.operation)
    assert (s.hwsrc, s.psrc, s.hwdst, s.pdst) == (
        mac_to_str(r.sender_mac), int_to_ip(r.sender_ip), mac_to_str(r.target_mac), int_to_ip(r.target_ip))


@settings(max_examples=100, deadline=None)
@given(reprs)
def test_ours_parses_scapy(r: ArpRepr) -> None:
    frame = raw(Ether(dst="ff:ff:ff:ff:ff:ff", src=mac_to_str(r.sender_mac)) / ARP(
        op=r.operation, hwsrc=mac_to_str(r.sender_mac), psrc=int_to_ip(r.sender_ip),
        hwdst=mac_to_str(r.target_mac), pdst=int_to_ip(r.target_ip)))
    assert ArpRepr.parse(frame[14:]) == r
