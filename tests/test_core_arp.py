"""ARP: resolution, replies, expiry, one request per second, bounded pending queue, unreachable."""

from __future__ import annotations

import errno
import struct

from test_core_util import IP_A, IP_B, IP_C, MAC_A, MAC_B, Net, frame_bytes, make_host, two_hosts

from aiostack.config import IpConfig
from aiostack.core.neighbor import OP_REPLY, OP_REQUEST, build_arp_frame
from aiostack.core.udp import UdpDatagram, UdpError

SECOND = 1_000_000


def arp_frames(net: Net, host=None) -> list[bytes]:
    out = []
    for h, _i, f in net.sent:
        b = frame_bytes(f)
        if b[12:14] == b"\x08\x06" and (host is None or h is host):
            out.append(b)
    return out


def arp_fields(frame: bytes) -> tuple:
    return struct.unpack_from("!HHBBH6sI6sI", frame, 14)


def test_gratuitous_arp_on_interface_up() -> None:
    h = make_host()
    ifindex = h.add_interface("eth0", MAC_A, "198.18.0.1/24", mtu=1500)
    out = h.poll_egress(0)
    assert len(out) == 1 and out[0][0] == ifindex
    f = bytes(out[0][1])
    assert f[0:6] == b"\xff" * 6 and f[6:12] == MAC_A
    _ht, _pt, _hl, _pl, op, sha, spa, _tha, tpa = arp_fields(f)
    assert op == OP_REQUEST and sha == MAC_A and spa == IP_A and tpa == IP_A  # RFC 5227 announcement
    assert h.counters()["arp.gratuitous_sent"] == 1


def test_resolution_then_delivery_and_cache() -> None:
    net, a, b = two_hosts()
    net.settle()
    net.sent.clear()
    ep_b = b.udp_bind(IP_B, 9000)
    ep_a = a.udp_bind(0, 0)
    ep_a.sendto(b"hello", IP_B, 9000, now_us=net.now)
    net.settle()
    assert ep_b.next_event() == UdpDatagram(b"hello", IP_A, ep_a.local_port)
    reqs = [f for f in arp_frames(net) if arp_fields(f)[4] == OP_REQUEST]
    reps = [f for f in arp_frames(net) if arp_fields(f)[4] == OP_REPLY]
    assert len(reqs) == 1 and len(reps) == 1
    assert arp_fields(reps[0])[5] == MAC_B and arp_fields(reps[0])[6] == IP_B
    # B learnt A from the request (RFC 826: we are the target), so its answer needs no ARP.
    net.sent.clear()
    ep_b.sendto(b"back", IP_A, ep_a.local_port, now_us=net.now)
    ep_a.sendto(b"again", IP_B, 9000, now_us=net.now)
    net.settle()
    assert arp_frames(net) == []
    assert ep_a.next_event() == UdpDatagram(b"back", IP_B, 9000)
    c = a.counters()
    assert c["arp.requests_sent"] == 1 and c["arp.replies_received"] == 1
    assert b.counters()["arp.replies_sent"] == 1


def test_cache_expiry_triggers_new_request() -> None:
    cfg = IpConfig(arp_cache_ttl_us=5 * SECOND)
    net, a, b = two_hosts(ip_config=cfg)
    ep_b = b.udp_bind(IP_B, 9000)
    ep_a = a.udp_bind()
    ep_a.sendto(b"1", IP_B, 9000, now_us=net.now)
    net.settle()
    net.advance(6 * SECOND)
    net.sent.clear()
    ep_a.sendto(b"2", IP_B, 9000, now_us=net.now)
    net.settle()
    assert len([f for f in arp_frames(net, a) if arp_fields(f)[4] == OP_REQUEST]) == 1
    assert a.counters()["arp.cache_expired"] == 1
    assert [ep_b.next_event().data, ep_b.next_event().data] == [b"1", b"2"]


