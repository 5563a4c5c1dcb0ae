"""UDP endpoints and ICMP: echo, error generation with a rate limit, received errors mapped to endpoints."""

from __future__ import annotations

import errno
import struct

import pytest
from test_core_util import IP_A, IP_B, frame_bytes, make_host, two_hosts

from aiostack.config import IpConfig
from aiostack.core import icmp
from aiostack.core.udp import UdpDatagram, UdpError
from aiostack.errors import AddressInUse
from aiostack.fastpath import internet_checksum


def icmp_of(frame) -> bytes | None:
    b = frame_bytes(frame)
    if b[12:14] == b"\x08\x00" and b[23] == 1:
        return b[34:]
    return None


def test_udp_bind_conflicts_and_ephemeral() -> None:
    h = make_host()
    h.add_interface("eth0", bytes(5) + b"\x01", "198.18.0.1/24", mtu=1500)
    a = h.udp_bind(0, 5000)
    with pytest.raises(AddressInUse):
        h.udp_bind(IP_A, 5000)
    with pytest.raises(OSError) as ei:
        h.udp_bind(0xC6120063, 0)
    assert ei.value.errno == errno.EADDRNOTAVAIL
    ports = {h.udp_bind().local_port for _ in range(50)}
    assert len(ports) == 50 and all(32768 <= p <= 60999 for p in ports)
    a.close()
    assert h.udp_bind(IP_A, 5000).local_port == 5000


def test_udp_connect_filters_peer_and_send_without_address() -> None:
    net, a, b = two_hosts()
    srv = b.udp_bind(IP_B, 53)
    cli = a.udp_bind()
    other = a.udp_bind()
    cli.connect(IP_B, 53)
    cli.send(b"q", now_us=net.now)
    net.settle()
    ev = srv.next_event()
    assert ev == UdpDatagram(b"q", IP_A, cli.local_port)
    srv.sendto(b"r", IP_A, cli.local_port, now_us=net.now)
    net.settle()
    assert cli.next_event() == UdpDatagram(b"r", IP_B, 53)
    # A datagram to the connected endpoint's port from another peer port is not for it.
    other_srv = b.udp_bind(IP_B, 54)
    other_srv.sendto(b"spoof", IP_A, cli.local_port, now_us=net.now)
    net.settle()
    assert cli.next_event() is None
    assert a.counters()["udp.drops.no_port"] == 1
    with pytest.raises(OSError):
        other.send(b"no peer", now_us=net.now)


def test_udp_queue_byte_limit_counts_drops() -> None:
    net, a, b = two_hosts(ip_config=IpConfig(udp_queue_bytes=1000))
    srv = b.udp_bind(IP_B, 7)
    cli = a.udp_bind()
    for _ in range(5):
        cli.sendto(b"x" * 300, IP_B, 7, now_us=net.now)
    net.settle()
    got = []
    while (ev := srv.next_event()) is not None:
        got.append(ev)
    assert len(got) == 3
    assert b.counters()["udp.drops.queue_full"] == 2 and srv.drops == 2
    # Reading frees room again.
    cli.sendto(b"y" * 300, IP_B, 7, now_us=net.now)
    net.settle()
    assert srv.next_event().data == b"y" * 300


def test_closed_port_gets_port_unreachable_and_error_reaches_endpoint() -> None:
    net, a, b = two_hosts()
    cli = a.udp_bind()
    cli.connect(IP_B, 9)
    cli.send(b"anyone?", now_us=net.now)
    net.settle()
    msgs = [m for h, _i, f in net.sent if h is b and (m := icmp_of(f)) is not None]
    assert len(msgs) == 1
    m = msgs[0]
    assert m[0] == icmp.DEST_UNREACH and m[1] == icmp.UNREACH_PORT and internet_checksum(m) == 0
    # The quote: the original IP header and the UDP header.
    assert struct.unpack_from("!II", m, 8 + 12) == (IP_A, IP_B)
    assert struct.unpack_from("!HH", m, 28) == (cli.local_port, 9)
    ev = cli.next_event()
    assert isinstance(ev, UdpError) and ev.errno == errno.ECONNREFUSED and (ev.remote_ip, ev.remote_port) == (IP_B, 9)
    assert isinstance(ev.exception(), ConnectionRefusedError)
    assert b.counters()["icmp.port_unreachable_sent"] == 1
    assert a.counters()["icmp.errors_delivered"] == 1


def test_port_unreachable_rate_limited() -> None:
    net, a, b = two_hosts(ip_config=IpConfig(icmp_rate_per_s=100))
    cli = a.udp_bind()
    b.udp_bind(IP_B, 7)
    cli.sendto(b"warm up ARP", IP_B, 7, now_us=net.now)
    net.settle()
    for _ in range(200):
        cli.sendto(b"x", IP_B, 9, now_us=net.now)
    net.settle()
    c = b.counters()
    assert c["icmp.errors_sent"] == 50  # the burst
    assert c["icmp.errors_rate_limited"] == 150
    net.now += 100_000  # 0.1 s at 100/s: ten more tokens
    for _ in range(20):
        cli.sendto(b"x", IP_B, 9, now_us=net.now)
    net.settle()
    assert b.counters()["icmp.errors_sent"] == 60


