"""``python -m aiostack demo``: aiostack beside the kernel, in one process, without root.

Two workloads written once against the asyncio streams API (``aiostack.tools.workloads``) run over
aiostack (two stacks joined by an in-memory link: client on 198.18.0.1, server on 198.18.0.2) and over
the kernel's loopback (``asyncio.open_connection``/``asyncio.start_server`` on 127.0.0.1), in the same
run and on the same event loop kind. Printed: a table (workload, aiostack, kernel, ratio) with the median
of ``--repeat`` runs each, and the socket table of both stacks taken while a transfer runs. ``--json``
writes the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiostack.tools import workloads as wl

ADDR_A = "198.18.0.1"
ADDR_B = "198.18.0.2"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--uvloop", action="store_true", help="run both sides on uvloop")
    p.add_argument("--mtu", type=int, default=65535, help="MTU of the in-memory link (default 65535)")
    p.add_argument("--json", metavar="FILE", help="write the rows (and the run's settings) as JSON")
    p.add_argument("--bytes", type=int, default=64 << 20, help="bulk transfer size (default 64 MiB)")
    p.add_argument("--rounds", type=int, default=5000, help="echo round trips per run (default 5000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is shown (default 3)")


Workload = Callable[[wl.Endpoints], Awaitable[dict[str, Any]]]


async def _aiostack_run(mtu: int, fn: Workload) -> tuple[dict[str, Any], dict[str, Any]]:
    from aiostack.aio.stack import Stack

    a, b = Stack.pair(mtu=mtu, addresses=(f"{ADDR_A}/24", f"{ADDR_B}/24"))
    async with a, b:
        ep = wl.Endpoints("aiostack", a.open_connection, b.start_server, ADDR_B, ADDR_B)
        result = await fn(ep)
        stats = a.stats()
    return result, stats


async def _kernel_run(fn: Workload) -> dict[str, Any]:
    return await fn(wl.kernel_endpoints())


async def socket_table_during_transfer(mtu: int, nbytes: int) -> str:
    """Start a bulk transfer over aiostack and capture both stacks' socket tables while it runs."""
    from aiostack.aio.netstat import format_netstat
    from aiostack.aio.stack import Stack

    a, b = Stack.pair(mtu=mtu, addresses=(f"{ADDR_A}/24", f"{ADDR_B}/24"))
    async with a, b:
        ep = wl.Endpoints("aiostack", a.open_connection, b.start_server, ADDR_B, ADDR_B)
        task = asyncio.ensure_future(wl.bulk(ep, nbytes))
        table = ""
        deadline = time.perf_counter() + 10
        while not task.done() and time.perf_counter() < deadline:
            await asyncio.sleep(0)
            rows = a.netstat() + b.netstat()
            if any(r.state == "ESTABLISHED" and (r.send_q or r.recv_q) for r in rows):
                table = (f"stack a ({ADDR_A}):\n{format_netstat(a.netstat())}\n"
                         f"stack b ({ADDR_B}):\n{format_netstat(b.netstat())}")
                break
        await task
    return table


def _fmt(value: float, unit: str) -> str:
    if unit == "MB/s":
        return f"{value:,.0f} MB/s"
    return f"{value / 1000:,.1f} k/s" if value >= 1000 else f"{value:,.0f} /s"


async def measure(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    workloads: list[tuple[str, Workload]] = [
        (f"echo round trips, 64 B ({args.rounds:,} per run)", lambda ep: wl.pingpong(ep, args.rounds)),
        (f"bulk transfer, 64 KiB writes ({args.bytes / (1 << 20):g} MiB)", lambda ep: wl.bulk(ep, args.bytes)),
    ]
    rows: list[dict[str, Any]] = []
    last_stats: dict[str, Any] = {}
    for name, fn in workloads:
        ours: list[float] = []
        theirs: list[float] = []
        unit = ""
        for _ in range(max(1, args.repeat)):
            r, last_stats = await _aiostack_run(args.mtu, fn)
            ours.append(r["value"])
            unit = r["unit"]
            theirs.append((await _kernel_run(fn))["value"])
        a_med = statistics.median(ours)
        k_med = statistics.median(theirs)
        rows.append({"workload": name, "unit": unit, "aiostack": a_med, "kernel": k_med,
                     "ratio": a_med / k_med if k_med else None, "aiostack_runs": ours, "kernel_runs": theirs})
        print(f"  measured: {name}", file=sys.stderr, flush=True)
    table = await socket_table_during_transfer(args.mtu, 16 << 20)
    return rows, table, last_stats


def format_rows(rows: list[dict[str, Any]]) -> str:
    head = ("workload", "aiostack", "kernel", "ratio")
    body = [(r["workload"], _fmt(r["aiostack"], r["unit"]), _fmt(r["kernel"], r["unit"]),
             f"{r['ratio']:.2f}" if r["ratio"] is not None else "-") for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(4)]
    lines = []
    for row in [head, *body]:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from aiostack import _compiled, fastpath

    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            print("uvloop is not installed (pip install uvloop)", file=sys.stderr)
            return 2
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        loop_name = f"uvloop {uvloop.__version__}"
    else:
        factory = asyncio.new_event_loop
        loop_name = "asyncio (default selector loop)"
    with asyncio.Runner(loop_factory=factory) as runner:
        rows, table, stats = runner.run(measure(args))
    engine = _compiled.engine_status()
    print(f"aiostack demo: {loop_name}, fast path {fastpath.IMPLEMENTATION}, engine {engine}, "
          f"in-memory link MTU {args.mtu}, "
          f"Python {sys.version.split()[0]}; median of {args.repeat} runs; kernel = asyncio streams on 127.0.0.1")
    print()
    print(format_rows(rows))
    print()
    print("socket table while a transfer runs (aiostack's netstat):")
    print(table or "(the transfer finished before a sample was taken)")
    print()
    print(f"client stack counters (last run): tcp.segments_sent={stats.get('tcp.segments_sent', 0)}, "
          f"tcp.retransmits={stats.get('tcp.retransmits', 0)}, ip.drops={stats.get('ip.drops', 0)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"loop": loop_name, "fastpath": fastpath.IMPLEMENTATION, "engine": engine, "mtu": args.mtu,
                       "repeat": args.repeat, "rows": rows}, f, indent=2)
    return 0
