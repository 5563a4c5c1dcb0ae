"""TAP bulk throughput, both directions, plain (1514-byte frames) and offload (virtio-net GSO), beside
kernel -> kernel TCP over a veth pair measured in the same run.

    sudo python benchmarks/tap_bench.py [--bytes 256M] [--repeat 3] [--json] [--only raw,stack,veth]

Rows:

* ``raw``: the link alone. The kernel's TCP talks to a minimal TCP peer written right here on top of
  ``aiostack.link.tap.Tap`` (SYN-ACK, cumulative ACK per batch, FIN; go-back-N on a stall), so the number
  is what the TAP device path moves: kernel sender -> TAP (RX) and TAP -> kernel receiver (TX).
* ``stack``: the same transfers through aiostack's sans-I/O ``Host`` and TCP engine on the TAP, driven by
  a small synchronous poll loop (``select`` on the TAP fd). Skipped with a reason until the Host and
  its TCP engine are importable.
* ``veth``: kernel -> kernel over a veth pair between two namespaces (``aiostack.tools.kernelnet``).

Every transfer's bytes are verified against the workload pattern (``aiostack.tools.workloads``) by the
receiving side. Network safety (DESIGN §7): only namespaces this script creates, 198.18.0.0/15
addresses, every loop bounded by time, namespaces and processes removed on exit. Prints medians.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from aiostack.fastpath import checksum_fold, internet_checksum, pseudo_header_sum  # noqa: E402
from aiostack.link.base import frame_data  # noqa: E402
from aiostack.link.tap import Tap  # noqa: E402
from aiostack.tools import kernelnet  # noqa: E402
from aiostack.tools.workloads import PATTERN_PERIOD, PatternChecker, pattern  # noqa: E402

KERNEL_IP = "198.18.0.1"
OUR_IP = "198.18.0.2"
PORT = 5201
MSS = 1460
STALL_S = 0.2  # no ACK progress for this long: go back to snd_una (the TAP path does not lose frames
# unless a queue overflows)
TRANSFER_TIMEOUT_S = 120.0

_ETH_IP_TCP = struct.Struct("!6s6sH BBHHHBBH4s4s HHIIBBHHH")


def ip4(s: str) -> int:
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


class RawTcp:
    """The smallest TCP endpoint that keeps the kernel's TCP busy over a TAP (benchmark only)."""

    def __init__(self, tap: Tap, kmac: bytes, lport: int, rport: int) -> None:
        self.tap = tap
        self.kmac = kmac
        self.lport = lport
        self.rport = rport
        self.src = ip4(OUR_IP)
        self.dst = ip4(KERNEL_IP)
        self.src_b = bytes(map(int, OUR_IP.split(".")))
        self.dst_b = bytes(map(int, KERNEL_IP.split(".")))
        self.ident = 0
        self.offload = tap.offload

    def frame(self, seq: int, ack: int, flags: int, window: int, payload: Any = b"", opts: bytes = b"",
              gso: bool = False) -> Any:
        hl = 20 + len(opts)
        plen = len(payload)
        total = 20 + hl + plen
        buf = bytearray(14 + total)
        self.ident = (self.ident + 1) & 0xFFFF
        _ETH_IP_TCP.pack_into(buf, 0, self.kmac, self.tap.mac, 0x0800, 0x45, 0, total, self.ident, 0x4000, 64,
                              6, 0, self.src_b, self.dst_b, self.lport, self.rport, seq, ack, hl << 2, flags,
                              window, 0, 0)
        struct.pack_into("!H", buf, 24, internet_checksum(memoryview(buf)[14:34]))
        if opts:
            buf[54:54 + len(opts)] = opts
        if plen:
            buf[14 + 20 + hl:] = payload
        phs = pseudo_header_sum(self.src, self.dst, 6, hl + plen)
        if self.offload and (plen > MSS or gso):
            from aiostack.wire import vnet

            struct.pack_into("!H", buf, 50, checksum_fold(phs))
            is_gso = plen > MSS
            return vnet.OffloadFrame(buf, flags=vnet.NEEDS_CSUM, gso_type=vnet.GSO_TCPV4 if is_gso else 0,
                                     gso_size=MSS if is_gso else 0, hdr_len=14 + 20 + hl, csum_start=34,
                                     csum_offset=16)
        struct.pack_into("!H", buf, 50, internet_checksum(memoryview(buf)[34:], phs))
        return buf


def parse(f: Any) -> tuple[int, int, int, int, int, memoryview, bytes] | None:
    """(sport, dport, seq, ack, flags, payload, options) of a TCP/IPv4 frame, else None."""
    d = frame_data(f)
    mv = d if isinstance(d, memoryview) else memoryview(d)
    if len(mv) < 54 or mv[12] != 8 or mv[13] != 0 or mv[23] != 6:
        return None
    ihl = (mv[14] & 15) * 4
    total = (mv[16] << 8) | mv[17]
    t = 14 + ihl
    sport, dport, seq, ack, off, flags, win = struct.unpack_from("!HHIIBBH", mv, t)
    doff = (off >> 4) * 4
    return sport, dport, seq, ack, flags | (win << 8), mv[t + doff:14 + total], bytes(mv[t + 20:t + doff])