def test_echo_request_reply() -> None:
    net, a, b = two_hosts()
    ep = a.ping(IP_B, seq=7, payload=b"abcdefgh" * 10, now_us=net.now)
    net.now += 500
    net.settle()
    assert ep in a.pop_ready()
    rep = ep.next_event()
    assert rep is not None and rep.src == IP_B and rep.seq == 7 and rep.payload == b"abcdefgh" * 10
    assert rep.sent_us == 0 and rep.now_us == 500
    assert b.counters()["icmp.echo_replies"] == 1 and b.counters()["icmp.echo_requests"] == 1


def test_large_echo_is_fragmented_and_reassembled_both_ways() -> None:
    net, a, b = two_hosts()
    payload = bytes(range(256)) * 20  # 5120 bytes: four fragments at MTU 1500
    ep = a.ping(IP_B, seq=1, payload=payload, now_us=net.now)
    net.settle()
    rep = ep.next_event()
    assert rep is not None and rep.payload == payload
    assert a.counters()["ip.fragments_created"] == 4 and b.counters()["ip.reassembled"] == 1
    assert a.counters()["ip.reassembled"] == 1


def test_frag_needed_updates_path_mtu() -> None:
    net, a, b = two_hosts()
    b.udp_bind(IP_B, 9)
    ep = a.udp_bind()
    ep.sendto(b"x" * 1400, IP_B, 9, now_us=net.now)  # to learn B's MAC
    net.settle()
    # A router says the path to B has MTU 1000 (RFC 1191 §4), quoting a datagram A sent.
    quoted = bytearray(28)
    struct.pack_into("!BBHHHBBHII", quoted, 0, 0x45, 0, 1428, 1, 0x4000, 64, 17, 0, IP_A, IP_B)
    struct.pack_into("!HHHH", quoted, 20, ep.local_port, 9, 1408, 0)
    msg = icmp.build_error(icmp.DEST_UNREACH, icmp.UNREACH_FRAG_NEEDED, 1000, memoryview(bytes(quoted)))
    frame = _ip_frame(b, a, 1, bytes(msg))
    a.receive_frames(1, [frame], net.now)
    assert a.path_mtu(IP_B, a.interface(1)) == 1000
    ev = ep.next_event()
    assert isinstance(ev, UdpError) and ev.errno == errno.EMSGSIZE
    net.sent.clear()
    ep.sendto(b"y" * 1400, IP_B, 9, now_us=net.now)
    sizes = [len(frame_bytes(f)) - 14 for h, _i, f in [(a, i, f) for i, f in a.poll_egress(net.now)]]
    assert max(sizes) <= 1000 and len(sizes) == 2
    # A zero MTU field falls back to the RFC 1191 plateau below the quoted length.
    assert icmp.next_pmtu(0, 1428) == 1006 and icmp.next_pmtu(0, 60) == 68


def _ip_frame(src_host, dst_host, proto: int, payload: bytes, src: int | None = None, dst: int | None = None,
              ttl: int = 64) -> bytes:
    from aiostack.core.ipv4 import write_ipv4_header

    s = src if src is not None else src_host.interface(1).ip
    d = dst if dst is not None else dst_host.interface(1).ip
    f = bytearray(34 + len(payload))
    f[0:6] = dst_host.interface(1).mac
    f[6:12] = src_host.interface(1).mac
    f[12:14] = b"\x08\x00"
    write_ipv4_header(f, 14, 20 + len(payload), 99, 0, ttl, proto, s, d)
    f[34:] = payload
    return bytes(f)


def test_no_icmp_error_about_icmp_error_or_broadcast() -> None:
    net, a, b = two_hosts()
    net.settle()
    net.sent.clear()
    # An ICMP error with an unknown protocol in it: B must not answer an error with an error.
    err = icmp.build_error(icmp.DEST_UNREACH, icmp.UNREACH_HOST, 0, memoryview(bytes(28)))
    b.receive_frames(1, [_ip_frame(a, b, 1, bytes(err))], net.now)
    # A UDP datagram to a closed port at the subnet broadcast: no port unreachable.
    udp = struct.pack("!HHHH", 1000, 9, 8, 0)
    bc = bytearray(_ip_frame(a, b, 17, udp, dst=0xC61200FF))
    bc[0:6] = b"\xff" * 6
    b.receive_frames(1, [bytes(bc)], net.now)
    assert b.poll_egress(net.now) == []
    # An unknown transport protocol to our unicast address: protocol unreachable.
    b.receive_frames(1, [_ip_frame(a, b, 200, b"zzzz")], net.now)
    net.settle()
    out = [m for h, _i, f in net.sent if h is b and (m := icmp_of(f)) is not None]
    assert len(out) == 1
    m = out[0]
    assert m[0] == icmp.DEST_UNREACH and m[1] == icmp.UNREACH_PROTOCOL
    assert b.counters()["ip.drops.unknown_protocol"] == 1


