"""virtio-net header and OffloadFrame: pack/unpack, golden bytes, validation, checksum completion."""

from __future__ import annotations

import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import IP, TCP, UDP, Ether, raw

from aiostack.errors import MalformedPacket
from aiostack.wire.ethernet import ETHERTYPE_IPV4, EthernetRepr
from aiostack.wire.ipv4 import PROTO_TCP, PROTO_UDP, Ipv4Repr, ip_to_int
from aiostack.wire.tcp import ACK, CWR, FIN, PSH, TcpRepr
from aiostack.wire.tcp import CHECKSUM as TCP_CHECKSUM
from aiostack.wire.udp import CHECKSUM as UDP_CHECKSUM
from aiostack.wire.udp import UdpRepr
from aiostack.wire.vnet import (
    DATA_VALID,
    GSO_ECN,
    GSO_NONE,
    GSO_TCPV4,
    GSO_TCPV6,
    GSO_UDP,
    GSO_UDP_L4,
    NEEDS_CSUM,
    VIRTIO_NET_HDR_F_DATA_VALID,
    VIRTIO_NET_HDR_F_NEEDS_CSUM,
    VNET_HDR_LEN,
    VNET_HDR_MRG_LEN,
    OffloadFrame,
    VnetHeader,
    complete_checksum,
    pack_vnet_header,
    segment_gso,
    unpack_vnet_header,
)

A = ip_to_int("198.18.0.1")
B = ip_to_int("198.18.0.2")
MAC1 = bytes.fromhex("020000000001")
MAC2 = bytes.fromhex("020000000002")

# flags NEEDS_CSUM, GSO_TCPV4, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16 (little-endian).
GOLDEN_LE = bytes.fromhex("0101" "4200" "a805" "2200" "1000")


def test_constants() -> None:
    assert (VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_DATA_VALID) == (1, 2)
    assert (NEEDS_CSUM, DATA_VALID) == (1, 2)
    assert (GSO_NONE, GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_ECN) == (0, 1, 3, 4, 0x80)
    assert VNET_HDR_LEN == struct.calcsize("=BBHHHH") == 10


@pytest.mark.skipif(sys.byteorder != "little", reason="golden bytes are little-endian (x86-64)")
def test_golden_both_ways() -> None:
    h = VnetHeader(NEEDS_CSUM, GSO_TCPV4, 66, 1448, 34, 16)
    assert VnetHeader.unpack(GOLDEN_LE) == h
    assert unpack_vnet_header(GOLDEN_LE) == tuple(h)
    buf = bytearray(b"\xa5" * 12)
    h.pack_into(buf)
    assert bytes(buf) == GOLDEN_LE + b"\xa5\xa5"
    buf = bytearray(b"\xa5" * 12)
    h.pack_into(buf, 0, VNET_HDR_MRG_LEN)
    assert bytes(buf) == GOLDEN_LE + b"\0\0"
    assert h.pack() == GOLDEN_LE
    buf = bytearray(b"\xa5" * 11)
    pack_vnet_header(buf, 1, *h)
    assert bytes(buf[1:]) == GOLDEN_LE and buf[0] == 0xA5
    with pytest.raises(ValueError):
        h.pack(11)


def test_every_truncation_is_malformed() -> None:
    for n in range(VNET_HDR_LEN):
        with pytest.raises(MalformedPacket):
            VnetHeader.unpack(GOLDEN_LE[:n])
        with pytest.raises(MalformedPacket):
            unpack_vnet_header(GOLDEN_LE[:n])
        with pytest.raises(MalformedPacket):
            OffloadFrame.from_vnet(GOLDEN_LE[:n])
    with pytest.raises(MalformedPacket):
        OffloadFrame.from_vnet(GOLDEN_LE + b"\0", VNET_HDR_MRG_LEN)


def _tcp_frame(payload: bytes, partial: bool) -> bytearray:
    t = TcpRepr(5000, 80, 1000, 2000, PSH | ACK, 501, ts_val=7, ts_ecr=9, payload=payload)
    ip = Ipv4Repr(A, B, PROTO_TCP, t.buffer_len(), dont_frag=True, ident=3)
    buf = bytearray(b"\xa5" * (14 + ip.total_len))
    EthernetRepr(MAC2, MAC1, ETHERTYPE_IPV4).emit(buf)
    ip.emit(buf, 14)
    t.emit(buf, A, B, 34, partial_checksum=partial)
    return buf


