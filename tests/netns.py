"""A safe, self-cleaning network namespace for TAP tests and benchmarks.

Rules (DESIGN §7): the namespace is created here with a unique name; only 198.18.0.0/15 addresses are
assigned; nothing touches the host's interfaces or routes; every spawned process is tracked by PID and
killed, and the namespace deleted, on exit - also when the test fails. Usage::

    with NetNs() as ns:
        tap = ns.tap("tap0", address="198.18.0.1/24")      # kernel side of the TAP inside ns
        ns.run("ping", "-c", "1", "-W", "1", "198.18.0.2")  # bounded by its own timeout
        proc = ns.popen(sys.executable, "-c", CODE)          # killed on exit if still running
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import uuid
from typing import Any

from aiostack.link.tap import Tap, run_in_netns

ALLOWED = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range


def check_address(cidr: str) -> str:
    iface = ipaddress.ip_interface(cidr)
    if iface.ip not in ALLOWED:
        raise ValueError(f"test addresses must be in {ALLOWED}: {cidr}")
    return cidr


class NetNs:
    """One network namespace with a unique name; a context manager that always cleans up."""

    def __init__(self, prefix: str = "aiost") -> None:
        self.name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = f"/var/run/netns/{self.name}"
        self._procs: list[subprocess.Popen[Any]] = []
        self._taps: list[Tap] = []
        self._created = False

    # -- lifecycle --------------------------------------------------------------------------------------
    def __enter__(self) -> NetNs:
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10, capture_output=True)
        self._created = True
        try:
            self.ip("link", "set", "lo", "up")
            # IPv6 off inside the namespace: no router solicitations or MLD reports in the captures.
            self.run("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", check=True, timeout=10)
            self.run("sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1", check=True, timeout=10)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._procs.clear()
        for t in self._taps:
            t.close()
        self._taps.clear()
        if self._created:
            subprocess.run(["ip", "netns", "del", self.name], timeout=10, capture_output=True)
            self._created = False

    # -- commands inside the namespace ------------------------------------------------------------------
    def ip(self, *args: str) -> str:
        """``ip -n NAME ...``; raises with stderr on failure."""
        r = subprocess.run(["ip", "-n", self.name, *args], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError(f"ip -n {self.name} {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def run(self, *cmd: str, timeout: float = 30, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True,
                              timeout=timeout, check=check)

    def popen(self, *cmd: str, **kw: Any) -> subprocess.Popen[Any]:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], **kw)
        self._procs.append(p)
        return p

    def python(self, code: str, *args: str, **kw: Any) -> subprocess.Popen[Any]:
        """Run a Python snippet inside the namespace (killed on exit if still running)."""
        return self.popen(sys.executable, "-c", code, *args, **kw)

    def in_ns(self, fn: Any) -> Any:
        """Call ``fn()`` from a helper thread inside the namespace (e.g. to open a socket there)."""
        return run_in_netns(self.path, fn)

    # -- devices ----------------------------------------------------------------------------------------
    def tap(
        self,
        name: str = "tap0",
        *,
        address: str | None = None,
        offload: bool = False,
        mtu: int = 1500,
        up: bool = True,
        **kw: Any,
    ) -> Tap:
        """Create a TAP inside the namespace; the kernel's side gets ``address`` (198.18/15 only)."""
        tap = Tap(name, offload=offload, netns=self.path, mtu=mtu, **kw)
        self._taps.append(tap)
        self.ip("link", "set", "dev", tap.name, "mtu", str(mtu))
        if address is not None:
            self.ip("addr", "add", check_address(address), "dev", tap.name)
        if up:
            self.ip("link", "set", "dev", tap.name, "up")
        return tap

    def kernel_mac(self, dev: str) -> bytes:
        out = self.ip("-o", "link", "show", "dev", dev)
        mac = out.split("link/ether", 1)[1].split()[0]
        return bytes.fromhex(mac.replace(":", ""))

    def neigh(self, dev: str, address: str, mac: bytes) -> None:
        """A static neighbour entry so the kernel sends without ARP."""
        check_address(address + "/32")
        self.ip("neigh", "replace", address, "lladdr", mac.hex(":"), "dev", dev, "nud", "permanent")


# A kernel-side ping that needs no iputils: a raw ICMP socket inside the namespace sends echo requests
# and waits for the replies; prints "<received> received" and exits 0 when all came back.
PING_CODE = r"""
import os, select, socket, struct, sys, time
dst, count, interval, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return ~s & 0xFFFF
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xFFFF
got = set()
for seq in range(1, count + 1):
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"aiostack-ping-payload"
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    s.sendto(body, (dst, 0))
    end = time.monotonic() + (wait if seq == count else interval)
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
        if not r: break
        data = s.recv(65535)
        ihl = (data[0] & 15) * 4
        t, _, _, i, q = struct.unpack_from("!BBHHH", data, ihl)
        if t == 0 and i == ident: got.add(q)
        if len(got) == count: break
print(f"{len(got)} received")
sys.exit(0 if len(got) == count else 1)
"""


def kernel_ping(ns: NetNs, dst: str, count: int = 3, interval: float = 0.2, wait: float = 2.0) -> subprocess.Popen[Any]:
    """Start a kernel ping (raw ICMP socket) inside ``ns``; check ``returncode == 0`` afterwards."""
    check_address(dst + "/32")
    return ns.python(PING_CODE, dst, str(count), str(interval), str(wait))