def test_one_request_per_second_and_pending_queue_bound() -> None:
    cfg = IpConfig(arp_pending_max_packets=4, arp_max_retries=3)
    net, a, b = two_hosts(ip_config=cfg)
    net.settle()
    net.filter = lambda h, i, f: False  # nothing arrives: C does not exist anyway
    net.sent.clear()
    ep = a.udp_bind()
    for i in range(10):
        ep.sendto(bytes([i]), IP_C, 7, now_us=net.now)
    net.settle()
    assert len(arp_frames(net, a)) == 1  # ten packets, one request this second
    assert a.counters()["arp.drops.pending_queue_full"] == 6
    net.advance(SECOND // 2)
    assert len(arp_frames(net, a)) == 1
    net.advance(SECOND // 2)
    assert len(arp_frames(net, a)) == 2  # the retry, a second after the first
    # When C finally answers, the four newest packets go out.
    net.filter = None
    reply = build_arp_frame(OP_REPLY, MAC_B[:5] + b"\x03", IP_C, MAC_A, IP_A, MAC_A)
    net.sent.clear()
    a.receive_frames(1, [reply], net.now)
    out = a.poll_egress(net.now)
    payloads = [frame_bytes(f)[-1] for _i, f in out]
    assert payloads == [6, 7, 8, 9]
    assert all(frame_bytes(f)[0:6] == MAC_B[:5] + b"\x03" for _i, f in out)


def test_unreachable_after_retries() -> None:
    cfg = IpConfig(arp_max_retries=3)
    net, a, _b = two_hosts(ip_config=cfg)
    net.filter = lambda h, i, f: False
    ep = a.udp_bind()
    ep.sendto(b"x", IP_C, 7, now_us=net.now)
    net.advance(10 * SECOND)
    assert ep in a.pop_ready()
    ev = ep.next_event()
    assert isinstance(ev, UdpError) and ev.errno == errno.EHOSTUNREACH and ev.remote_ip == IP_C
    c = a.counters()
    assert c["arp.requests_sent"] == 3 and c["arp.resolution_failed"] == 1
    assert c["arp.drops.unresolved"] == 1
    assert a.poll_at() is None


def test_replies_only_for_our_address_and_bogus_arp_counted() -> None:
    h = make_host()
    h.add_interface("eth0", MAC_A, "198.18.0.1/24", mtu=1500)
    h.poll_egress(0)
    # A request for someone else: no reply.
    h.receive_frames(1, [build_arp_frame(OP_REQUEST, MAC_B, IP_B, bytes(6), IP_C, b"\xff" * 6)], 0)
    assert h.poll_egress(0) == []
    # A request for us: reply to the asker.
    h.receive_frames(1, [build_arp_frame(OP_REQUEST, MAC_B, IP_B, bytes(6), IP_A, b"\xff" * 6)], 0)
    out = h.poll_egress(0)
    assert len(out) == 1 and arp_fields(bytes(out[0][1]))[4] == OP_REPLY
    assert bytes(out[0][1])[0:6] == MAC_B
    bad = bytearray(build_arp_frame(OP_REQUEST, MAC_B, IP_B, bytes(6), IP_A, b"\xff" * 6))
    bad[14:16] = b"\x00\x06"  # htype IEEE 802
    op9 = bytearray(build_arp_frame(OP_REQUEST, MAC_B, IP_B, bytes(6), IP_A, b"\xff" * 6))
    op9[20:22] = b"\x00\x09"
    mcast = build_arp_frame(OP_REQUEST, b"\x01" + MAC_B[1:], IP_B, bytes(6), IP_A, b"\xff" * 6)
    h.receive_frames(1, [bytes(bad), bytes(op9), mcast, bytes(build_arp_frame(1, MAC_B, IP_B, bytes(6), IP_A,
                                                                               b"\xff" * 6))[:30]], 0)
    assert h.poll_egress(0) == []
    c = h.counters()
    assert c["arp.drops.bad_format"] == 1 and c["arp.drops.bad_opcode"] == 1
    assert c["arp.drops.bad_sender_mac"] == 1 and c["arp.drops.truncated"] == 1
    # Someone claiming our address is counted as a conflict and not learnt.
    h.receive_frames(1, [build_arp_frame(OP_REPLY, MAC_B, IP_A, MAC_A, IP_A, MAC_A)], 0)
    assert h.counters()["arp.address_conflicts"] == 1
    assert all(ip != IP_A for ip, _m, _e in h.neighbors())


def test_active_flow_refreshes_entry_before_expiry() -> None:
    cfg = IpConfig(arp_cache_ttl_us=10 * SECOND)
    net, a, b = two_hosts(ip_config=cfg)
    ep_b = b.udp_bind(IP_B, 9000)
    ep_a = a.udp_bind()
    for _ in range(40):
        ep_a.sendto(b"tick", IP_B, 9000, now_us=net.now)
        net.advance(SECOND // 2)
    got = 0
    while ep_b.next_event() is not None:
        got += 1
    assert got == 40
    c = a.counters()
    assert c.get("arp.cache_expired", 0) == 0  # never expired while in use
    assert c["arp.resolved"] == 1  # nothing ever waited for resolution after the first packet
    assert c["arp.refresh_requests"] >= 2
    refresh = [f for f in arp_frames(net, a) if arp_fields(f)[4] == OP_REQUEST and f[0:6] == MAC_B]
    assert refresh and all(arp_fields(f)[8] == IP_B for f in refresh)  # unicast polls to B
