"""Kernel reference for the TAP benchmarks: network namespaces, a veth pair, kernel bulk peers.

Network safety (DESIGN §7): everything happens inside network namespaces this module creates
(``aiostack-bench-<pid>-<n>``), with addresses from 198.18.0.0/15 only; no route leaves them and the
host's interfaces are never touched. Namespaces are deleted and the processes spawned into them killed
(by PID) when the :class:`Netns` context ends, also on failure. Every socket operation has a timeout.

``python -m aiostack.tools.kernelnet recv|send ...`` is the kernel bulk peer (plain blocking sockets,
64 KiB ``sendall`` writes, ``recv_into`` a 256 KiB buffer): the receiver checks every byte against the
pattern of :mod:`aiostack.tools.workloads` and prints one JSON line with the bytes, seconds (accept to
EOF) and MB/s. The bench runs it in a namespace with :func:`Netns.spawn`.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiostack.tools.workloads import READ_SIZE, WRITE_SIZE, PatternChecker, pattern_chunks

BENCH_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range: the only one we use
VETH_NET = ipaddress.ip_network("198.18.200.0/24")
TAP_NET = ipaddress.ip_network("198.18.201.0/24")
TAP_PLAIN_NET = ipaddress.ip_network("198.18.202.0/24")
IO_TIMEOUT_S = 60.0


def _check_addr(addr: str) -> str:
    if ipaddress.ip_interface(addr).ip not in BENCH_NET:
        raise ValueError(f"{addr} is outside 198.18.0.0/15; the benchmark uses no other addresses")
    return addr


def ip(*args: str, netns: str | None = None) -> str:
    """Run ``ip [-n netns] args...``; raise with its stderr on failure."""
    argv = ["ip", *(("-n", netns) if netns else ()), *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r.stdout


def available() -> str | None:
    """None when namespaces can be made here; else the reason they cannot."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, TAP)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    try:
        ip("-V")
    except (OSError, RuntimeError) as exc:
        return f"no usable 'ip' command: {exc}"
    return None