def wscale_of(opts: bytes) -> int:
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        ln = opts[i + 1] if i + 1 < len(opts) else 0
        if ln < 2:
            break
        if kind == 3 and ln == 3:
            return opts[i + 2]
        i += ln
    return 0


def wait_readable(tap: Tap, timeout: float) -> None:
    select.select([tap.fileno()], [], [], timeout)


# -- kernel -> TAP (the kernel sends) --------------------------------------------------------------------
def raw_rx(ns: Any, tap: Tap, total: int) -> dict[str, Any]:
    kmac = ns.kernel_mac(tap.name)
    sender = ns.popen(*kernelnet.peer_argv("send", OUR_IP, PORT, total))
    peer: RawTcp | None = None
    isn = 1000
    rcv_nxt = 0
    checker = PatternChecker(1 << 17)
    t0 = t1 = 0.0
    fin = False
    deadline = time.monotonic() + TRANSFER_TIMEOUT_S
    window = 0xFFFF  # scaled by 2**14 below: the kernel may send 1 GiB ahead, we never hold anything back
    while not fin and time.monotonic() < deadline:
        wait_readable(tap, 0.5)
        progressed = False
        for f in tap.receive_batch(512):
            p = parse(f)
            if p is None or p[1] != PORT:
                continue
            sport, _, seq, _, flags, payload, _ = p
            flags &= 0xFF
            if flags & 0x02:  # SYN
                peer = RawTcp(tap, kmac, PORT, sport)
                rcv_nxt = (seq + 1) & 0xFFFFFFFF
                # MSS 1460, window scale 14, no SACK/timestamps (RFC 9293 §3.2, RFC 7323 §2)
                tap.send_batch([peer.frame(isn, rcv_nxt, 0x12, window, opts=b"\x02\x04\x05\xb4\x01\x03\x03\x0e")])
                continue
            if peer is None or seq != rcv_nxt:
                progressed = True  # out of order or duplicate: a duplicate ACK follows
                continue
            n = len(payload)
            if n:
                if not t0:
                    t0 = time.perf_counter()
                checker.feed(payload)
                rcv_nxt = (rcv_nxt + n) & 0xFFFFFFFF
                progressed = True
            if flags & 0x01:  # FIN
                rcv_nxt = (rcv_nxt + 1) & 0xFFFFFFFF
                t1 = time.perf_counter()
                fin = True
        if peer is not None and progressed:
            flags = 0x11 if fin else 0x10
            tap.send_batch([peer.frame(isn + 1, rcv_nxt, flags, window)])
    sender.communicate(timeout=30)
    if not fin:
        raise RuntimeError(f"kernel -> TAP transfer did not finish: {checker.pos} of {total} bytes")
    checker.check(total)
    secs = t1 - t0
    return {"bytes": total, "seconds": secs, "MB/s": total / secs / 1e6, "verified": True,
            "frames": tap.counters["rx_frames"]}


# -- TAP -> kernel (we send) -----------------------------------------------------------------------------
def raw_tx(ns: Any, tap: Tap, total: int) -> dict[str, Any]:
    kmac = ns.kernel_mac(tap.name)
    recv = ns.popen(*kernelnet.peer_argv("recv", KERNEL_IP, PORT, total), text=True)
    kernelnet.read_json_line(recv)  # {"ready": port}
    peer = RawTcp(tap, kmac, 40000, PORT)
    isn = 5000
    tap.send_batch([peer.frame(isn, 0, 0x02, 0xFFFF, opts=b"\x02\x04\x05\xb4\x01\x03\x03\x07")])
    deadline = time.monotonic() + 10
    kisn = None
    wscale = 0
    while kisn is None and time.monotonic() < deadline:
        wait_readable(tap, 0.2)
        for f in tap.receive_batch(64):
            p = parse(f)
            if p and p[1] == 40000 and (p[4] & 0x12) == 0x12:
                kisn = p[2]
                wscale = wscale_of(p[6])
    if kisn is None:
        raise RuntimeError("no SYN-ACK from the kernel")
    rcv = (kisn + 1) & 0xFFFFFFFF
    base = isn + 1
    tap.send_batch([peer.frame(base, rcv, 0x10, 0xFFFF)])
    pat = memoryview(pattern(1 << 16))
    seg_max = (65535 - 40 - 40) // MSS * MSS if tap.offload else MSS
    snd_una = snd_nxt = 0  # stream offsets
    wnd = 0xFFFF << wscale
    last_progress = time.monotonic()
    deadline = time.monotonic() + TRANSFER_TIMEOUT_S
    t0 = time.perf_counter()
    fin_sent = False
    dupacks = stalls = 0
    recovering = False
    while time.monotonic() < deadline:
        for f in tap.receive_batch(512):
            p = parse(f)
            if p is None or p[1] != 40000 or not p[4] & 0x10:
                continue
            acked = (p[3] - base) & 0xFFFFFFFF
            if acked > snd_una and acked <= total + 1:
                snd_una = acked
                dupacks = 0
                recovering = False
                last_progress = time.monotonic()
            elif (acked == snd_una and snd_nxt > snd_una and not len(p[5]) and not recovering
                  and (p[4] >> 8) << wscale == wnd):
                dupacks += 1  # the receiver is missing the segment at snd_una (RFC 5681 §3.2)
            wnd = (p[4] >> 8) << wscale
        if snd_una >= total + 1:
            break
        if dupacks >= 3 or time.monotonic() - last_progress > STALL_S:
            dupacks = 0
            recovering = True  # one go-back per loss: later duplicate ACKs were already in flight
            stalls += 1
            snd_nxt = snd_una  # go back N
            fin_sent = False
            last_progress = time.monotonic()
        batch = []
        limit = min(total, snd_una + max(wnd, MSS))
        while snd_nxt < limit and len(batch) < 64:
            n = min(seg_max, limit - snd_nxt)
            off = snd_nxt % PATTERN_PERIOD
            batch.append(peer.frame((base + snd_nxt) & 0xFFFFFFFF, rcv, 0x18, 0xFFFF, pat[off:off + n]))
            snd_nxt += n
        if snd_nxt >= total and not fin_sent:
            batch.append(peer.frame((base + total) & 0xFFFFFFFF, rcv, 0x11, 0xFFFF))
            fin_sent = True
            snd_nxt = total
        if batch:
            tap.send_batch(batch)
        else:
            wait_readable(tap, 0.01)
    secs = time.perf_counter() - t0
    result = kernelnet.read_json_line(recv)
    recv.wait(timeout=10)
    if not result.get("verified"):
        raise RuntimeError(f"kernel receiver: {result}")
    return {"bytes": total, "seconds": result["seconds"], "MB/s": result["value"], "verified": True,
            "sender_seconds": secs, "frames": tap.counters["tx_frames"], "go_back_n": stalls}


