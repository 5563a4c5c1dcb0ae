"""TCP through whole hosts: connect/listen/transfer, RST for closed ports, loopback, GSO egress,
ICMP errors (connect refused, path MTU), ARP failure (EHOSTUNREACH)."""

from __future__ import annotations

import errno
import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_core_util import IP_A, IP_B, IP_C, Net, frame_bytes, make_host, two_hosts

from aiostack.core import icmp
from aiostack.core.interface import parse_ipv4
from aiostack.core.tcp.events import Closed, Connected, DataReceived, EofReceived
from aiostack.core.tcp.state import ESTABLISHED
from aiostack.fastpath import checksum_partial, pseudo_header_sum
from aiostack.wire.vnet import GSO_TCPV4, NEEDS_CSUM, OffloadFrame, complete_checksum

SECOND = 1_000_000


class Caps:
    def __init__(self, mtu: int, checksum_offload: bool = False, gso_max_bytes: int = 0) -> None:
        self.mtu = mtu
        self.checksum_offload = checksum_offload
        self.gso_max_bytes = gso_max_bytes


def events(conn) -> list:
    out = []
    while (ev := conn.next_event()) is not None:
        out.append(ev)
    return out


def open_pair(net: Net, a, b, port: int = 80, dst: int = IP_B, b_ip: int = 0):
    listener = b.tcp_listen(b_ip, port, 16)
    cli = a.tcp_connect(dst, port, now_us=net.now)
    net.settle()
    assert listener in b.pop_ready()  # the accept queue got a connection
    srv = listener.accept()
    assert srv is not None, "no connection accepted"
    assert cli.state is ESTABLISHED and srv.state is ESTABLISHED
    return listener, cli, srv


def transfer(net: Net, sender_host, sender, receiver, data: bytes, max_rounds: int = 100000) -> bytes:
    """Push ``data`` from ``sender`` to ``receiver`` on the virtual clock; returns what arrived."""
    got = bytearray()
    off = 0
    for _ in range(max_rounds):
        if off < len(data):
            off += sender.send(memoryview(data)[off:off + 256 * 1024])
            sender_host.notify(sender)
        net.step()
        chunk = receiver.read()
        if chunk:
            got += chunk
            # consume opened the window: let the receiver's host send the update
            for h in net.hosts:
                h.notify(receiver)
        if len(got) >= len(data):
            return bytes(got)
        if not net.step():
            net.advance(10_000)
    raise AssertionError(f"transfer stalled at {len(got)} of {len(data)} bytes")