class Netns:
    """Namespaces owned by one benchmark run; ``with Netns() as ns:`` cleans up on exit."""

    _serial = 0

    def __init__(self) -> None:
        self.names: list[str] = []
        self.procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self) -> str:
        Netns._serial += 1
        name = f"aiostack-bench-{os.getpid()}-{Netns._serial}"
        ip("netns", "add", name)
        self.names.append(name)
        ip("link", "set", "lo", "up", netns=name)
        return name

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``argv`` inside namespace ``name`` (stdout piped as text); killed in :meth:`close`."""
        if name not in self.names:
            raise ValueError(f"{name} is not a namespace of this run")
        p = subprocess.Popen(["ip", "netns", "exec", name, *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        self.procs.append(p)
        return p

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)  # its own session: the process and its children
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=10)
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        self.procs.clear()
        for name in reversed(self.names):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                ip("netns", "del", name)
        self.names.clear()


@dataclass
class VethNet:
    ns_a: str
    ns_b: str
    addr_a: str
    addr_b: str
    mtu: int


@contextlib.contextmanager
def veth_pair(ns: Netns, mtu: int = 1500) -> Iterator[VethNet]:
    """Two namespaces joined by a veth pair (198.18.200.1/24 <-> 198.18.200.2/24)."""
    a, b = ns.add(), ns.add()
    addr_a, addr_b = f"{VETH_NET[1]}", f"{VETH_NET[2]}"
    ip("link", "add", "bench-a", "mtu", str(mtu), "type", "veth", "peer", "name", "bench-b", "mtu", str(mtu),
       netns=a)
    ip("link", "set", "bench-b", "netns", b, netns=a)
    ip("addr", "add", _check_addr(f"{addr_a}/24"), "dev", "bench-a", netns=a)
    ip("addr", "add", _check_addr(f"{addr_b}/24"), "dev", "bench-b", netns=b)
    ip("link", "set", "bench-a", "up", netns=a)
    ip("link", "set", "bench-b", "up", netns=b)
    yield VethNet(a, b, addr_a, addr_b, mtu)


def peer_argv(mode: str, addr: str, port: int, total_bytes: int) -> list[str]:
    """argv of the kernel bulk peer (``mode`` is ``recv`` or ``send``)."""
    return [sys.executable, "-m", "aiostack.tools.kernelnet", mode, "--addr", addr, "--port", str(port),
            "--bytes", str(total_bytes)]


def read_json_line(p: subprocess.Popen[str], timeout: float = IO_TIMEOUT_S) -> dict[str, Any]:
    """The next JSON line a spawned peer prints (raises with its stderr if it exits or times out)."""
    import selectors

    assert p.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(p.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"no answer from {p.args!r} within {timeout} s")
            line = p.stdout.readline()
            if not line:
                p.wait(timeout=10)
                err = p.stderr.read() if p.stderr else ""
                raise RuntimeError(f"{p.args!r} exited with {p.returncode}: {err.strip()[-2000:]}")
            line = line.strip()
            if line.startswith("{"):
                result: dict[str, Any] = json.loads(line)
                return result


def kernel_bulk(net: VethNet, ns: Netns, total_bytes: int, port: int = 5201) -> dict[str, Any]:
    """Kernel -> kernel bulk over the veth pair (sender in ns_a, receiver in ns_b); the receiver's numbers."""
    procs = [ns.spawn(net.ns_b, peer_argv("recv", net.addr_b, port, total_bytes))]
    try:
        read_json_line(procs[0])  # {"ready": port}
        procs.append(ns.spawn(net.ns_a, peer_argv("send", net.addr_b, port, total_bytes)))
        result = read_json_line(procs[0])
        sent = read_json_line(procs[1])
        for p in procs:
            p.wait(timeout=IO_TIMEOUT_S)
    finally:
        for p in procs:  # after a failure: no peer may stay behind holding the port
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    if not result.get("verified") or sent.get("bytes") != total_bytes:
        raise RuntimeError(f"kernel bulk over veth failed: receiver {result}, sender {sent}")
    return result


# -- the kernel bulk peer (runs inside a namespace) ------------------------------------------------------
def recv_main(addr: str, port: int, total_bytes: int) -> dict[str, Any]:
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(IO_TIMEOUT_S)
    print(json.dumps({"ready": ls.getsockname()[1]}), flush=True)
    conn, _ = ls.accept()
    ls.close()
    t0 = time.perf_counter()
    conn.settimeout(IO_TIMEOUT_S)
    buf = bytearray(READ_SIZE)
    mv = memoryview(buf)
    checker = PatternChecker(READ_SIZE)
    recv_into = conn.recv_into
    feed = checker.feed
    while True:
        n = recv_into(buf)
        if not n:
            break
        feed(mv[:n])
    seconds = time.perf_counter() - t0
    conn.close()
    checker.check(total_bytes)
    return {"value": checker.pos / seconds / 1e6, "unit": "MB/s", "bytes": checker.pos, "seconds": seconds,
            "verified": True}


def send_main(addr: str, port: int, total_bytes: int) -> dict[str, Any]:
    deadline = time.monotonic() + IO_TIMEOUT_S
    while True:
        try:
            s = socket.create_connection((addr, port), timeout=IO_TIMEOUT_S)
            break
        except (ConnectionRefusedError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    t0 = time.perf_counter()
    sendall = s.sendall
    for chunk in pattern_chunks(total_bytes, WRITE_SIZE):
        sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):  # the receiver closes after EOF: wait for its FIN
        pass
    seconds = time.perf_counter() - t0
    s.close()
    return {"bytes": total_bytes, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiostack.tools.kernelnet",
                                description="kernel bulk peer for the TAP benchmarks")
    p.add_argument("mode", choices=["recv", "send"])
    p.add_argument("--addr", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bytes", type=int, required=True)
    a = p.parse_args(argv)
    _check_addr(a.addr)
    fn = recv_main if a.mode == "recv" else send_main
    print(json.dumps(fn(a.addr, a.port, a.bytes)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
