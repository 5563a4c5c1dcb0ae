"""``python -m aiostack netsim``: one bulk TCP transfer between two aiostack hosts over the ``Netsim``.

Everything runs sans-I/O on virtual time (no asyncio, no sockets, no sleeps): two ``Host`` objects, each
with one interface on an end of a deterministic ``Netsim`` wire (latency = RTT / 2 each way, a
serialization rate, a drop-tail queue, seeded loss / reordering / duplication / bit flips). Host A
connects to host B, sends ``--bytes`` of seeded random data and closes; B reads everything and hashes it.

Printed: the seed (same seed and options -> the same run, bit for bit), virtual time, goodput (payload
bits over the virtual time from the SYN to the receiver's EOF), retransmissions, RTO expiries, what the
wire did, and whether the received sha256 equals the sent one. ``--json`` prints one JSON object
(``"sha256_match": true`` on success); the exit status is 0 only when the hashes match.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from typing import Any

from aiostack.config import TcpConfig

ADDR_A = "198.18.0.1"
ADDR_B = "198.18.0.2"
PORT = 5001
SEND_CHUNK = 256 * 1024
RECV_BATCH = 4096
DEFAULT_MAX_VIRTUAL_S = 3600.0
MAX_ITERATIONS = 50_000_000


def parse_size(text: str) -> int:
    """``16M``, ``512K``, ``1G``, ``1000`` -> bytes (binary multiples)."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if t and t[-1] in mult:
        return int(float(t[:-1]) * mult[t[-1]])
    return int(t)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bytes", type=parse_size, default=parse_size("16M"), help="payload to send (16M)")
    p.add_argument("--loss", type=float, default=0.0, help="frame loss probability per direction")
    p.add_argument("--reorder", type=float, default=0.0, help="probability a frame is held back")
    p.add_argument("--dup", type=float, default=0.0, help="frame duplication probability")
    p.add_argument("--corrupt", type=float, default=0.0, help="single-bit corruption probability")
    p.add_argument("--rtt-ms", type=float, default=20.0, help="round-trip propagation delay (20)")
    p.add_argument("--rate-mbit", type=float, default=100.0, help="link rate each way, 0 = unlimited (100)")
    p.add_argument("--queue-bytes", type=parse_size, default=None,
                   help="drop-tail queue per direction (default: max(2 x BDP, 64K))")
    p.add_argument("--mtu", type=int, default=1500)
    p.add_argument("--cc", default="cubic", help="congestion control: cubic or newreno")
    p.add_argument("--seed", type=int, default=None, help="seed of the wire and the data (random if unset)")
    p.add_argument("--pcap", default=None, help="write host A's view of the wire to this pcap file")
    p.add_argument("--max-virtual-s", type=float, default=DEFAULT_MAX_VIRTUAL_S,
                   help="give up after this much virtual time (3600)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def simulate(
    *,
    total_bytes: int,
    loss: float = 0.0,
    reorder: float = 0.0,
    dup: float = 0.0,
    corrupt: float = 0.0,
    rtt_ms: float = 20.0,
    rate_mbit: float = 100.0,
    queue_bytes: int | None = None,
    mtu: int = 1500,
    cc: str = "cubic",
    seed: int = 1,
    pcap: str | None = None,
    max_virtual_s: float = DEFAULT_MAX_VIRTUAL_S,
    tcp_config: TcpConfig | None = None,
) -> dict[str, Any]:
    """Run one transfer; returns the result record (see module docstring)."""
    # Imported here: ``python -m aiostack`` loads every subcommand module to build its parser.
    from aiostack.core.host import Host
    from aiostack.core.tcp.events import Closed, Connected, DataReceived, EofReceived
    from aiostack.link.netsim import Netsim
    from aiostack.link.pcap import PcapWriter

    wall0 = time.perf_counter()
    rate_bps = int(rate_mbit * 1e6)
    rtt_us = int(rtt_ms * 1000)
    if queue_bytes is None:
        bdp = rate_bps * rtt_us // 8_000_000 if rate_bps else 0
        queue_bytes = max(2 * bdp, 64 * 1024)
    sim = Netsim(latency_us=rtt_us // 2, rate_bps=rate_bps, queue_bytes=queue_bytes, loss=loss, reorder=reorder,
                 duplicate=dup, corrupt=corrupt, seed=seed, mtu=mtu)
    dev_a: Any = sim.a
    if pcap:
        dev_a = PcapWriter(sim.a, pcap, clock=lambda: sim.now_us)
    dev_b: Any = sim.b
    cfg = dataclasses.replace(tcp_config or TcpConfig(), congestion_control=cc)
    # Independent, seeded randomness per host (ISNs, ports) and for the data.
    seeds = random.Random(seed)
    host_a = Host(rng=random.Random(seeds.getrandbits(64)), isn_secret=seeds.randbytes(16), tcp_config=cfg)
    host_b = Host(rng=random.Random(seeds.getrandbits(64)), isn_secret=seeds.randbytes(16), tcp_config=cfg)
    if_a = host_a.add_interface("sim0", sim.a.mac, f"{ADDR_A}/24", mtu=mtu, caps=sim.a.caps)
    if_b = host_b.add_interface("sim0", sim.b.mac, f"{ADDR_B}/24", mtu=mtu, caps=sim.b.caps)
    data = random.Random(seeds.getrandbits(64)).randbytes(total_bytes)
    sent_sha = hashlib.sha256(data).hexdigest()
    mv = memoryview(data)

    listener = host_b.tcp_listen(0, PORT)
    now = 0
    client = host_a.tcp_connect(ADDR_B, PORT, now_us=now)
    server: Any = None
    rx_hash = hashlib.sha256()
    received = 0
    sent_off = 0
    fin_sent = False
    connected = False
    eof_at: int | None = None
    error: str | None = None
    limit_us = int(max_virtual_s * 1_000_000)
    ends: list[tuple[Host, int, Any]] = [(host_a, if_a, dev_a), (host_b, if_b, dev_b)]

    def app() -> None:
        nonlocal server, received, sent_off, fin_sent, eof_at, error, connected
        if server is None:
            server = listener.accept()
        # sender: keep the send buffer full, then FIN
        if sent_off < total_bytes:
            k = client.send(mv[sent_off:sent_off + SEND_CHUNK])
            if k:
                sent_off += k
                host_a.notify(client)
        while (ev := client.next_event()) is not None:
            if isinstance(ev, Connected):
                connected = True
            elif isinstance(ev, Closed) and ev.error is not None:
                error = f"sender: {ev.error!r}"
        if sent_off >= total_bytes and not fin_sent and connected:
            client.shutdown_write()  # FIN after the data (RFC 9293 §3.10.4)
            fin_sent = True
            host_a.notify(client)
        if server is not None:
            while (ev := server.next_event()) is not None:
                if isinstance(ev, DataReceived):
                    chunk = server.read()
                    rx_hash.update(chunk)
                    received += len(chunk)
                    host_b.notify(server)
                elif isinstance(ev, EofReceived):
                    eof_at = now
                    server.close()
                    host_b.notify(server)
                elif isinstance(ev, Closed) and ev.error is not None:
                    error = f"receiver: {ev.error!r}"

    iterations = 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        sim.advance(now)
        progressed = False
        for host, ifx, dev in ends:
            frames = dev.receive_batch(RECV_BATCH)
            if frames:
                host.receive_frames(ifx, frames, now)
                progressed = True
            pa = host.poll_at()
            if pa is not None and pa <= now:
                host.handle_timer(now)
        app()
        for host, _ifx, dev in ends:
            out = host.poll_egress(now)
            if out:
                dev.send_batch([f for _, f in out])
                progressed = True
        if eof_at is not None or error is not None:
            break
        if progressed:
            continue
        cands = [t for t in (sim.poll_at(), host_a.poll_at(), host_b.poll_at()) if t is not None]
        if not cands:
            error = "deadlock: nothing in flight and no timer armed"
            break
        nxt = min(cands)
        now = nxt if nxt > now else now + 1
        if now > limit_us:
            error = f"gave up after {max_virtual_s} s of virtual time"
            break
    if eof_at is None and error is None:
        error = f"gave up after {iterations} iterations"
    if pcap:
        dev_a.close()
    elapsed_us = eof_at if eof_at is not None else now
    counters = client.counters
    link: dict[str, int] = {}
    for end in (sim.a, sim.b):
        for k, v in end.counters.items():
            link[k] = link.get(k, 0) + v
    received_sha = rx_hash.hexdigest()
    return {
        "seed": seed,
        "bytes": total_bytes,
        "received_bytes": received,
        "virtual_time_s": elapsed_us / 1e6,
        "goodput_mbit": (received * 8 / elapsed_us) if elapsed_us else 0.0,
        "retransmits": counters["retransmits"],
        "fast_retransmits": counters["fast_retransmits"],
        "rto_expiries": counters["rto_expiries"],
        "sha256_sent": sent_sha,
        "sha256_received": received_sha,
        "sha256_match": received == total_bytes and received_sha == sent_sha and error is None,
        "error": error,
        "cc": cc,
        "loss": loss,
        "reorder": reorder,
        "dup": dup,
        "corrupt": corrupt,
        "rtt_ms": rtt_ms,
        "rate_mbit": rate_mbit,
        "queue_bytes": queue_bytes,
        "mtu": mtu,
        "link": link,
        "iterations": iterations,
        "wall_s": time.perf_counter() - wall0,
    }


