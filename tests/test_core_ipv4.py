"""IPv4: fragmentation on send, reassembly bounds/timeout/overlap, routing, loopback, receive checks."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_core_util import IP_A, IP_B, MAC_A, MAC_B, Net, frame_bytes, make_host, two_hosts

from aiostack.config import IpConfig
from aiostack.core.interface import Interface, parse_ipv4
from aiostack.core.ipv4 import Reassembler, build_ipv4_frames, write_ipv4_header
from aiostack.core.route import RouteTable
from aiostack.core.udp import UdpDatagram, build_udp
from aiostack.fastpath import internet_checksum
from aiostack.stats import Counters

SECOND = 1_000_000
ETH = MAC_B + MAC_A + b"\x08\x00"


def fragment_frame(ident: int, offset: int, more: bool, data: bytes, proto: int = 17, src: int = IP_A,
                   dst: int = IP_B) -> bytes:
    f = bytearray(34 + len(data))
    f[0:14] = ETH
    write_ipv4_header(f, 14, 20 + len(data), ident, (0x2000 if more else 0) | (offset >> 3), 64, proto, src, dst)
    f[34:] = data
    return bytes(f)


def test_fragment_round_trip_and_headers() -> None:
    payload = bytes(range(256)) * 16  # 4096 bytes
    frames = build_ipv4_frames(ETH, IP_A, IP_B, 17, 1234, 64, False, payload, 1500)
    assert frames is not None and len(frames) == 3
    offsets = []
    for f in frames:
        assert len(f) - 14 <= 1500 and internet_checksum(memoryview(f)[14:34]) == 0
        total, ident, ff = struct.unpack_from("!HHH", f, 16)
        assert total == len(f) - 14 and ident == 1234
        offsets.append(((ff & 0x1FFF) * 8, bool(ff & 0x2000), total - 20))
    assert offsets == [(0, True, 1480), (1480, True, 1480), (2960, False, 1136)]
    r = Reassembler(IpConfig(), Counters("ip"))
    out = None
    for f in reversed(frames):  # any order
        off, more, n = offsets[frames.index(f)]
        out = r.add(IP_A, IP_B, 17, 1234, off, more, bytes(f[34:]), bytes(f[14:34]), 0)
    assert out == payload and len(r) == 0 and r.bytes_buffered == 0
    # DF set and too big: refused.
    assert build_ipv4_frames(ETH, IP_A, IP_B, 17, 1, 64, True, payload, 1500) is None


def test_udp_fragmented_end_to_end_small_mtu() -> None:
    net, a, b = two_hosts(mtu=576)
    srv = b.udp_bind(IP_B, 7)
    cli = a.udp_bind()
    data = bytes(i % 251 for i in range(20000))
    cli.sendto(data, IP_B, 7, now_us=net.now)
    net.settle()
    assert srv.next_event() == UdpDatagram(data, IP_A, cli.local_port)
    assert all(len(frame_bytes(f)) - 14 <= 576 for h, _i, f in net.sent if h is a)


def test_overlapping_fragments_dropped_and_counted() -> None:
    c = Counters("ip")
    r = Reassembler(IpConfig(), c)
    assert r.add(IP_A, IP_B, 17, 1, 0, True, b"a" * 16, bytes(20), 0) is None
    assert r.add(IP_A, IP_B, 17, 1, 8, True, b"b" * 16, bytes(20), 0) is None  # overlaps [8, 16)
    assert c["drops.frag_overlap"] == 1 and len(r) == 0 and r.bytes_buffered == 0
    # An exact duplicate is only counted; reassembly still completes.
    r.add(IP_A, IP_B, 17, 2, 0, True, b"a" * 16, bytes(20), 0)
    r.add(IP_A, IP_B, 17, 2, 0, True, b"a" * 16, bytes(20), 0)
    assert c["frags_duplicate"] == 1
    assert r.add(IP_A, IP_B, 17, 2, 16, False, b"z", bytes(20), 0) == b"a" * 16 + b"z"
    # A fragment past a known end is inconsistent.
    r.add(IP_A, IP_B, 17, 3, 8, False, b"x" * 8, bytes(20), 0)
    assert r.add(IP_A, IP_B, 17, 3, 16, True, b"y" * 8, bytes(20), 0) is None
    assert c["drops.frag_inconsistent"] == 1
    # Non-final fragments must carry a multiple of 8 bytes (RFC 791).
    assert r.add(IP_A, IP_B, 17, 4, 0, True, b"x" * 7, bytes(20), 0) is None
    assert c["drops.frag_bad_length"] == 1


def test_overlap_through_host_counted_never_raised() -> None:
    net, a, b = two_hosts()
    srv = b.udp_bind(IP_B, 7)
    udp = build_udp(IP_A, IP_B, 1000, 7, b"q" * 40)
    b.receive_frames(1, [fragment_frame(77, 0, True, bytes(udp[:24])),
                         fragment_frame(77, 16, False, bytes(udp[16:]))], 0)
    assert srv.next_event() is None
    assert b.counters()["ip.drops.frag_overlap"] == 1


def test_reassembly_bounds_count_bytes_and_timeout() -> None:
    cfg = IpConfig(reassembly_max_datagrams=4, reassembly_max_bytes=100, reassembly_timeout_us=30 * SECOND)
    c = Counters("ip")
    r = Reassembler(cfg, c)
    for ident in range(6):
        r.add(IP_A, IP_B, 17, ident, 0, True, b"x" * 8, bytes(20), ident)
    assert len(r) == 4 and c["drops.frag_evicted"] == 2
    r.add(IP_A, IP_B, 17, 9, 0, True, b"y" * 96, bytes(20), 10)  # needs evictions to fit 100 bytes
    assert r.bytes_buffered <= 100
    r.add(IP_A, IP_B, 17, 10, 0, True, b"y" * 200, bytes(20), 10)  # can never fit
    assert c["drops.frag_memory"] == 1 and r.bytes_buffered <= 100
    assert r.poll_at() == 10 + 30 * SECOND
    assert r.expire(10 + 30 * SECOND - 1) == []
    expired = r.expire(10 + 30 * SECOND)
    assert len(r) == 0 and len(expired) >= 1 and c["drops.frag_timeout"] >= 1
    assert r.poll_at() is None


def test_reassembly_timeout_on_host_sends_time_exceeded() -> None:
    net, a, b = two_hosts()
    b.udp_bind(IP_B, 7)
    cli = a.udp_bind()
    cli.sendto(b"warm", IP_B, 7, now_us=0)  # ARP both ways
    net.settle()
    net.sent.clear()
    udp = build_udp(IP_A, IP_B, cli.local_port, 7, b"q" * 40)
    b.receive_frames(1, [fragment_frame(5, 0, True, bytes(udp[:24]))], net.now)
    assert b.poll_at() == net.now + IpConfig().reassembly_timeout_us
    net.advance(31 * SECOND)
    c = b.counters()
    assert c["ip.drops.frag_timeout"] == 1
    msgs = [frame_bytes(f)[34:] for h, _i, f in net.sent if h is b and frame_bytes(f)[23] == 1]
    assert len(msgs) == 1 and msgs[0][0] == 11 and msgs[0][1] == 1  # time exceeded, reassembly


def test_route_table_longest_prefix_and_default() -> None:
    t = RouteTable()
    t.add("0.0.0.0/0", 1, 1)
    t.add("10.0.0.0/8", None, 2)
    t.add("10.1.0.0/16", None, 3)
    t.add("10.1.2.0/24", 9, 4)
    assert t.lookup(parse_ipv4("10.1.2.3")).ifindex == 4
    assert t.lookup(parse_ipv4("10.1.3.3")).ifindex == 3
    assert t.lookup(parse_ipv4("10.2.0.1")).ifindex == 2
    assert t.lookup(parse_ipv4("192.0.2.1")).gateway == 1
    assert t.remove("10.1.0.0/16")
    assert t.lookup(parse_ipv4("10.1.3.3")).ifindex == 2
    t.remove("0.0.0.0/0")
    assert t.lookup(parse_ipv4("192.0.2.1")) is None


def test_host_default_gateway_uses_gateway_mac() -> None:
    net, a, b = two_hosts()
    a.add_route("0.0.0.0/0", gateway="198.18.0.2")
    srv_probe = []
    net.filter = lambda h, i, f: srv_probe.append(frame_bytes(f)) or True
    ep = a.udp_bind()
    ep.sendto(b"far away", parse_ipv4("203.0.113.9"), 53, now_us=0)
    net.settle()
    udp_frames = [f for f in srv_probe if f[12:14] == b"\x08\x00" and f[23] == 17]
    assert udp_frames and udp_frames[0][0:6] == MAC_B  # sent to the gateway's MAC
    assert struct.unpack_from("!I", udp_frames[0], 30)[0] == parse_ipv4("203.0.113.9")
    assert b.counters()["ip.drops.not_for_us"] == 1  # B is a host: it does not forward
    with pytest.raises(OSError):
        make_host().add_route("0.0.0.0/0", gateway="192.0.2.1")
    h = make_host()
    h.add_interface("eth0", MAC_A, "198.18.0.1/24", mtu=1500)
    with pytest.raises(OSError):
        h.udp_bind().sendto(b"x", parse_ipv4("203.0.113.9"), 1, now_us=0)
    assert h.counters()["udp.drops.no_route"] == 1


def test_interface_ethernet_header_made_once_per_destination() -> None:
    iface = Interface(1, "eth0", MAC_A, "198.18.0.1/24", mtu=1500)
    h = iface.eth_header(MAC_B)
    assert h == MAC_B + MAC_A + b"\x08\x00"  # RFC 894: destination, source, type IPv4
    assert iface.eth_header(MAC_B) is h  # kept, not rebuilt per frame
    assert iface.eth_header(b"\xff" * 6) == b"\xff" * 6 + MAC_A + b"\x08\x00"
    iface.mac = b"\x02\x00\x00\x00\x00\x09"  # a replaced MAC: headers made before are not reused
    assert iface.eth_header(MAC_B) == MAC_B + b"\x02\x00\x00\x00\x00\x09\x08\x00"
    for i in range(1000):  # bounded however many destinations
        iface.eth_header(i.to_bytes(6, "big"))
    assert len(iface._eth) <= 256
    assert iface.eth_header(MAC_B)[:6] == MAC_B


def test_loopback_interface_udp_and_own_address() -> None:
    net = Net()
    h = make_host()
    lo = h.add_interface("lo", bytes(6), "127.0.0.1/8", mtu=65535, loopback=True)
    eth = h.add_interface("eth0", MAC_A, "198.18.0.1/24", mtu=1500)
    net.loop(h, lo)
    net.settle()
    assert not [f for hh, i, f in net.sent if i == lo and frame_bytes(f)[12:14] == b"\x08\x06"]  # no ARP on lo
    srv = h.udp_bind(0, 7)
    cli = h.udp_bind(parse_ipv4("127.0.0.1"), 0)
    cli.sendto(b"x" * 30000, parse_ipv4("127.0.0.1"), 7, now_us=0)
    cli2 = h.udp_bind()
    cli2.sendto(b"to myself", IP_A, 7, now_us=0)
    net.settle()
    assert srv.next_event() == UdpDatagram(b"x" * 30000, parse_ipv4("127.0.0.1"), cli.local_port)
    assert srv.next_event() == UdpDatagram(b"to myself", IP_A, cli2.local_port)
    assert all(i == lo for hh, i, f in net.sent if frame_bytes(f)[12:14] == b"\x08\x00")
    assert eth != lo
    # Any 127/8 address is ours on lo; 127/8 arriving on a real interface is a martian.
    ep = h.udp_bind(parse_ipv4("127.0.0.5"), 9)
    cli.sendto(b"lo5", parse_ipv4("127.0.0.5"), 9, now_us=0)
    net.settle()
    assert ep.next_event().data == b"lo5"
    martian = bytearray(fragment_frame(1, 0, False, bytes(build_udp(parse_ipv4("127.0.0.1"), IP_A, 1, 7, b"")),
                                       src=parse_ipv4("127.0.0.1"), dst=IP_A))
    martian[0:6] = MAC_A
    h.receive_frames(eth, [bytes(martian)], 0)
    assert h.counters()["ip.drops.martian"] == 1


def test_ip_receive_checks_counted() -> None:
    h = make_host()
    h.add_interface("eth0", MAC_B, "198.18.0.2/24", mtu=1500)
    good = fragment_frame(1, 0, False, bytes(build_udp(IP_A, IP_B, 1, 7, b"hi")))
    bad_csum = bytearray(good)
    bad_csum[24] ^= 0xFF
    opts = bytearray(good)
    opts[14] = 0x46
    v6 = bytearray(good)
    v6[14] = 0x65
    short_total = bytearray(good)
    struct.pack_into("!H", short_total, 16, 10)
    long_total = bytearray(good)
    struct.pack_into("!H", long_total, 16, 1000)
    other_mac = bytearray(good)
    other_mac[0:6] = b"\x02\x00\x00\x00\x00\x09"
    unknown_type = bytearray(good)
    unknown_type[12:14] = b"\x86\xdd"
    bad_udp = bytearray(good)
    bad_udp[-1] ^= 1
    h.receive_frames(1, [bytes(bad_csum), bytes(opts), bytes(v6), bytes(short_total), bytes(long_total),
                         bytes(other_mac), bytes(unknown_type), good[:20], good[:5], bytes(bad_udp)], 0)
    c = h.counters()
    assert c["ip.drops.bad_checksum"] == 1 and c["ip.drops.options"] == 1 and c["ip.drops.bad_version"] == 1
    assert c["ip.drops.bad_total_length"] == 2 and c["eth.drops.not_our_mac"] == 1
    assert c["eth.drops.unknown_ethertype"] == 1 and c["ip.drops.truncated"] == 1 and c["eth.drops.truncated"] == 1
    assert c["udp.drops.bad_checksum"] == 1


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.integers(68, 1500), st.randoms(use_true_random=False))
def test_fragment_reassemble_round_trip_any_mtu_any_order(payload: bytes, mtu: int, rnd) -> None:
    frames = build_ipv4_frames(ETH, IP_A, IP_B, 17, 7, 64, False, payload, mtu)
    assert frames is not None
    if len(frames) == 1:
        assert len(frames[0]) - 14 <= mtu and bytes(frames[0][34:]) == payload  # not fragmented at all
        assert struct.unpack_from("!H", frames[0], 20)[0] == 0
        return
    rnd.shuffle(frames)
    r = Reassembler(IpConfig(), Counters("ip"))
    out = None
    for f in frames:
        assert len(f) - 14 <= mtu
        total, _ident, ff = struct.unpack_from("!HHH", f, 16)
        res = r.add(IP_A, IP_B, 17, 7, (ff & 0x1FFF) * 8, bool(ff & 0x2000), bytes(f[34:14 + total]),
                    bytes(f[14:34]), 0)
        if res is not None:
            out = res
    assert out == payload and len(r) == 0 and r.bytes_buffered == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 4), st.integers(0, 40), st.booleans()),
                max_size=30))
def test_reassembler_invariants_under_random_fragments(frags) -> None:
    cfg = IpConfig(reassembly_max_datagrams=3, reassembly_max_bytes=400)
    r = Reassembler(cfg, Counters("ip"))
    for ident, off8, size, more in frags:
        size = size * 8 if more else size
        r.add(IP_A, IP_B, 17, ident, off8 * 8, more, b"d" * size, bytes(20), 0)
        held = sum(p.received for p in r._parts.values())
        assert r.bytes_buffered == held <= 400 and len(r) <= 3
        for p in r._parts.values():
            ends = [(s, e) for s, e, _d in p.pieces]
            assert all(ends[i][1] <= ends[i + 1][0] for i in range(len(ends) - 1))  # never overlapping
