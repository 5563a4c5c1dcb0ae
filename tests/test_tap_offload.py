"""Offload-mode TAP (IFF_VNET_HDR + TUNSETOFFLOAD) against the real kernel, inside a test namespace.

The kernel's TCP is driven with hand-built frames (scapy) so only the link layer is under test: the
kernel must hand over a TCP super-frame (> 1514 bytes) with GSO metadata and a partial checksum, and must
accept a ~60 KB GSO write with NEEDS_CSUM, segment it, verify it, and deliver the bytes to its socket.
"""

from __future__ import annotations

import hashlib
import os
import select
import struct
import sys
import time

import pytest

from aiostack.link.base import frame_data, is_offload
from aiostack.link.tap import Tap

sys.path.insert(0, os.path.dirname(__file__))
from netns import NetNs  # noqa: E402

scapy_all = pytest.importorskip("scapy.all")
vnet = pytest.importorskip("aiostack.wire.vnet")
Ether, IP, TCP = scapy_all.Ether, scapy_all.IP, scapy_all.TCP

pytestmark = [pytest.mark.tap, pytest.mark.timeout(60)]

KERNEL_IP = "198.18.0.1"
OUR_IP = "198.18.0.2"


def frames_for(tap: Tap, seconds: float):  # type: ignore[no-untyped-def]
    """Yield received frame items for at most ``seconds`` (bounded)."""
    deadline = time.monotonic() + seconds
    fd = tap.fileno()
    while (left := deadline - time.monotonic()) > 0:
        r, _, _ = select.select([fd], [], [], min(left, 0.05))
        if r:
            yield from tap.receive_batch(64)


def pseudo_sum(src: str, dst: str, length: int) -> int:
    s = sum(struct.unpack("!HHHH", bytes(map(int, src.split("."))) + bytes(map(int, dst.split(".")))))
    s += 6 + length
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


@pytest.mark.parametrize("hdr_len", [10, 12])
def test_offload_caps_and_zero_header_for_plain_frames(hdr_len: int) -> None:
    with NetNs() as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24", offload=True, vnet_hdr_len=hdr_len)
        assert tap.offload and tap.vnet_hdr_len == hdr_len
        assert tap.caps.checksum_offload and tap.caps.vnet_hdr and tap.caps.gso_max_bytes == 65535
        # an inherited fd reports offload mode by itself
        again = Tap(fd=tap.fileno(), vnet_hdr_len=hdr_len)
        assert again.offload
        again.close()
        # ARP answered by the kernel: a plain frame written with an all-zero header
        kmac = ns.kernel_mac("tap0")
        arp = Ether(src=tap.mac, dst="ff:ff:ff:ff:ff:ff") / scapy_all.ARP(
            op=1, hwsrc=tap.mac, psrc=OUR_IP, pdst=KERNEL_IP)
        tap.send_batch([bytes(arp)])
        for f in frames_for(tap, 5):
            pkt = Ether(bytes(frame_data(f)))
            if scapy_all.ARP in pkt and pkt[scapy_all.ARP].op == 2:
                assert pkt[Ether].src == kmac.hex(":")
                assert not is_offload(f)  # no offload metadata -> a plain frame view
                break
        else:
            pytest.fail("no ARP reply from the kernel")


def test_kernel_tcp_sender_produces_gso_super_frames() -> None:
    with NetNs() as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24", offload=True)
        ns.neigh("tap0", OUR_IP, tap.mac)
        client = ns.python(
            "import socket\n"
            f"s = socket.create_connection(('{OUR_IP}', 5000), timeout=10)\n"
            "s.sendall(b'z' * 4000000)\n"
            "s.close()\n")
        isn = 777_000
        rcv_nxt = None
        supers = []
        for f in frames_for(tap, 15):
            data = bytes(frame_data(f))
            pkt = Ether(data)
            if TCP not in pkt or pkt[TCP].dport != 5000:
                continue
            t = pkt[TCP]
            if t.flags.S:
                rcv_nxt = t.seq + 1
                synack = Ether(src=tap.mac, dst=pkt[Ether].src) / IP(src=OUR_IP, dst=KERNEL_IP) / TCP(
                    sport=5000, dport=t.sport, seq=isn, ack=rcv_nxt, flags="SA", window=65535,
                    options=[("MSS", 1460), ("WScale", 10)])
                tap.send_batch([bytes(synack)])
                continue
            plen = len(data) - 14 - pkt[IP].ihl * 4 - t.dataofs * 4
            if plen == 0 or rcv_nxt is None:
                continue
            if is_offload(f) and len(data) > 1514:
                supers.append(f)
                hdr = f
                assert hdr.gso_type == vnet.GSO_TCPV4
                assert hdr.flags & vnet.NEEDS_CSUM
                assert hdr.csum_start == 14 + 20 and hdr.csum_offset == 16
                assert 536 <= hdr.gso_size <= 1460
                assert hdr.hdr_len in (0, 14 + 20 + t.dataofs * 4) or hdr.hdr_len >= 54
                # the IP total length covers the whole super-frame
                assert pkt[IP].len == len(data) - 14
                # early super-frames may be small (cwnd, TSO autosizing): wait for a large one
                if len(supers) >= 3 and len(data) > 3 * 1514:
                    break
            rcv_nxt = max(rcv_nxt, t.seq + plen)
            ack = Ether(src=tap.mac, dst=pkt[Ether].src) / IP(src=OUR_IP, dst=KERNEL_IP) / TCP(
                sport=5000, dport=t.sport, seq=isn + 1, ack=rcv_nxt, flags="A", window=65535)
            tap.send_batch([bytes(ack)])
        client.kill()
        sizes = [len(bytes(frame_data(f))) for f in supers]
        assert supers, f"the kernel sent no GSO super-frame over the offload TAP ({tap.counters.values})"
        assert max(sizes) > 3 * 1514, f"super-frame sizes {sizes}, rcv_nxt {rcv_nxt}, {tap.counters.values}"