def test_offload_frame_round_trip_through_vnet_bytes() -> None:
    frame = _tcp_frame(b"x" * 3000, partial=True)
    of = OffloadFrame(frame, NEEDS_CSUM, GSO_TCPV4, 1448, 66, 34, TCP_CHECKSUM)
    assert of.needs_csum and of.is_gso and of.checksum_trusted and not of.data_valid
    assert of.frame_len == len(frame)
    wire = of.to_bytes()
    back = OffloadFrame.from_vnet(wire)
    assert back == of and isinstance(back.data, memoryview)
    wire12 = of.to_bytes(VNET_HDR_MRG_LEN)
    assert OffloadFrame.from_vnet(wire12, VNET_HDR_MRG_LEN) == of
    assert of.header() == VnetHeader(NEEDS_CSUM, GSO_TCPV4, 66, 1448, 34, 16)
    plain = OffloadFrame(b"abc")
    assert not plain.is_gso and not plain.checksum_trusted and plain.header() == VnetHeader()
    assert OffloadFrame(b"", gso_type=GSO_ECN).is_gso is False
    assert OffloadFrame(b"", gso_type=GSO_TCPV4 | GSO_ECN).is_gso


@pytest.mark.parametrize(
    "hdr,reason",
    [
        (VnetHeader(0, 2, 0, 0, 0, 0), "bad_gso_type"),
        (VnetHeader(0, 9, 0, 0, 0, 0), "bad_gso_type"),
        (VnetHeader(NEEDS_CSUM, GSO_TCPV4, 66, 0, 34, 16), "bad_gso_size"),
        (VnetHeader(NEEDS_CSUM, 0, 0, 0, 34, 16), "bad_csum_offset"),  # 34 + 16 + 2 > 40-byte frame
    ],
)
def test_from_vnet_rejects(hdr: VnetHeader, reason: str) -> None:
    with pytest.raises(MalformedPacket) as ei:
        OffloadFrame.from_vnet(hdr.pack() + bytes(40))
    assert ei.value.reason == reason


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_complete_checksum_tcp_matches_full(payload: bytes) -> None:
    full = _tcp_frame(payload, partial=False)
    part = _tcp_frame(payload, partial=True)
    done = complete_checksum(OffloadFrame(part, NEEDS_CSUM, csum_start=34, csum_offset=TCP_CHECKSUM))
    csum = int.from_bytes(full[50:52], "big")
    if csum == 0:  # complete_checksum stores a computed 0 as 0xFFFF (same one's-complement value)
        assert done[50:52] == b"\xff\xff" and done[:50] == full[:50] and done[52:] == full[52:]
    else:
        assert done == full
    s2 = Ether(bytes(done))
    del s2[TCP].chksum
    assert Ether(raw(s2))[TCP].chksum == csum  # scapy's own computation agrees


def test_complete_checksum_udp_and_plain() -> None:
    u = UdpRepr(53, 5000, b"hello")
    ip = Ipv4Repr(A, B, PROTO_UDP, u.buffer_len())
    buf = bytearray(14 + ip.total_len)
    EthernetRepr(MAC2, MAC1, ETHERTYPE_IPV4).emit(buf)
    ip.emit(buf, 14)
    u.emit(buf, A, B, 34, partial_checksum=True)
    done = complete_checksum(OffloadFrame(bytes(buf), NEEDS_CSUM, csum_start=34, csum_offset=UDP_CHECKSUM))
    s = Ether(bytes(done))
    s2 = Ether(bytes(done))
    del s2[UDP].chksum
    assert Ether(raw(s2))[UDP].chksum == s[UDP].chksum and s[UDP].chksum != 0
    assert complete_checksum(OffloadFrame(b"abc")) == bytearray(b"abc")
    with pytest.raises(ValueError):
        complete_checksum(OffloadFrame(b"abc", NEEDS_CSUM, csum_start=2, csum_offset=0))


hdrs = st.builds(VnetHeader, st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF),
                 st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))


@settings(max_examples=200, deadline=None)
@given(hdrs)
def test_header_round_trip(h: VnetHeader) -> None:
    buf = bytearray(b"\xa5" * VNET_HDR_LEN)
    h.pack_into(buf)
    assert VnetHeader.unpack(buf) == h


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.sampled_from([VNET_HDR_LEN, VNET_HDR_MRG_LEN]))
def test_fuzz(data: bytes, hl: int) -> None:
    try:
        f = OffloadFrame.from_vnet(data, hl)
    except MalformedPacket:
        return
    if f.needs_csum:
        complete_checksum(f)