def test_connect_listen_transfer_close() -> None:
    net, a, b = two_hosts()
    listener, cli, srv = open_pair(net, a, b)
    assert Connected() in events(cli)
    data = bytes(i * 7 % 256 for i in range(300_000))
    got = transfer(net, a, cli, srv, data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    back = transfer(net, b, srv, cli, b"pong" * 1000)
    assert back == b"pong" * 1000
    cli.shutdown_write()
    a.notify(cli)
    net.settle()
    assert EofReceived() in events(srv)
    srv.close()
    b.notify(srv)
    net.advance(1000)
    net.advance(61 * SECOND)  # TIME-WAIT ends
    assert any(isinstance(e, Closed) and e.error is None for e in events(cli))
    assert a.tcp_connections() == [] and b.tcp_connections() == []
    c = a.counters()
    assert c["tcp.active_opens"] == 1 and c["tcp.segments_sent"] > 200 and c["tcp.segments_received"] > 10
    assert b.counters()["tcp.passive_opens"] == 1


def test_segments_to_closed_port_get_rst_and_refuse_connect() -> None:
    net, a, b = two_hosts()
    cli = a.tcp_connect(IP_B, 81, now_us=0)
    net.settle()
    evs = events(cli)
    assert len(evs) == 1 and isinstance(evs[0], Closed) and isinstance(evs[0].error, ConnectionRefusedError)
    assert b.counters()["tcp.rst_sent"] == 1 and b.counters()["tcp.segments_to_closed_port"] == 1
    assert a.tcp_connections() == []


def test_ephemeral_ports_unique_and_in_range() -> None:
    net, a, b = two_hosts()
    b.tcp_listen(0, 80, 128)
    conns = [a.tcp_connect(IP_B, 80, now_us=0) for _ in range(40)]
    ports = {c.local_port for c in conns}
    assert len(ports) == 40 and all(32768 <= p <= 60999 for p in ports)
    net.settle()
    assert all(c.state is ESTABLISHED for c in conns)


def test_loopback_tcp_full_path() -> None:
    net = Net()
    h = make_host()
    lo = h.add_interface("lo", bytes(6), "127.0.0.1/8", mtu=65535, loopback=True)
    h.add_interface("eth0", bytes.fromhex("020000000001"), "198.18.0.1/24", mtu=1500)
    net.loop(h, lo)
    listener = h.tcp_listen(0, 8080, 8)
    cli = h.tcp_connect(parse_ipv4("127.0.0.1"), 8080, now_us=0)
    net.settle()
    srv = listener.accept()
    assert srv is not None and srv.remote_port == cli.local_port
    data = bytes(range(256)) * 2000
    assert transfer(net, h, cli, srv, data) == data
    # A connection to our own Ethernet address also goes through lo.
    cli2 = h.tcp_connect(IP_A, 8080, now_us=net.now)
    net.settle()
    assert cli2.state is ESTABLISHED and listener.accept() is not None
    assert all(i == lo for _h, i, f in net.sent if frame_bytes(f)[12:14] == b"\x08\x00")


def test_gso_offload_egress_and_super_frame_ingress() -> None:
    caps = Caps(1500, checksum_offload=True, gso_max_bytes=65535)
    net, a, b = two_hosts(caps=caps)
    _l, cli, srv = open_pair(net, a, b)
    data = bytes(i % 253 for i in range(200_000))
    got = transfer(net, a, cli, srv, data)
    assert got == data
    supers = [f for h, _i, f in net.sent if h is a and isinstance(f, OffloadFrame) and f.gso_type == GSO_TCPV4]
    assert supers, "no GSO super-frames were emitted"
    f = supers[0]
    assert f.flags & NEEDS_CSUM and f.csum_start == 34 and f.csum_offset == 16
    assert f.gso_size == cli.snd_mss and (len(f.data) - f.hdr_len) % f.gso_size == 0
    assert len(f.data) - 14 > 1500
    # The checksum field holds the pseudo-header sum; completing it gives a valid segment.
    tcp_len = len(f.data) - 34
    assert struct.unpack_from("!H", f.data, 50)[0] == pseudo_header_sum(IP_A, IP_B, 6, tcp_len)
    done = complete_checksum(f)
    assert checksum_partial(memoryview(done)[34:], pseudo_header_sum(IP_A, IP_B, 6, tcp_len)) == 0xFFFF
    # Segments no larger than the MSS go out with NEEDS_CSUM only.
    small = [f for h, _i, f in net.sent if h is b and isinstance(f, OffloadFrame) and f.gso_type == 0]
    assert small and all(f.flags & NEEDS_CSUM for f in small)


def test_super_frame_from_plain_device_dropped() -> None:
    caps = Caps(1500, checksum_offload=True, gso_max_bytes=65535)
    net, a, b = two_hosts(caps=caps)
    _l, cli, srv = open_pair(net, a, b)
    cli.send(b"x" * 20000)
    a.notify(cli)
    frames = a.poll_egress(net.now)
    big = [f for _i, f in frames if isinstance(f, OffloadFrame) and f.gso_type]
    assert big
    # The same bytes without offload metadata (and a completed checksum) exceed the MTU: dropped.
    b.receive_frames(1, [bytes(complete_checksum(big[0]))], net.now)
    assert b.counters()["ip.drops.oversize"] == 1
    b.receive_frames(1, [big[0]], net.now)
    assert srv.recv_buffer_bytes == len(big[0].data) - big[0].hdr_len


def test_icmp_port_unreachable_refuses_connect_and_frag_needed_lowers_mss() -> None:
    net, a, b = two_hosts()
    b.udp_bind(IP_B, 7)
    a.udp_bind().sendto(b"arp", IP_B, 7, now_us=0)
    net.settle()
    cli = a.tcp_connect(IP_B, 80, now_us=net.now)
    out = a.poll_egress(net.now)
    syn = frame_bytes(out[0][1])
    err = icmp.build_error(icmp.DEST_UNREACH, icmp.UNREACH_PORT, 0, memoryview(syn[14:]))
    a.receive_frames(1, [_icmp_frame(b, a, bytes(err))], net.now)
    evs = events(cli)
    assert len(evs) == 1 and isinstance(evs[0].error, ConnectionRefusedError)
    # Established connection: fragmentation needed lowers the MSS (RFC 1191).
    _l, cli, srv = open_pair(net, a, b)
    cli.send(b"z" * 10000)
    a.notify(cli)
    out = a.poll_egress(net.now)
    seg = frame_bytes(out[0][1])
    err = icmp.build_error(icmp.DEST_UNREACH, icmp.UNREACH_FRAG_NEEDED, 1200, memoryview(seg[14:]))
    before = cli.snd_mss
    a.receive_frames(1, [_icmp_frame(b, a, bytes(err))], net.now)
    assert cli.snd_mss <= 1160 < before  # MTU - 40, less the timestamp option
    assert a.path_mtu(IP_B, a.interface(1)) == 1200
    # A forged error quoting a sequence number outside the window is ignored (RFC 5927).
    bad = bytearray(seg[14:])
    struct.pack_into("!I", bad, 24, (struct.unpack_from("!I", bad, 24)[0] + 10**9) & 0xFFFFFFFF)
    err = icmp.build_error(icmp.DEST_UNREACH, icmp.UNREACH_FRAG_NEEDED, 600, memoryview(bytes(bad)))
    mss = cli.snd_mss
    a.receive_frames(1, [_icmp_frame(b, a, bytes(err))], net.now)
    assert cli.snd_mss == mss and a.counters()["tcp.drops.icmp_bad_seq"] == 1


def _icmp_frame(src_host, dst_host, msg: bytes) -> bytes:
    from aiostack.core.ipv4 import write_ipv4_header

    f = bytearray(34 + len(msg))
    f[0:6] = dst_host.interface(1).mac
    f[6:12] = src_host.interface(1).mac
    f[12:14] = b"\x08\x00"
    write_ipv4_header(f, 14, 20 + len(msg), 1, 0, 64, 1, src_host.interface(1).ip, dst_host.interface(1).ip)
    f[34:] = msg
    return bytes(f)


def test_arp_failure_fails_connect_with_ehostunreach() -> None:
    net, a, _b = two_hosts()
    cli = a.tcp_connect(IP_C, 80, now_us=0)
    net.advance(5 * SECOND)
    assert cli in a.pop_ready()
    evs = events(cli)
    assert evs and isinstance(evs[-1], Closed) and isinstance(evs[-1].error, OSError)
    assert evs[-1].error.errno == errno.EHOSTUNREACH
    assert a.tcp_connections() == []


def test_listener_close_resets_unaccepted_and_ack_to_listener_gets_rst() -> None:
    net, a, b = two_hosts()
    listener = b.tcp_listen(IP_B, 80, 4)
    cli = a.tcp_connect(IP_B, 80, now_us=0)
    net.settle()
    assert listener.pending == 1
    b.release(listener)
    net.settle()
    assert any(isinstance(e, Closed) and isinstance(e.error, ConnectionResetError) for e in events(cli))
    assert b.tcp_listeners() == []
    with pytest.raises(OSError):
        b.tcp_listen(0xC6120063, 80)


def test_pop_ready_reports_touched_objects_only() -> None:
    net, a, b = two_hosts()
    listener, cli, srv = open_pair(net, a, b)
    a.pop_ready()
    b.pop_ready()
    cli.send(b"hello")
    a.notify(cli)
    net.settle()
    ready_b = b.pop_ready()
    assert srv in ready_b and DataReceived(5) in events(srv)
    assert listener not in ready_b


def test_syn_to_time_wait_reopens_through_listener() -> None:
    net, a, b = two_hosts()
    listener, cli, srv = open_pair(net, a, b)
    port = cli.local_port
    # The server closes first, so the server side ends in TIME-WAIT; the client's side goes away.
    srv.close()
    b.notify(srv)
    net.settle()
    cli.close()
    a.notify(cli)
    net.settle()
    assert int(srv.state) == 10 and a.tcp_connections() == []
    net.now += 2 * SECOND
    # RFC 6191: a new SYN from the same port, beyond the old sequence space, reopens the 4-tuple.
    again = a.tcp_connect(IP_B, 80, local_port=port, now_us=net.now)
    net.settle()
    assert again.state is ESTABLISHED
    new_srv = listener.accept()
    assert new_srv is not None and new_srv is not srv and new_srv.remote_port == port
    assert b.counters()["tcp.time_wait_reused"] == 1
    assert srv not in b.tcp_connections()


def test_interleaved_segments_of_two_connections_reach_their_own() -> None:
    # The host looks up the previous segment's connection first: segments alternating between two
    # connections of the same two hosts (same addresses, other ports) must still each reach their own.
    net, a, b = two_hosts()
    listener = b.tcp_listen(0, 80, 16)
    c1 = a.tcp_connect(IP_B, 80, now_us=net.now)
    c2 = a.tcp_connect(IP_B, 80, now_us=net.now)
    net.settle()
    s1, s2 = listener.accept(), listener.accept()
    assert s1 is not None and s2 is not None
    if s1.remote_port != c1.local_port:
        s1, s2 = s2, s1
    for i in range(20):
        c1.send(b"one%02d" % i)
        c2.send(b"two%02d" % i)
        a.notify(c1)
        a.notify(c2)
        net.settle()
    assert s1.read() == b"".join(b"one%02d" % i for i in range(20))
    assert s2.read() == b"".join(b"two%02d" % i for i in range(20))
    # a connection that goes away is not kept for the look-up
    c1.abort()
    a.notify(c1)
    net.settle()
    assert s1 not in b.tcp_connections()
    rec = b._rx_rec
    assert rec is None or rec.conn is not s1


@pytest.mark.timeout(120)
def test_transfer_with_seeded_loss_ends_with_equal_sha256() -> None:
    import random

    net, a, b = two_hosts()
    _l, cli, srv = open_pair(net, a, b)
    rng = random.Random(1234)  # fixed seed: the run is reproducible
    net.filter = lambda h, i, f: rng.random() >= 0.05
    data = bytes(rng.getrandbits(8) for _ in range(200_000))
    got = transfer(net, a, cli, srv, data)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    assert a.counters()["tcp.segments_sent"] > 140


def test_fragmented_tcp_segment_is_reassembled_and_delivered() -> None:
    from aiostack.core.ipv4 import build_ipv4_frames

    net, a, b = two_hosts()
    _l, cli, srv = open_pair(net, a, b)
    cli.send(b"F" * 1000)
    a.notify(cli)
    (_i, frame), = a.poll_egress(net.now)
    fb = frame_bytes(frame)
    tcp = fb[34:]
    # Re-send the same segment without DF, cut into IP fragments of 256 bytes of payload.
    frags = build_ipv4_frames(fb[:14], IP_A, IP_B, 6, 4242, 64, False, tcp, 276)
    assert frags is not None and len(frags) == 5
    b.receive_frames(1, list(reversed(frags)), net.now)
    assert srv.read() == b"F" * 1000
    assert b.counters()["ip.reassembled"] == 1


def test_two_interfaces_route_by_prefix() -> None:
    net = Net()
    a = make_host(1)
    b = make_host(2)
    c = make_host(3)
    a0 = a.add_interface("eth0", bytes.fromhex("020000000001"), "198.18.0.1/24", mtu=1500)
    a1 = a.add_interface("eth1", bytes.fromhex("020000000011"), "198.19.0.1/24", mtu=9000)
    b0 = b.add_interface("eth0", bytes.fromhex("020000000002"), "198.18.0.2/24", mtu=1500)
    c0 = c.add_interface("eth0", bytes.fromhex("020000000003"), "198.19.0.3/24", mtu=9000)
    net.wire(a, a0, b, b0)
    net.wire(a, a1, c, c0)
    lb = b.tcp_listen(0, 80, 4)
    lc = c.tcp_listen(0, 80, 4)
    to_b = a.tcp_connect("198.18.0.2", 80, now_us=0)
    to_c = a.tcp_connect("198.19.0.3", 80, now_us=0)
    net.settle()
    sb, sc = lb.accept(), lc.accept()
    assert sb is not None and sc is not None
    assert to_b.local_ip == IP_A and to_c.local_ip == parse_ipv4("198.19.0.1")
    assert to_c.snd_mss > 8000 and to_b.snd_mss < 1500  # MSS from each route's MTU
    assert transfer(net, a, to_c, sc, b"j" * 100_000) == b"j" * 100_000


def test_wildcard_listener_offers_mss_of_the_route_back() -> None:
    net = Net()
    a = make_host(1)
    b = make_host(2)
    a0 = a.add_interface("eth0", bytes.fromhex("020000000001"), "198.18.0.1/24", mtu=1500)
    b.add_interface("lo", bytes(6), "127.0.0.1/8", mtu=65535, loopback=True)
    b0 = b.add_interface("eth0", bytes.fromhex("020000000002"), "198.18.0.2/24", mtu=1500)
    net.wire(a, a0, b, b0)
    listener = b.tcp_listen(0, 80, 4)
    cli = a.tcp_connect(IP_B, 80, now_us=0)
    net.settle()
    srv = listener.accept()
    assert srv is not None and srv.local_mss == 1460 and cli.state is ESTABLISHED
    tcp = [frame_bytes(f) for h, _i, f in net.sent if h is b and frame_bytes(f)[12:14] == b"\x08\x00"
           and frame_bytes(f)[23] == 6]
    synack = [f for f in tcp if f[47] & 0x12 == 0x12]
    assert synack and struct.unpack_from("!BBH", synack[0], 54) == (2, 4, 1460)


def test_timer_heap_stays_bounded_during_long_transfer() -> None:
    net, a, b = two_hosts()
    _l, cli, srv = open_pair(net, a, b)
    assert transfer(net, a, cli, srv, bytes(2_000_000)) == bytes(2_000_000)
    assert len(a._tcp_heap) <= 4 * len(a._tcp) + 65


def test_timer_heap_entries_are_lazy_and_timers_still_fire_on_time() -> None:
    # Every data segment restarts the RTO (a later deadline): the earlier heap entry stays and is pushed
    # again only when it comes due, so a ping-pong of 500 exchanges pushes a handful of entries, not 500.
    net, a, b = two_hosts()
    _l, cli, srv = open_pair(net, a, b)
    pushes = 0
    real_push = __import__("heapq").heappush

    def counting_push(heap, item):  # type: ignore[no-untyped-def]
        nonlocal pushes
        if heap is a._tcp_heap:
            pushes += 1
        real_push(heap, item)

    import aiostack.core.tcpio as tcpio

    tcpio.heapq.heappush = counting_push
    try:
        for _ in range(500):
            net.now += 100
            cli.send(b"p" * 64)
            a.notify(cli)
            net.settle()
            assert srv.read() == b"p" * 64
            b.notify(srv)
            srv.send(b"q" * 64)
            b.notify(srv)
            net.settle()
            assert cli.read() == b"q" * 64
            a.notify(cli)
    finally:
        tcpio.heapq.heappush = real_push
    assert pushes < 50, pushes
    # The host's deadline is never later than the connection's, and a timer moved later still fires at
    # its real time: the peer goes silent, the RTO retransmits at (not before) its deadline.
    net.filter = lambda host, _i, _f: host is not a  # a's segments are lost from now on
    cli.send(b"lost")
    a.notify(cli)
    net.step()
    due = cli.poll_at()
    assert due is not None and a.poll_at() is not None and a.poll_at() <= due
    before = cli.counters.get("retransmits", 0)
    while a.poll_at() is not None and a.poll_at() < due:
        net.now = a.poll_at()
        a.handle_timer(net.now)
        assert cli.counters.get("retransmits", 0) == before  # early wake-ups only re-arm
    net.now = due
    a.handle_timer(net.now)
    a.poll_egress(net.now)
    assert cli.counters.get("retransmits", 0) == before + 1


def test_checksum_verified_unless_offload_flags_say_otherwise() -> None:
    from aiostack.wire.vnet import DATA_VALID

    net, a, b = two_hosts()
    _l, cli, srv = open_pair(net, a, b)
    cli.send(b"abc")
    a.notify(cli)
    (_i, frame), = a.poll_egress(net.now)
    bad = bytearray(frame_bytes(frame))
    bad[50] ^= 0xFF  # TCP checksum
    b.receive_frames(1, [bytes(bad)], net.now)
    assert srv.read() == b"" and b.counters()["tcp.drops.bad_checksum"] == 1
    b.receive_frames(1, [OffloadFrame(bytes(bad), DATA_VALID)], net.now)  # the device verified it
    assert srv.read() == b"abc"
    # A bad IP header checksum is caught even on offload frames.
    cli.send(b"def")
    a.notify(cli)
    (_i, frame), = a.poll_egress(net.now)
    bad = bytearray(frame_bytes(frame))
    bad[24] ^= 0xFF
    b.receive_frames(1, [OffloadFrame(bytes(bad), DATA_VALID)], net.now)
    assert srv.read() == b"" and b.counters()["ip.drops.bad_checksum"] == 1


@pytest.mark.parametrize("loss", [0.0, 0.03])
def test_receive_coalescing_of_batches_keeps_the_stream_intact(loss: float) -> None:
    import random

    net, a, b = two_hosts()
    net.batch = True
    _l, cli, srv = open_pair(net, a, b)
    rng = random.Random(99)  # fixed seed: the run is reproducible
    net.filter = lambda h, i, f: rng.random() >= loss
    data = bytes(rng.getrandbits(8) for _ in range(400_000))
    got = transfer(net, a, cli, srv, data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    c = b.counters()
    assert c["tcp.gro_merged"] > 50
    assert c["tcp.segments_received"] >= 400_000 // cli.snd_mss


def test_coalescing_stops_at_flags_gaps_and_other_connections() -> None:
    net, a, b = two_hosts()
    l1 = b.tcp_listen(0, 80, 4)
    c1 = a.tcp_connect(IP_B, 80, now_us=0)
    c2 = a.tcp_connect(IP_B, 80, now_us=0)
    net.settle()
    s1, s2 = l1.accept(), l1.accept()
    assert s1 is not None and s2 is not None
    by_port = {s1.remote_port: s1, s2.remote_port: s2}
    c1.send(b"a" * 5000)
    c2.send(b"b" * 3000)
    c1.shutdown_write()
    a.notify(c1)
    a.notify(c2)
    frames = [f for _i, f in a.poll_egress(net.now)]
    assert len(frames) >= 7
    # Interleave the two connections and drop one segment of the first to make a gap.
    gap = frames[1]
    batch = [f for f in frames if f is not gap]
    b.receive_frames(1, batch, net.now)
    r1 = by_port[c1.local_port]
    r2 = by_port[c2.local_port]
    assert r2.read() == b"b" * 3000
    first = r1.read()
    assert first == b"a" * len(first) and len(first) < 5000  # stops at the gap
    b.receive_frames(1, [gap], net.now)
    rest = r1.read()
    assert len(first) + len(rest) == 5000
    assert EofReceived() in events(r1)  # the FIN was not swallowed by coalescing


def test_software_gso_cuts_like_tcp_gso_segment() -> None:
    from aiostack.core.tcpio import _soft_gso

    pieces = _soft_gso(0xFFFFFFC0, 0x10 | 0x08 | 0x01 | 0x80, bytes(range(250)), 250, 100)
    assert [(s, f, bytes(p), n) for s, f, p, n in pieces] == [
        (0xFFFFFFC0, 0x10 | 0x80, bytes(range(100)), 100),  # CWR only on the first
        (36, 0x10, bytes(range(100, 200)), 100),  # sequence numbers wrap modulo 2**32
        (136, 0x10 | 0x08 | 0x01, bytes(range(200, 250)), 50),  # PSH and FIN only on the last
    ]


def test_plain_mtu_frames_never_exceed_mss_and_psh_only_ends_a_burst() -> None:
    net, a, b = two_hosts()
    _l, cli, srv = open_pair(net, a, b)
    net.sent.clear()
    assert transfer(net, a, cli, srv, bytes(100_000)) == bytes(100_000)
    data = [frame_bytes(f) for h, _i, f in net.sent if h is a and len(frame_bytes(f)) > 66]
    assert data and all(len(f) - 14 <= 1500 for f in data)
    assert all(len(f) - 66 <= cli.snd_mss for f in data)
    psh = [f for f in data if f[47] & 0x08]
    assert 0 < len(psh) < len(data)


def _pair_with_frames(nbytes: int):
    net, a, b = two_hosts()
    _l, cli, srv = open_pair(net, a, b)
    cli.send(bytes(i % 251 for i in range(nbytes)))
    a.notify(cli)
    frames = [f for _i, f in a.poll_egress(net.now)]
    return net, b, srv, frames


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=40))
def test_coalesced_batch_delivers_what_single_frames_deliver(picks: list[int]) -> None:
    # Two identical pairs (same seeds, same ISNs); the client's frames are replayed in an arbitrary
    # order with drops and duplicates, one frame per call to one server and as one batch to the other.
    net1, b1, srv1, frames = _pair_with_frames(12_000)
    net2, b2, srv2, frames2 = _pair_with_frames(12_000)
    assert [frame_bytes(f) for f in frames] == [frame_bytes(f) for f in frames2]
    order = [frames[p % len(frames)] for p in picks]
    for f in order:
        b1.receive_frames(1, [f], net1.now)
    b2.receive_frames(1, order, net2.now)
    assert srv2.read() == srv1.read()
    assert srv2.rcv_nxt == srv1.rcv_nxt and srv2.recv_buffer_bytes == srv1.recv_buffer_bytes