# -- the runs --------------------------------------------------------------------------------------------
def in_tap_ns(offload: bool, fn: Callable[[Any, Tap, int], dict[str, Any]], total: int) -> dict[str, Any]:
    from netns import NetNs

    with NetNs(prefix="tapbench") as ns:
        tap = ns.tap("tap0", address=KERNEL_IP + "/24", offload=offload)
        ns.neigh("tap0", OUR_IP, tap.mac)
        ns.ip("link", "set", "dev", "tap0", "txqueuelen", "10000")
        return fn(ns, tap, total)


def stack_available() -> str | None:
    try:
        from aiostack.core.host import Host  # noqa: F401
        from aiostack.core.tcp.connection import TcpConnection  # noqa: F401
    except ImportError as exc:
        return f"aiostack Host/TCP engine not importable yet ({exc})"
    return None


def stack_run(offload: bool, direction: str, total: int) -> dict[str, Any]:
    from hostloop import bench_transfer

    return bench_transfer(offload=offload, direction=direction, total=total)


def parse_size(s: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * mult[s[-1].upper()]) if s[-1].upper() in mult else int(s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bytes", type=parse_size, default=parse_size("256M"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="raw,stack,veth")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    why = kernelnet.available()
    if why:
        print(f"skipped: {why}")
        return 0
    want = set(a.only.split(","))
    rows: list[dict[str, Any]] = []

    def measure(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        vals = []
        last: dict[str, Any] = {}
        for _ in range(a.repeat):
            last = fn()
            vals.append(last["MB/s"])
        rows.append({"row": name, "MB/s": statistics.median(vals), "runs": vals, "bytes": a.bytes,
                     "verified": bool(last.get("verified"))})
        if not a.json:
            print(f"{name:<40} {statistics.median(vals):10.1f} MB/s  (runs: {', '.join(f'{v:.0f}' for v in vals)})",
                  flush=True)

    if "veth" in want:
        def veth() -> dict[str, Any]:
            with kernelnet.Netns() as ns, kernelnet.veth_pair(ns) as net:
                r = kernelnet.kernel_bulk(net, ns, a.bytes)
            return {"MB/s": r["value"], "verified": r["verified"]}

        measure("kernel -> kernel veth (MTU 1500)", veth)
    if "raw" in want:
        for offload in (False, True):
            mode = "offload" if offload else "plain"
            measure(f"raw kernel -> TAP ({mode})", lambda o=offload: in_tap_ns(o, raw_rx, a.bytes))
            measure(f"raw TAP -> kernel ({mode})", lambda o=offload: in_tap_ns(o, raw_tx, a.bytes))
    if "stack" in want:
        why = stack_available()
        if why:
            rows.append({"row": "stack", "skipped": why})
            if not a.json:
                print(f"stack rows skipped: {why}")
        else:
            for offload in (False, True):
                mode = "offload" if offload else "plain"
                for d, label in (("rx", "kernel -> aiostack"), ("tx", "aiostack -> kernel")):
                    measure(f"stack {label} ({mode})", lambda o=offload, d=d: stack_run(o, d, a.bytes))
    if a.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
