"""Plain-mode TAP against the real kernel inside a namespace the test creates (root only)."""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Callable

import pytest

from aiostack.link.tap import Tap

sys.path.insert(0, __import__("os").path.dirname(__file__))
from netns import NetNs, kernel_ping  # noqa: E402

scapy_all = pytest.importorskip("scapy.all")
Ether, IP, ICMP, UDP, ARP = scapy_all.Ether, scapy_all.IP, scapy_all.ICMP, scapy_all.UDP, scapy_all.ARP

pytestmark = [pytest.mark.tap, pytest.mark.timeout(60)]

KERNEL_IP = "198.18.0.1"
OUR_IP = "198.18.0.2"


def pump(tap: Tap, on_frame: Callable[[bytes], bool], seconds: float, max_frames: int = 10_000) -> int:
    """Read frames for at most ``seconds``; stop when ``on_frame`` returns True. Returns frames seen."""
    deadline = time.monotonic() + seconds
    seen = 0
    fd = tap.fileno()
    while seen < max_frames:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], min(left, 0.05))
        if not r:
            continue
        for f in tap.receive_batch(64):
            seen += 1
            if on_frame(bytes(f)):
                return seen
    return seen


def test_tap_open_by_name_and_inherited_fd() -> None:
    with NetNs() as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24")
        assert tap.name == "tap0" and tap.fileno() is not None
        assert tap.caps.mtu == 1500 and not tap.caps.checksum_offload and tap.caps.gso_max_bytes == 0
        other = Tap(fd=tap.fileno())  # e.g. handed over by a parent process
        assert other.name == "tap0" and not other.offload
        other.close()  # does not close the fd it did not open
        assert tap.receive_batch(8) is not None
        with pytest.raises(ValueError):
            Tap("x" * 16)


def test_kernel_ping_arp_and_echo_answered_by_raw_frames() -> None:
    with NetNs() as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24")
        kmac = ns.kernel_mac("tap0")
        ping = kernel_ping(ns, OUR_IP, count=3)
        seen = {"arp": 0, "echo": 0}

        def answer(f: bytes) -> bool:
            pkt = Ether(f)
            if ARP in pkt and pkt[ARP].op == 1 and pkt[ARP].pdst == OUR_IP:
                seen["arp"] += 1
                assert pkt[ARP].psrc == KERNEL_IP and pkt[Ether].src == kmac.hex(":")
                reply = Ether(src=tap.mac, dst=pkt[Ether].src) / ARP(
                    op=2, hwsrc=tap.mac, psrc=OUR_IP, hwdst=pkt[ARP].hwsrc, pdst=KERNEL_IP)
                tap.send_batch([bytes(reply)])
            elif ICMP in pkt and pkt[ICMP].type == 8 and pkt[IP].dst == OUR_IP:
                seen["echo"] += 1
                reply = Ether(src=tap.mac, dst=pkt[Ether].src) / IP(src=OUR_IP, dst=KERNEL_IP) / ICMP(
                    type=0, id=pkt[ICMP].id, seq=pkt[ICMP].seq) / bytes(pkt[ICMP].payload)
                tap.send_batch([bytes(reply)])
            return seen["echo"] >= 3

        pump(tap, answer, 10)
        out, err = ping.communicate(timeout=10)
        assert seen["arp"] >= 1 and seen["echo"] == 3
        assert ping.returncode == 0, out + err
        assert b"3 received" in out