def test_loopback_tcp_leaves_checksums_partial() -> None:
    net = Net()
    h = make_host()
    lo = h.add_interface("lo", bytes(6), "127.0.0.1/8", mtu=65535, loopback=True)
    net.loop(h, lo)
    listener = h.tcp_listen(0, 7, 4)
    cli = h.tcp_connect("127.0.0.1", 7, now_us=0)
    net.settle()
    srv = listener.accept()
    assert transfer(net, h, cli, srv, bytes(300_000)) == bytes(300_000)
    tcp = [f for _h, _i, f in net.sent if frame_bytes(f)[23] == 6]
    assert tcp and all(isinstance(f, OffloadFrame) and f.flags & NEEDS_CSUM for f in tcp)
    assert h.counters().get("tcp.drops.bad_checksum", 0) == 0


def test_setting_a_connection_config_changes_what_the_segment_path_reads() -> None:
    # The per-segment path reads its four tunables from fields the ``config`` setter fills (SO_RCVBUF sets
    # ``conn.config`` on a live connection): a smaller receive buffer caps the window from then on.
    import dataclasses

    net, a, b = two_hosts()
    _l, cli, srv = open_pair(net, a, b)
    cfg = dataclasses.replace(srv.config, recv_buffer_bytes=8192, delayed_ack_us=7_000, delayed_ack_segments=3,
                              tail_loss_probe=False)
    srv.config = cfg
    assert srv.config is cfg
    assert (srv.cfg_recv_buffer, srv.cfg_delack_us, srv.cfg_delack_segments, bool(srv.cfg_tlp)) == \
        (8192, 7_000, 3, False)
    data = bytes(300_000)
    off = cli.send(data)
    a.notify(cli)
    for _ in range(200):  # the receiver does not read: what it holds is what its window let in
        net.step()
        net.advance(10_000)
    first = srv.recv_buffer_bytes
    assert 4 * 8192 < first < len(data)  # the window advertised before the change was far larger
    srv.consume(first)  # reading opens the window again, by the new buffer size at most
    b.notify(srv)
    for _ in range(200):
        off += cli.send(memoryview(data)[off:])
        a.notify(cli)
        net.step()
        net.advance(10_000)
    assert 0 < srv.recv_buffer_bytes <= 8192 + (1 << srv.rcv_wscale)  # scaled windows round up


def test_config_integer_fields_must_be_ints() -> None:
    # The compiled engine holds these in C integers: a float is refused where it is set, in both builds.
    import dataclasses

    from aiostack.config import DriverConfig, IpConfig, TcpConfig

    with pytest.raises(TypeError, match="TcpConfig.rto_min_us must be an int"):
        TcpConfig(rto_min_us=200_000.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="IpConfig.arp_retry_interval_us"):
        dataclasses.replace(IpConfig(), arp_retry_interval_us=1e6)
    with pytest.raises(TypeError, match="DriverConfig.low_water_bytes"):
        DriverConfig(low_water_bytes="1")  # type: ignore[arg-type]
    assert DriverConfig(low_water_bytes=None).low_water_bytes is None
    assert TcpConfig(rto_min_us=1, window_scaling=False).rto_min_us == 1