def _super_frame(payload: bytes, flags: int, use_udp: bool = False) -> OffloadFrame:
    if use_udp:
        l4: TcpRepr | UdpRepr = UdpRepr(53, 5000, payload)
        proto, field = PROTO_UDP, UDP_CHECKSUM
    else:
        l4 = TcpRepr(5000, 80, 0xFFFFFF00, 2000, flags, 501, ts_val=7, ts_ecr=9, payload=payload)
        proto, field = PROTO_TCP, TCP_CHECKSUM
    ip = Ipv4Repr(A, B, proto, l4.buffer_len(), dont_frag=True, ident=0xFFFE)
    buf = bytearray(14 + ip.total_len)
    EthernetRepr(MAC2, MAC1, ETHERTYPE_IPV4).emit(buf)
    ip.emit(buf, 14)
    l4.emit(buf, A, B, 34, partial_checksum=True)
    hl = 34 + (l4.header_len if isinstance(l4, TcpRepr) else 8)
    gso = GSO_UDP_L4 if use_udp else GSO_TCPV4
    return OffloadFrame(bytes(buf), NEEDS_CSUM, gso, 1000, hl, 34, field)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=0, max_size=4500), st.sampled_from([ACK, PSH | ACK, FIN | PSH | ACK, CWR | ACK]))
def test_segment_gso_tcp(payload: bytes, flags: int) -> None:
    frames = segment_gso(_super_frame(payload, flags))
    assert len(frames) == max(1, -(-len(payload) // 1000))
    got = b""
    for i, f in enumerate(frames):
        s = Ether(bytes(f))
        t = s[TCP]
        assert s[IP].id == (0xFFFE + i) & 0xFFFF and s[IP].len == len(f) - 14 and s[IP].flags.DF
        assert t.seq == (0xFFFFFF00 + 1000 * i) & 0xFFFFFFFF and t.ack == 2000
        last = i == len(frames) - 1
        assert bool(t.flags.F) == (last and bool(flags & FIN)) and bool(t.flags.P) == (last and bool(flags & PSH))
        assert bool(t.flags.C) == (i == 0 and bool(flags & CWR))
        assert dict(t.options)["Timestamp"] == (7, 9)
        # scapy recomputes both checksums to the same values
        s2 = Ether(bytes(f))
        del s2[IP].chksum
        del s2[TCP].chksum
        s3 = Ether(raw(s2))
        assert (s3[IP].chksum, s3[TCP].chksum) == (s[IP].chksum, t.chksum) or t.chksum == 0xFFFF
        r = TcpRepr.parse(bytes(f)[34:], A, B)
        got += bytes(r.payload)
    assert got == payload


def test_segment_gso_udp_and_none() -> None:
    payload = bytes(range(256)) * 10
    frames = segment_gso(_super_frame(payload, 0, use_udp=True))
    assert len(frames) == 3
    got = b""
    for f in frames:
        s = Ether(bytes(f))
        assert s[UDP].len == len(f) - 34
        got += bytes(UdpRepr.parse(bytes(f)[34:], A, B).payload)
    assert got == payload
    one = _super_frame(b"abc", ACK)._replace(gso_type=GSO_NONE, gso_size=0)
    [f] = segment_gso(one)
    assert TcpRepr.parse(bytes(f)[34:], A, B).payload == b"abc"


@pytest.mark.parametrize("change,reason", [
    ({"gso_type": GSO_TCPV6}, "unsupported_gso"),
    ({"gso_type": GSO_UDP_L4}, "unsupported_gso"),  # the frame holds TCP
    ({"gso_size": 0}, "bad_gso_size"),
    ({"data": b"\0" * 13}, "unsupported_gso"),
    ({"data": bytes(12) + b"\x86\xdd" + bytes(40)}, "unsupported_gso"),
])
def test_segment_gso_rejects(change: dict[str, object], reason: str) -> None:
    f = _super_frame(b"x" * 10, ACK)._replace(**change)
    with pytest.raises(MalformedPacket) as ei:
        segment_gso(f)
    assert ei.value.reason == reason


@settings(max_examples=200, deadline=None)
@given(st.integers(14, 80), st.integers(0, 255), st.integers(0, 120))
def test_segment_gso_fuzz(i: int, value: int, cut: int) -> None:
    f = _super_frame(b"y" * 100, ACK)
    data = bytearray(f.data)
    data[i] = value
    try:
        segment_gso(f._replace(data=bytes(data[:len(data) - cut])))
    except MalformedPacket:
        pass