def test_raw_echo_request_written_gets_kernel_reply() -> None:
    with NetNs() as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24")
        ns.neigh("tap0", OUR_IP, tap.mac)
        kmac = ns.kernel_mac("tap0")
        req = Ether(src=tap.mac, dst=kmac) / IP(src=OUR_IP, dst=KERNEL_IP) / ICMP(type=8, id=0x4242, seq=7) / (
            b"aiostack" * 8)
        # a batch: a malformed runt the kernel ignores, then the request
        tap.send_batch([bytes(req)[:20], bytes(req)])
        assert tap.counters["tx_frames"] >= 1
        replies: list[bytes] = []

        def on(f: bytes) -> bool:
            pkt = Ether(f)
            if ICMP in pkt and pkt[ICMP].type == 0 and pkt[ICMP].id == 0x4242:
                replies.append(f)
                return True
            return False

        pump(tap, on, 5)
        assert len(replies) == 1
        rep = Ether(replies[0])
        assert rep[IP].src == KERNEL_IP and rep[IP].dst == OUR_IP and rep[ICMP].seq == 7
        assert bytes(rep[ICMP].payload) == b"aiostack" * 8


def test_kernel_udp_send_received_in_batches() -> None:
    with NetNs() as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24")
        ns.neigh("tap0", OUR_IP, tap.mac)
        code = (
            "import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for i in range(200):\n"
            f"    s.sendto(i.to_bytes(4, 'big') * 300, ('{OUR_IP}', 9999))\n"
        )
        p = ns.python(code)
        assert p.wait(timeout=20) == 0
        got: list[int] = []

        def on(f: bytes) -> bool:
            pkt = Ether(f)
            if UDP in pkt and pkt[UDP].dport == 9999:
                payload = bytes(pkt[UDP].payload)
                assert len(payload) == 1200 and len(f) == 14 + 20 + 8 + 1200
                got.append(int.from_bytes(payload[:4], "big"))
            return len(got) == 200

        # all 200 are already queued: one batch read returns many at once
        first = tap.receive_batch(64)
        assert len(first) == 64
        for f in first:
            on(bytes(f))
        pump(tap, on, 5)
        assert got == list(range(200))
        assert tap.counters["rx_frames"] >= 200


def test_netns_helper_cleans_up_on_failure_and_guards_addresses() -> None:
    import subprocess

    from netns import check_address

    with pytest.raises(ValueError):
        check_address("10.0.0.1/24")
    with pytest.raises(ValueError):
        check_address("198.20.0.1/24")
    check_address("198.19.255.1/24")
    name = ""
    proc = None
    with pytest.raises(RuntimeError, match="boom"):
        with NetNs() as ns:
            name = ns.name
            tap = ns.tap("tap0", address="198.18.0.1/24")
            proc = ns.popen("sleep", "30")
            with pytest.raises(ValueError):
                ns.ip("addr", "add", check_address("192.168.1.1/24"), "dev", tap.name)
            raise RuntimeError("boom")
    assert proc is not None and proc.poll() is not None  # killed
    assert tap.closed
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    assert name and name not in listed


def test_jumbo_mtu_frames_both_ways() -> None:
    from aiostack.link.base import Device

    with NetNs() as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24", mtu=9000)
        assert isinstance(tap, Device) and tap.caps.max_frame_len == 9014
        ns.neigh("tap0", OUR_IP, tap.mac)
        kmac = ns.kernel_mac("tap0")
        p = ns.python("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                      f"s.sendto(b'j' * 8972, ('{OUR_IP}', 9999))\n")
        assert p.wait(timeout=20) == 0
        sizes: list[int] = []
        pump(tap, lambda f: bool(sizes.append(len(f))) or len(f) == 9014, 5)
        assert 9014 in sizes  # one unfragmented 9000-byte IP datagram
        req = Ether(src=tap.mac, dst=kmac) / IP(src=OUR_IP, dst=KERNEL_IP) / ICMP(type=8, id=9, seq=1) / (
            b"J" * 8972)
        assert len(bytes(req)) == 9014
        tap.send_batch([bytes(req)])
        got: list[int] = []

        def on(f: bytes) -> bool:
            pkt = Ether(f)
            if ICMP in pkt and pkt[ICMP].type == 0 and pkt[ICMP].id == 9:
                got.append(len(f))
                return True
            return False

        pump(tap, on, 5)
        assert got == [9014]
