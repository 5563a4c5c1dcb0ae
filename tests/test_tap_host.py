"""aiostack's Host on a TAP against the kernel as the peer, inside a namespace the test creates.

The Host is driven by the small synchronous loop in ``tests/hostloop.py`` (select on the TAP fd). Both
TAP modes: plain 1514-byte frames and offload (virtio-net header, GSO super-frames, partial checksums).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
pytest.importorskip("aiostack.core.tcp.connection", reason="the TCP engine is not in this build yet")

from hostloop import BulkSender, EchoServer, HostLoop  # noqa: E402
from netns import NetNs, kernel_ping  # noqa: E402

from aiostack.link.pcap import PcapWriter  # noqa: E402

pytestmark = [pytest.mark.tap]

KERNEL_IP = "198.18.0.1"
OUR_IP = "198.18.0.2"
MODES = [pytest.param(False, id="plain"), pytest.param(True, id="offload")]

# Kernel TCP client: sends N seeded bytes while reading the echo; prints "<sent sha> <echo sha> <n>".
ECHO_CLIENT = r"""
import hashlib, random, socket, sys, threading
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = random.Random(42).randbytes(n)
s = socket.create_connection((ip, port), timeout=60)
def writer():
    mv = memoryview(data)
    for off in range(0, n, 65536):
        s.sendall(mv[off:off + 65536])
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=writer); t.start()
h = hashlib.sha256(); got = 0
while True:
    b = s.recv(1 << 18)
    if not b: break
    h.update(b); got += len(b)
t.join(); s.close()
print(hashlib.sha256(data).hexdigest(), h.hexdigest(), got, flush=True)
"""

# Kernel TCP server: one connection, reads to EOF, prints "<n> <sha>", closes.
SINK_SERVER = r"""
import hashlib, socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((ip, port)); ls.listen(1); ls.settimeout(60)
print("ready", flush=True)
c, _ = ls.accept(); c.settimeout(60)
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 18)
    if not b: break
    h.update(b); n += len(b)
c.close()
print(n, h.hexdigest(), flush=True)
"""

UDP_PROBE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b"anyone there?")
try:
    s.recv(100)
    print("answer")
except ConnectionRefusedError:
    print("refused")  # Linux reports ICMP port unreachable on a connected UDP socket (RFC 1122 4.1.3.3)
except socket.timeout:
    print("timeout")
"""


def setup(ns: NetNs, offload: bool, pcap: str | None = None) -> HostLoop:
    tap = ns.tap("tap0", address=KERNEL_IP + "/24", offload=offload)
    dev = PcapWriter(tap, pcap) if pcap else tap
    return HostLoop(dev, OUR_IP + "/24")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("offload", MODES)
def test_kernel_pings_aiostack(offload: bool) -> None:
    with NetNs() as ns:
        loop = setup(ns, offload)
        ping = kernel_ping(ns, OUR_IP, count=3)
        assert loop.run_until(lambda: ping.poll() is not None, 20)
        out, err = ping.communicate(timeout=5)
        assert ping.returncode == 0, out + err
        assert b"3 received" in out
        c = loop.host.counters()
        assert c.get("icmp.echo_requests", 0) == 3 and c.get("icmp.echo_replies", 0) == 3, c


@pytest.mark.timeout(60)
@pytest.mark.parametrize("offload", MODES)
def test_udp_to_closed_port_gets_icmp_port_unreachable(offload: bool) -> None:
    with NetNs() as ns:
        loop = setup(ns, offload)
        probe = ns.python(UDP_PROBE, OUR_IP, "9")
        assert loop.run_until(lambda: probe.poll() is not None, 20)
        out, err = probe.communicate(timeout=5)
        assert out.strip() == b"refused", out + err
        assert loop.host.counters().get("icmp.port_unreachable_sent", 0) == 1


def _echo(offload: bool, n: int, seconds: float) -> None:
    with NetNs() as ns:
        loop = setup(ns, offload)
        server = EchoServer(loop, 7)
        client = ns.python(ECHO_CLIENT, OUR_IP, "7", str(n))
        assert loop.run_until(lambda: client.poll() is not None, seconds, server), "kernel client did not finish"
        out, err = client.communicate(timeout=5)
        assert client.returncode == 0, err.decode()[-2000:]
        sent, echoed, got = out.split()
        assert int(got) == n and sent == echoed
        assert server.echoed == n and not server.errors


