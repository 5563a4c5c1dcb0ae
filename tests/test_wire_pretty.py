"""pretty_frame / pretty_ipv4: tcpdump-like lines for scapy-built frames; never raises on any bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, IPv6, raw

from aiostack.wire import OffloadFrame
from aiostack.wire.pretty import pretty_frame, pretty_ipv4
from aiostack.wire.vnet import GSO_ECN, GSO_TCPV4, NEEDS_CSUM

E = Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
IPAB = IP(src="198.18.0.1", dst="198.18.0.2")
SYNACK = E / IPAB / TCP(sport=5000, dport=80, seq=1, ack=2, flags="SA", window=65535,
                        options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
                                 ("WScale", 7)])

CASES = [
    (SYNACK, "IP 198.18.0.1.5000 > 198.18.0.2.80: Flags [S.], seq 1, ack 2, win 65535, "
             "options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"),
    (E / IPAB / TCP(sport=1, dport=2, seq=10, ack=20, flags="PA", window=5) / b"hello",
     "IP 198.18.0.1.1 > 198.18.0.2.2: Flags [P.], seq 10:15, ack 20, win 5, length 5"),
    (Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc="02:00:00:00:00:01", psrc="198.18.0.1", pdst="198.18.0.2"),
     "ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28"),
    (E / IPAB / UDP(sport=53, dport=5000) / b"abc", "IP 198.18.0.1.53 > 198.18.0.2.5000: UDP, length 3"),
    (E / IPAB / ICMP(id=3, seq=4) / b"abcd",
     "IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 3, seq 4, length 12"),
    (E / IPAB / TCP(chksum=1), "IP 198.18.0.1.20 > 198.18.0.2.80: Flags [S], seq 0, win 8192, length 0 "
                               "[bad tcp cksum 0x0001]"),
    (E / IP(src="198.18.0.1", dst="198.18.0.2", chksum=7) / UDP(sport=1, dport=2),
     "IP 198.18.0.1.1 > 198.18.0.2.2: UDP, length 0 [bad ip cksum 0x0007]"),
    (E / IP(src="198.18.0.1", dst="198.18.0.2", frag=10, id=5, proto=17) / b"abc",
     "IP 198.18.0.1 > 198.18.0.2: ip-proto-17 (frag 5:3@80)"),
    (E / IPv6(), "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv6 (0x86dd), length 54"),
    (E / IPAB / TCP(dataofs=3), "IP 198.18.0.1 > 198.18.0.2: [malformed tcp: bad_data_offset], length 20"),
]


@pytest.mark.parametrize("pkt,expected", CASES)
def test_lines(pkt: Ether, expected: str) -> None:
    assert pretty_frame(raw(pkt)) == expected


def test_link_prefix_and_ipv4_only() -> None:
    data = raw(SYNACK)
    assert pretty_frame(data, link=True).startswith(
        "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 74: IP 198.18.0.1.5000 >")
    assert pretty_ipv4(data[14:]) == pretty_frame(data)


def test_offload_frame() -> None:
    data = bytearray(raw(SYNACK))
    data[50:52] = b"\x12\x34"  # a partial checksum: not flagged when NEEDS_CSUM says so
    line = pretty_frame(OffloadFrame(bytes(data), NEEDS_CSUM, GSO_TCPV4 | GSO_ECN, 1448, 74, 34, 16))
    assert "bad" not in line and line.endswith("length 0 [gso tcpv4+ecn size 1448]")
    assert "[bad tcp cksum 0x1234]" in pretty_frame(bytes(data))


def test_malformed_never_raises() -> None:
    data = raw(SYNACK)
    assert pretty_frame(b"") == "[malformed ethernet: truncated], length 0"
    for n in range(len(data)):
        assert isinstance(pretty_frame(data[:n]), str)
    assert "malformed arp" in pretty_frame(raw(Ether() / ARP())[:20])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_fuzz_random(data: bytes) -> None:
    assert isinstance(pretty_frame(data), str)
    assert isinstance(pretty_frame(b"\0" * 12 + b"\x08\x00" + data), str)
    assert isinstance(pretty_ipv4(data), str)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 73), st.integers(0, 255))
def test_fuzz_mutated(i: int, value: int) -> None:
    data = bytearray(raw(SYNACK))
    data[i] = value
    assert isinstance(pretty_frame(bytes(data)), str)
    assert isinstance(pretty_frame(bytes(data), link=True), str)