def run(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    r = simulate(total_bytes=args.bytes, loss=args.loss, reorder=args.reorder, dup=args.dup, corrupt=args.corrupt,
                 rtt_ms=args.rtt_ms, rate_mbit=args.rate_mbit, queue_bytes=args.queue_bytes, mtu=args.mtu,
                 cc=args.cc, seed=seed, pcap=args.pcap, max_virtual_s=args.max_virtual_s)
    if args.json:
        print(json.dumps(r))
    else:
        _print_human(r, print)
    return 0 if r["sha256_match"] else 1


def _print_human(r: dict[str, Any], out: Callable[[str], None]) -> None:
    out(f"seed            {r['seed']}")
    out(f"wire            rtt {r['rtt_ms']} ms, {r['rate_mbit']} Mbit/s, queue {r['queue_bytes']} B, mtu {r['mtu']}, "
        f"loss {r['loss']}, reorder {r['reorder']}, dup {r['dup']}, corrupt {r['corrupt']}")
    out(f"transfer        {r['received_bytes']} of {r['bytes']} bytes, cc {r['cc']}")
    out(f"virtual time    {r['virtual_time_s']:.3f} s")
    out(f"goodput         {r['goodput_mbit']:.2f} Mbit/s")
    out(f"retransmits     {r['retransmits']} (fast {r['fast_retransmits']}), RTO expiries {r['rto_expiries']}")
    link = r["link"]
    out(f"wire events     lost {link.get('drops.loss', 0)}, queue drops {link.get('drops.queue_full', 0)}, "
        f"duplicated {link.get('duplicated', 0)}, reordered {link.get('reordered', 0)}, "
        f"corrupted {link.get('corrupted', 0)}")
    out(f"sha256 match    {r['sha256_match']}" + (f"  ({r['error']})" if r["error"] else ""))
    out(f"wall time       {r['wall_s']:.2f} s")