@pytest.mark.parametrize("payload_len", [60_000, 1000])
def test_gso_write_accepted_by_kernel_tcp(payload_len: int) -> None:
    with NetNs() as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24", offload=True)
        ns.neigh("tap0", OUR_IP, tap.mac)
        kmac = ns.kernel_mac("tap0")
        server = ns.python(
            "import hashlib, socket, sys\n"
            "ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)\n"
            f"ls.bind(('{KERNEL_IP}', 6000)); ls.listen(1); ls.settimeout(20)\n"
            "print('ready', flush=True)\n"
            "c, _ = ls.accept(); c.settimeout(20); h = hashlib.sha256(); n = 0\n"
            "while True:\n"
            "    b = c.recv(1 << 16)\n"
            "    if not b: break\n"
            "    h.update(b); n += len(b)\n"
            "print(n, h.hexdigest(), flush=True)\n")
        assert server.stdout is not None
        assert server.stdout.readline().strip() == b"ready"
        eth = Ether(src=tap.mac, dst=kmac)
        isn = 1_000_000
        tap.send_batch([bytes(eth / IP(src=OUR_IP, dst=KERNEL_IP) / TCP(
            sport=40000, dport=6000, seq=isn, flags="S", window=65535, options=[("MSS", 1460)]))])
        kseq = None
        for f in frames_for(tap, 5):
            pkt = Ether(bytes(frame_data(f)))
            if TCP in pkt and pkt[TCP].flags.S and pkt[TCP].flags.A:
                kseq = pkt[TCP].seq + 1
                assert pkt[TCP].ack == isn + 1
                break
        assert kseq is not None, "no SYN-ACK"
        tap.send_batch([bytes(eth / IP(src=OUR_IP, dst=KERNEL_IP) / TCP(
            sport=40000, dport=6000, seq=isn + 1, ack=kseq, flags="A", window=65535))])
        payload = os.urandom(payload_len)
        # One GSO super-frame: IP total length covers everything; the TCP checksum field holds the
        # pseudo-header sum over the whole TCP length (virtio NEEDS_CSUM), the kernel finishes it.
        ip = IP(src=OUR_IP, dst=KERNEL_IP, flags="DF", len=20 + 20 + payload_len)
        tcp = TCP(sport=40000, dport=6000, seq=isn + 1, ack=kseq, flags="PA", window=65535,
                  chksum=pseudo_sum(OUR_IP, KERNEL_IP, 20 + payload_len))
        frame = bytes(eth / ip / tcp / payload)
        assert len(frame) == 14 + 40 + payload_len
        gso = payload_len > 1460
        tap.send_batch([vnet.OffloadFrame(frame, flags=vnet.NEEDS_CSUM,
                                          gso_type=vnet.GSO_TCPV4 if gso else vnet.GSO_NONE,
                                          hdr_len=54, gso_size=1460 if gso else 0, csum_start=34,
                                          csum_offset=16)])
        assert tap.counters["drops"] == 0
        fin_seq = isn + 1 + payload_len
        tap.send_batch([bytes(eth / IP(src=OUR_IP, dst=KERNEL_IP) / TCP(
            sport=40000, dport=6000, seq=fin_seq, ack=kseq, flags="FA", window=65535))])
        acked = 0
        for f in frames_for(tap, 10):
            pkt = Ether(bytes(frame_data(f)))
            if TCP in pkt and pkt[TCP].dport == 40000:
                acked = max(acked, pkt[TCP].ack)
                if acked == fin_seq + 1:
                    break
        assert acked == fin_seq + 1, f"kernel acked {acked - isn - 1} of {payload_len} bytes + FIN"
        out, err = server.communicate(timeout=20)
        n, digest = out.split()[-2:]
        assert int(n) == payload_len and digest.decode() == hashlib.sha256(payload).hexdigest(), err
