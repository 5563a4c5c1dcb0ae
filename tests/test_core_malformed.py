"""Malformed input of every kind is dropped and counted, never raised (hypothesis fuzzing)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from test_core_util import IP_A, IP_B, MAC_A, MAC_B, make_host

from aiostack.core.ipv4 import write_ipv4_header
from aiostack.core.udp import build_udp

ETH = MAC_B + MAC_A + b"\x08\x00"


def _host():
    h = make_host()
    h.add_interface("eth0", MAC_B, "198.18.0.2/24", mtu=1500)
    h.add_interface("lo", bytes(6), "127.0.0.1/8", mtu=65535, loopback=True)
    h.udp_bind(0, 7)
    h.poll_egress(0)
    return h


HOST = _host()


def _ip_frame(proto: int, payload: bytes, ff: int = 0) -> bytes:
    f = bytearray(34 + len(payload))
    f[0:14] = ETH
    write_ipv4_header(f, 14, 20 + len(payload), 1, ff, 64, proto, IP_A, IP_B)
    f[34:] = payload
    return bytes(f)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    before = sum(v for k, v in HOST.counters().items() if "drops" in k)
    HOST.receive_frames(1, [data, ETH + data, b"\xff" * 6 + MAC_A + b"\x08\x06" + data], 0)
    HOST.receive_frames(2, [data], 0)
    HOST.poll_egress(0)
    HOST.handle_timer(10**12)
    assert sum(v for k, v in HOST.counters().items() if "drops" in k) >= before


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 6, 17, 99]), st.binary(max_size=120), st.integers(0, 0xFFFF))
def test_random_transport_payloads_with_valid_ip_never_raise(proto: int, payload: bytes, ff: int) -> None:
    HOST.receive_frames(1, [_ip_frame(proto, payload, ff & 0x3FFF)], 0)
    HOST.poll_egress(0)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=60), st.integers(0, 59))
def test_mutated_udp_frames_never_raise(noise: bytes, pos: int) -> None:
    f = bytearray(_ip_frame(17, bytes(build_udp(IP_A, IP_B, 1000, 7, b"payload" * 3))))
    for i, b in enumerate(noise):
        f[(pos + i) % len(f)] ^= b
    HOST.receive_frames(1, [bytes(f), bytes(f[: pos + 1])], 0)
    HOST.poll_egress(0)


def test_every_truncation_of_a_good_frame_is_counted() -> None:
    h = _host()
    good = _ip_frame(17, bytes(build_udp(IP_A, IP_B, 1000, 7, b"hello")))
    for n in range(len(good)):
        h.receive_frames(1, [good[:n]], 0)
    c = h.counters()
    assert c.get("eth.drops", 0) + c.get("ip.drops", 0) + c.get("udp.drops", 0) == len(good)
    h.receive_frames(1, [good], 0)
    assert h.counters()["udp.datagrams_received"] == 1


def _tcp_host_pair():
    from test_core_util import two_hosts

    net, a, b = two_hosts()
    listener = b.tcp_listen(0, 80, 8)
    cli = a.tcp_connect(IP_B, 80, now_us=0)
    net.settle()
    srv = listener.accept()
    assert srv is not None
    return net, a, b, cli, srv


TCP_NET = _tcp_host_pair()


def _tcp_frame(sport: int, dport: int, seq: int, ack: int, flags: int, window: int, options: bytes,
               payload: bytes, good_checksum: bool) -> bytes:
    from aiostack.fastpath import checksum_partial, pseudo_header_sum

    opts = options + b"\x00" * (-len(options) % 4)
    hl = 20 + len(opts)
    seg = bytearray(hl + len(payload))
    struct.pack_into("!HHIIBBHHH", seg, 0, sport, dport, seq, ack, (hl // 4) << 4, flags, window, 0, 0)
    seg[20:hl] = opts
    seg[hl:] = payload
    if good_checksum:
        csum = ~checksum_partial(seg, pseudo_header_sum(IP_A, IP_B, 6, len(seg))) & 0xFFFF
        struct.pack_into("!H", seg, 16, csum)
    return _ip_frame(6, bytes(seg))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["conn", "listener", "closed"]), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=40), st.binary(max_size=64),
       st.booleans(), st.booleans())
def test_random_tcp_segments_never_raise(target: str, seq_off: int, ack_off: int, flags: int, window: int,
                                         options: bytes, payload: bytes, near: bool, good: bool) -> None:
    net, a, b, cli, srv = TCP_NET
    if target == "conn":
        sport, dport = cli.local_port, 80
    elif target == "listener":
        sport, dport = 40000 + seq_off % 1000, 80
    else:
        sport, dport = 1234, 9999
    if near:  # sequence numbers close to the connection's, to reach deep into the state machine
        seq_off = (srv.rcv_nxt + seq_off % 4000 - 2000) & 0xFFFFFFFF
        ack_off = (srv.snd_nxt + ack_off % 4000 - 2000) & 0xFFFFFFFF
    frame = _tcp_frame(sport, dport, seq_off, ack_off, flags, window, options[:40], payload, good)
    b.receive_frames(1, [frame], net.now)
    net.now += 1000
    b.poll_egress(net.now)
    if b.poll_at() is not None and b.poll_at() <= net.now:
        b.handle_timer(net.now)
    assert b.counters().get("eth.drops.internal_error", 0) == 0


def test_no_internal_errors_after_fuzzing() -> None:
    for h in (HOST, TCP_NET[1], TCP_NET[2]):
        assert h.counters().get("eth.drops.internal_error", 0) == 0