def test_limited_broadcast_reaches_wildcard_endpoint() -> None:
    net, a, b = two_hosts()
    srv = b.udp_bind(0, 67)
    cli = a.udp_bind(0, 68)
    cli.sendto(b"discover", 0xFFFFFFFF, 67, now_us=0)
    net.settle()
    assert srv.next_event() == UdpDatagram(b"discover", IP_A, 68)
    frames = [frame_bytes(f) for h, _i, f in net.sent if h is a and frame_bytes(f)[12:14] == b"\x08\x00"]
    assert frames and frames[0][0:6] == b"\xff" * 6
    # An unknown port at a broadcast address gets no ICMP error.
    cli.sendto(b"x", 0xFFFFFFFF, 99, now_us=0)
    net.settle()
    assert b.counters().get("icmp.errors_sent", 0) == 0 and b.counters()["udp.drops.no_port"] == 1


def test_port_unreachable_for_fragmented_datagram_quotes_first_fragment() -> None:
    net, a, b = two_hosts()
    cli = a.udp_bind()
    cli.connect(IP_B, 9)
    cli.send(b"x" * 4000, now_us=0)  # three fragments to a closed port
    net.settle()
    msgs = [m for h, _i, f in net.sent if h is b and (m := icmp_of(f)) is not None]
    assert len(msgs) == 1 and msgs[0][0] == icmp.DEST_UNREACH and msgs[0][1] == icmp.UNREACH_PORT
    q = msgs[0][8:]
    assert struct.unpack_from("!H", q, 2)[0] == 4028 and struct.unpack_from("!H", q, 6)[0] == 0  # whole, unfragmented
    ev = cli.next_event()
    assert isinstance(ev, UdpError) and ev.errno == errno.ECONNREFUSED


def test_icmp_error_about_an_echo_request_reaches_the_ping_endpoint() -> None:
    net, a, b = two_hosts()
    net.settle()
    ep = a.ping(0xCB007109, seq=5, payload=b"x" * 8, ident=77, now_us=0)  # routed nowhere: no route
    assert a.counters()["ip.drops.no_route"] == 1
    a.add_route("0.0.0.0/0", gateway="198.18.0.2")
    ep.send(0xCB007109, 6, b"y" * 8, now_us=0)
    net.settle()
    # B (the "router") is a host and drops it; it answers as a router would with host unreachable.
    req = next(frame_bytes(f) for h, _i, f in net.sent if h is a and frame_bytes(f)[12:14] == b"\x08\x00")
    err = icmp.build_error(icmp.DEST_UNREACH, icmp.UNREACH_HOST, 0, memoryview(req[14:]))
    a.receive_frames(1, [_ip_frame(b, a, 1, bytes(err))], net.now)
    assert ep in a.pop_ready()
    ev = ep.next_event()
    assert isinstance(ev, icmp.EchoError) and ev.kind == "host_unreachable" and ev.errno == errno.EHOSTUNREACH
    assert (ev.reporter, ev.dst, ev.ident, ev.seq) == (IP_B, 0xCB007109, 77, 6)


def test_redirect_from_the_first_hop_adds_a_host_route() -> None:
    from test_core_util import MAC_C, Net, make_host

    net = Net()
    a, b, c = make_host(1), make_host(2), make_host(3)
    a0 = a.add_interface("eth0", bytes.fromhex("020000000001"), "198.18.0.1/24", mtu=1500)
    b0 = b.add_interface("eth0", bytes.fromhex("020000000002"), "198.18.0.2/24", mtu=1500)
    c.add_interface("eth0", MAC_C, "198.18.0.3/24", mtu=1500)
    net.wire(a, a0, b, b0)
    a.add_route("0.0.0.0/0", gateway="198.18.0.2")
    far = 0xCB007109
    ep = a.udp_bind()
    ep.sendto(b"via b", far, 53, now_us=0)
    net.settle()
    req = next(frame_bytes(f) for h, _i, f in net.sent if h is a and frame_bytes(f)[23] == 17)
    # B says: use 198.18.0.3 for that destination.
    redirect = bytearray(icmp.build_error(icmp.REDIRECT, 1, 0xC6120003, memoryview(req[14:])))
    a.receive_frames(1, [_ip_frame(b, a, 1, bytes(redirect))], net.now)
    assert a.counters()["icmp.redirects_accepted"] == 1
    assert a.route(far)[1] == 0xC6120003 and a.route(0xCB007110)[1] == IP_B  # only that host
    # A redirect from someone who is not the first hop, or to an off-link gateway, is ignored.
    bogus = icmp.build_error(icmp.REDIRECT, 1, 0xC6120009, memoryview(req[14:]))
    a.receive_frames(1, [_ip_frame(b, a, 1, bytes(bogus), src=0xC6120007)], net.now)
    offlink = icmp.build_error(icmp.REDIRECT, 1, 0x0A000001, memoryview(req[14:]))
    a.receive_frames(1, [_ip_frame(b, a, 1, bytes(offlink), src=0xC6120003)], net.now)
    c_ = a.counters()
    assert c_["icmp.drops.redirect_not_from_gateway"] == 1 and c_["icmp.drops.redirect_bad_gateway"] == 1
    assert a.route(far)[1] == 0xC6120003