def _upload(offload: bool, n: int, seconds: float) -> None:
    with NetNs() as ns:
        loop = setup(ns, offload)
        server = ns.python(SINK_SERVER, KERNEL_IP, "6000")
        assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
        sender = BulkSender(loop, KERNEL_IP, 6000, n)
        assert loop.run_until(sender.done, seconds, sender), f"stalled at {sender.off} of {n}"
        assert sender.error is None, sender.error
        out, err = server.communicate(timeout=10)
        got, digest = out.split()
        assert int(got) == n and digest.decode() == sender.sha256, err.decode()[-2000:]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("offload", MODES)
def test_kernel_client_to_aiostack_echo(offload: bool) -> None:
    _echo(offload, 2 << 20, 90)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("offload", MODES)
def test_aiostack_client_to_kernel_server(offload: bool) -> None:
    _upload(offload, 4 << 20, 90)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("offload", MODES)
def test_kernel_client_to_aiostack_echo_64mib(offload: bool) -> None:
    _echo(offload, 64 << 20, 280)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("offload", MODES)
def test_aiostack_client_to_kernel_server_64mib(offload: bool) -> None:
    _upload(offload, 64 << 20, 280)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("offload", MODES)
def test_pcap_of_tap_run_has_no_malformed_packets(offload: bool, tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed")
    pcap = tmp_path / "tap.pcap"
    with NetNs() as ns:
        loop = setup(ns, offload, str(pcap))
        server = EchoServer(loop, 7)
        ping = kernel_ping(ns, OUR_IP, count=2)
        client = ns.python(ECHO_CLIENT, OUR_IP, "7", str(200_000))
        probe = ns.python(UDP_PROBE, OUR_IP, "9")
        assert loop.run_until(lambda: all(p.poll() is not None for p in (ping, client, probe)), 60, server)
        loop.dev.close()
    r = subprocess.run([tshark, "-n", "-r", str(pcap)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) > 20
    assert "Malformed" not in r.stdout, [ln for ln in lines if "Malformed" in ln][:5]
    for proto in ("ARP", "ICMP", "TCP", "UDP"):
        assert proto in r.stdout


@pytest.mark.timeout(180)
@pytest.mark.parametrize("offload", MODES)
def test_tcp_echo_through_fault_injector_on_the_tap(offload: bool) -> None:
    """Seeded loss, reordering and duplication (and bit flips in plain mode, where both sides verify
    checksums) between aiostack and the kernel: both TCPs recover and the echo's sha256 matches."""
    from aiostack.link.fault import FaultInjector

    seed = 1234
    with NetNs() as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24", offload=offload)
        clock: list[HostLoop] = []
        dev = FaultInjector(tap, drop=0.02, reorder=0.05, duplicate=0.01, corrupt=0.0 if offload else 0.005,
                            seed=seed, clock=lambda: clock[0].now_us() if clock else 0)
        loop = HostLoop(dev, OUR_IP + "/24")
        clock.append(loop)
        server = EchoServer(loop, 7)
        n = (4 if offload else 1) << 20  # offload moves ~64 KiB frames: more bytes for as many faults
        client = ns.python(ECHO_CLIENT, OUR_IP, "7", str(n))
        ok = loop.run_until(lambda: client.poll() is not None, 150, server)
        assert ok, f"seed {seed}: kernel client did not finish; faults {dict(dev.counters.items())}"
        out, err = client.communicate(timeout=5)
        assert client.returncode == 0, err.decode()[-2000:]
        sent, echoed, got = out.split()
        assert int(got) == n and sent == echoed, f"seed {seed}"
        c = dev.counters
        # (offload mode moves ~64 KiB super-frames: few frames, so only the totals are sure to be hit)
        assert c["drops.tx.drop"] + c["drops.rx.drop"] > 0 and c["tx.reordered"] + c["rx.reordered"] > 0

