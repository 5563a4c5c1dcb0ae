"""``python -m aiostack bench``: aiostack side by side with the kernel, in the same run.

Each workload of :mod:`aiostack.tools.workloads` runs ``--repeat`` times for aiostack and for its
reference, alternating (which one goes first flips every round, so drift hits both), in one process and
one event loop (``--uvloop`` for uvloop). The table shows medians with min-max and the ratio
aiostack / reference; a progress line on stderr says what is running.

Rows:

- ``bulk``: 64 KiB writes over streams, client and server in one loop. aiostack: two stacks joined by an
  in-memory ``LoopbackPair`` with a 65,535-byte MTU. Reference: asyncio streams over the kernel's
  loopback (127.0.0.1). Every byte is checked at the receiver.
- ``ping-pong``: 64-byte request/echo, same setup; round trips/s.
- ``idle accept`` / ``idle memory``: ``--idle`` concurrent idle connections in one process; accepts/s and
  traced Python heap bytes per connection endpoint (stream objects included in both columns).
- ``compiled vs pure``: the aiostack bulk workload in two subprocesses, compiled fast path and
  ``AIOSTACK_PURE=1``, alternating; the ratio is compiled / pure.
- ``--tap`` (root): aiostack on a TAP device inside its own network namespace, bulk kernel -> aiostack
  and aiostack -> kernel, vnet offload and plain 1514-byte frames; reference: kernel -> kernel over a
  veth pair (MTU 1500) between two namespaces, in the same run (:mod:`aiostack.tools.kernelnet`).

``--json FILE`` writes the run's metadata and rows. ``--child`` is internal (one sample in a subprocess).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiostack.tools import workloads as wl

WORKLOADS = ("bulk", "pingpong", "idle", "pure")
MiB = 1 << 20
PAIR_A, PAIR_B = "198.18.0.1", "198.18.0.2"  # the in-memory pair (no real network involved)

SessionFactory = Callable[[], contextlib.AbstractAsyncContextManager[wl.Endpoints]]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tap", action="store_true", help="add the TAP workloads (root; own network namespace)")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop instead of the default asyncio loop")
    p.add_argument("--repeat", type=int, default=5, metavar="N", help="samples per side and workload (default 5)")
    p.add_argument("--json", metavar="FILE", help="write metadata and rows as JSON to FILE")
    p.add_argument("--only", metavar="LIST", default=",".join(WORKLOADS),
                   help=f"comma-separated workloads among {','.join(WORKLOADS)} (default: all)")
    p.add_argument("--bulk-mib", type=float, default=256, metavar="MiB", help="bytes per bulk sample (default 256)")
    p.add_argument("--rounds", type=int, default=20000, help="ping-pong round trips per sample (default 20000)")
    p.add_argument("--idle", type=int, default=10000, metavar="N", help="idle connections (default 10000)")
    p.add_argument("--pure-mib", type=float, default=32, metavar="MiB",
                   help="bytes per compiled-vs-pure bulk sample (default 32)")
    p.add_argument("--tap-mib", type=float, default=512, metavar="MiB", help="bytes per TAP bulk sample (default 512)")
    p.add_argument("--profile", metavar="DIR",
                   help="cProfile the aiostack side of the in-loop rows into DIR/<row>.prof (slows it down)")
    p.add_argument("--child", help=argparse.SUPPRESS)


# -- metadata -------------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def metadata(use_uvloop: bool) -> dict[str, Any]:
    from aiostack import _compiled, fastpath

    if use_uvloop:
        import uvloop

        loop = f"uvloop {uvloop.__version__}"
    else:
        loop = "asyncio (default loop)"
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {
        "machine": f"{_cpu_model()}, {os.cpu_count()} CPUs, {platform.machine()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "loop": loop,
        "fastpath": fastpath.IMPLEMENTATION,
        "engine": _compiled.engine_status(),
        "commit": _git_commit(),
        "loadavg_start": load,
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


# -- progress -------------------------------------------------------------------------------------------
class Progress:
    """One status line on stderr (rewritten in place on a terminal, one line per step otherwise)."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def start(self, what: str) -> None:
        self._line(f"[{self.done + 1:>3}/{self.total}] {what} ...", final=False)

    def finish(self, what: str, result: str) -> None:
        self.done += 1
        self._line(f"[{self.done:>3}/{self.total}] {what}: {result}", final=not self.tty)

    def note(self, text: str) -> None:
        self._line(text, final=True)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _line(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            if final:
                self.stream.write("\n")
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()


# -- results --------------------------------------------------------------------------------------------
def summarize(samples: Sequence[float]) -> dict[str, Any] | None:
    if not samples:
        return None
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "samples": list(samples)}


@dataclass
class Row:
    key: str
    workload: str
    unit: str
    reference_name: str
    aiostack: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)
    verified_bytes: int = 0
    verified: bool = True
    note: str = ""
    target: str = ""
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        a, r = summarize(self.aiostack), summarize(self.reference)
        ratio = a["median"] / r["median"] if a and r and r["median"] else None
        # Samples alternate (one of each per round), so per-round ratios show the spread under drift.
        paired = summarize([x / y for x, y in zip(self.aiostack, self.reference, strict=False) if y])
        return {"key": self.key, "workload": self.workload, "unit": self.unit, "aiostack": a, "reference": r,
                "reference_name": self.reference_name, "ratio": ratio, "paired_ratio": paired,
                "target": self.target,
                "verified": self.verified and bool(self.aiostack or self.reference),
                "verified_bytes": self.verified_bytes, "failures": self.failures, "note": self.note}


def _fmt(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _cell(s: dict[str, Any] | None) -> str:
    if not s:
        return "-"
    if len(s["samples"]) == 1:
        return _fmt(s["median"])
    return f"{_fmt(s['median'])} ({_fmt(s['min'])}-{_fmt(s['max'])})"


def format_table(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    head = ["workload", "unit", "aiostack", "reference", "ratio", "target"]
    body = []
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        pr = r.get("paired_ratio")
        if r["ratio"] is not None and pr and len(pr["samples"]) > 1:
            ratio += f" ({pr['min']:.2f}-{pr['max']:.2f})"
        body.append([r["workload"], r["unit"], _cell(r["aiostack"]), f"{_cell(r['reference'])} [{r['reference_name']}]"
                     if r["reference"] else "-", ratio, r["target"]])
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i]) for i in range(len(head))]
    out = []
    for k in ("machine", "python", "loop", "fastpath", "commit", "date_utc", "loadavg_start", "loadavg_end"):
        out.append(f"{k:<13} {meta.get(k, '')}")
    out.append("")
    out.append("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) + " |")
    notes = [f"- {r['workload']}: {r['note']}" for r in rows if r["note"]]
    if notes:
        out.append("")
        out.extend(notes)
    return "\n".join(out)


# -- the two sides --------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def kernel_session() -> AsyncIterator[wl.Endpoints]:
    yield wl.kernel_endpoints()


def aiostack_session_factory() -> tuple[SessionFactory | None, str]:
    """A factory of fresh aiostack endpoint pairs over an in-memory link, or None and the reason."""
    try:
        from aiostack.aio.stack import Stack
    except ImportError as exc:
        return None, f"aiostack not measured: the asyncio layer is not available ({exc})"

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[wl.Endpoints]:
        # Two stacks joined by an in-memory LoopbackPair with a 64 KiB MTU: client on a, server on b.
        a, b = Stack.pair(mtu=65535, addresses=(f"{PAIR_A}/24", f"{PAIR_B}/24"))
        async with a, b:
            yield wl.Endpoints("aiostack", a.open_connection, b.start_server, PAIR_B, PAIR_B)

    return session, ""


def _fd_budget() -> int:
    """Raise the soft fd limit to the hard one; return how many kernel connection pairs fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return max(1, (soft - 256) // 2 - 1)  # minus the warm-up connection


# -- running --------------------------------------------------------------------------------------------
Sample = Callable[[wl.Endpoints], Awaitable[dict[str, Any]]]


async def _one(factory: SessionFactory, fn: Sample) -> dict[str, Any]:
    async with factory() as ep:
        return await fn(ep)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.only = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = set(self.only) - set(WORKLOADS)
        if unknown:
            raise SystemExit(f"unknown workload(s): {', '.join(sorted(unknown))}; choose from {', '.join(WORKLOADS)}")
        if args.repeat < 1:
            raise SystemExit("--repeat must be >= 1")
        self.aiostack, self.aiostack_missing = aiostack_session_factory()
        self.rows: list[Row] = []
        self._profiled: set[str] = set()
        n_sides = 2 if self.aiostack else 1
        steps = 0
        for w in self.only:
            if w == "pure":
                steps += 2 * args.repeat if self.aiostack else 0
            elif w == "idle":
                steps += 2 * n_sides * args.repeat
            else:
                steps += n_sides * args.repeat
        if args.tap:
            steps += (5 if not tap_available() else 1) * args.repeat
        self.progress = Progress(max(steps, 1))

    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        if self.args.uvloop:
            import uvloop

            return uvloop.new_event_loop
        return None

    def sides(self, i: int) -> list[tuple[str, SessionFactory]]:
        sides: list[tuple[str, SessionFactory]] = [("reference", kernel_session)]
        if self.aiostack:
            sides.append(("aiostack", self.aiostack))
        return sides if i % 2 == 0 else sides[::-1]

    def _sample(self, runner: asyncio.Runner, row: Row, side: str, factory: SessionFactory, fn: Sample,
                label: str, key: str = "value", also: tuple[Row, str] | None = None) -> dict[str, Any] | None:
        self.progress.start(label)
        # Each sample starts with no garbage left by the one before (the other side's 10,000 closed idle
        # connections are ~180,000 objects in reference cycles): not collected on this sample's clock.
        gc.collect()
        try:
            if self.args.profile and side == "aiostack":
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
                try:
                    res = runner.run(_one(factory, fn))
                finally:
                    prof.disable()
                    self._save_profile(row.key, prof)
            else:
                res = runner.run(_one(factory, fn))
        except Exception as exc:
            self._failed(row, label, exc)
            return None
        if not res.get("verified"):
            row.verified = False
        row.verified_bytes += int(res.get("bytes", 0))
        (row.aiostack if side == "aiostack" else row.reference).append(float(res[key]))
        if also is not None:  # a second row measured by the same sample
            other, other_key = also
            (other.aiostack if side == "aiostack" else other.reference).append(float(res[other_key]))
        self.progress.finish(label, f"{_fmt(res[key])} {row.unit}")
        return res

    def _failed(self, row: Row, label: str, exc: BaseException, progress: bool = True) -> None:
        """A sample that raised: the row is marked unverified, says why, and the run goes on."""
        row.verified = False
        row.failures += 1
        if row.failures <= 2:
            msg = f"{label} failed: {type(exc).__name__}: {exc}"[:300]
            row.note = f"{row.note}; {msg}" if row.note else msg
        if progress:
            self.progress.finish(label, f"FAILED ({type(exc).__name__}: {str(exc)[:120]})")

    def _save_profile(self, key: str, prof: Any) -> None:
        """Accumulate the aiostack samples' cProfile data in ``--profile DIR/<row>.prof`` (pstats format)."""
        import pstats

        os.makedirs(self.args.profile, exist_ok=True)
        path = os.path.join(self.args.profile, f"{key}.prof")
        stats = pstats.Stats(prof)
        if os.path.exists(path) and key in self._profiled:
            stats.add(path)
        stats.dump_stats(path)
        self._profiled.add(key)

    def run_inloop(self) -> None:
        a = self.args
        reps = a.repeat
        with asyncio.Runner(loop_factory=self.loop_factory()) as runner:
            if "bulk" in self.only:
                row = Row("bulk", "bulk 64 KiB writes", "MB/s", "kernel loopback", target=">= 1.0x")
                nbytes = int(a.bulk_mib * MiB)
                for i in range(reps):
                    for side, f in self.sides(i):
                        self._sample(runner, row, side, f, lambda ep: wl.bulk(ep, nbytes),
                                     f"bulk {side} {i + 1}/{reps}")
                self._finish(row)
            if "pingpong" in self.only:
                row = Row("pingpong", "ping-pong 64 B", "round trips/s", "kernel loopback", target=">= 1.0x")
                for i in range(reps):
                    for side, f in self.sides(i):
                        self._sample(runner, row, side, f, lambda ep: wl.pingpong(ep, a.rounds),
                                     f"ping-pong {side} {i + 1}/{reps}")
                self._finish(row)
            if "idle" in self.only:
                self._idle(runner)

    def _idle(self, runner: asyncio.Runner) -> None:
        a = self.args
        reps = a.repeat
        k_count = min(a.idle, _fd_budget())
        acc = Row("idle-accept", f"idle {a.idle} conns: accept rate", "accepts/s", "kernel loopback", target=">= 10,000/s")
        mem = Row("idle-memory", f"idle {a.idle} conns: heap per conn", "bytes", "kernel loopback", target="<= 4 KiB beyond buffers")
        own = Row("idle-memory-stack", f"idle {a.idle} conns: heap per conn outside asyncio", "bytes",
                  "kernel loopback", target="<= 4 KiB beyond buffers")
        if k_count < a.idle:
            note = f"kernel side limited to {k_count} connections by the fd limit"
            acc.note = mem.note = own.note = note
        for i in range(reps):
            for side, f in self.sides(i):
                count = a.idle if side == "aiostack" else k_count

                def accept(ep: wl.Endpoints, count: int = count) -> Awaitable[dict[str, Any]]:
                    return wl.idle_connections(ep, count)

                def memory(ep: wl.Endpoints, count: int = count) -> Awaitable[dict[str, Any]]:
                    return wl.idle_connections(ep, count, measure_memory=True)

                self._sample(runner, acc, side, f, accept, f"idle accept {side} {i + 1}/{reps}")
                self._sample(runner, mem, side, f, memory, f"idle memory {side} {i + 1}/{reps}", key="bytes_per_conn",
                             also=(own, "bytes_per_conn_outside_asyncio"))
        self._finish(acc)
        self._finish(mem)
        self._finish(own)

    def _finish(self, row: Row) -> None:
        if not self.aiostack and not row.note:
            row.note = self.aiostack_missing
        self.rows.append(row)

    # compiled vs pure: the aiostack bulk in subprocesses
    def run_pure(self) -> None:
        a = self.args
        row = Row("pure", "bulk, compiled vs pure fast path", "MB/s", "AIOSTACK_PURE=1", target=">= 3x")
        if not self.aiostack:
            row.note = self.aiostack_missing
            self.rows.append(row)
            return
        argv = [sys.executable, "-m", "aiostack", "bench", "--child", "bulk", "--bulk-mib", str(a.pure_mib)]
        if a.uvloop:
            argv.append("--uvloop")
        for i in range(a.repeat):
            order = [("aiostack", "0"), ("reference", "1")]
            for side, pure in order if i % 2 == 0 else order[::-1]:
                label = f"compiled vs pure: {'pure' if pure == '1' else 'compiled'} {i + 1}/{a.repeat}"
                self.progress.start(label)
                env = {k: v for k, v in os.environ.items() if k != "AIOSTACK_PURE"}
                if pure == "1":
                    env["AIOSTACK_PURE"] = "1"
                want = "pure" if pure == "1" else "cython"
                try:
                    res = run_child(argv, env)
                    if res["fastpath"] != want:
                        raise RuntimeError(f"child ran the {res['fastpath']} fast path, expected {want}")
                except Exception as exc:
                    self._failed(row, label, exc)
                    continue
                row.verified_bytes += int(res["bytes"])
                row.verified = row.verified and bool(res["verified"])
                (row.aiostack if side == "aiostack" else row.reference).append(float(res["value"]))
                self.progress.finish(label, f"{_fmt(res['value'])} MB/s")
        self.rows.append(row)

    def run_tap(self) -> None:
        """TAP rows: aiostack on a TAP device in its own namespace vs kernel -> kernel over veth."""
        from aiostack.tools import kernelnet

        a = self.args
        nbytes = int(a.tap_mib * MiB)
        rows = [Row(f"tap-{d}-{m}", f"TAP {name}", "MB/s", "kernel->kernel veth", target=target)
                for (name, target), (d, m) in zip(TAP_ROWS, TAP_MODES, strict=True)]
        reason = kernelnet.available()
        tap_missing = tap_available()
        if reason:
            for r in rows:
                r.note = f"not measured: {reason}"
            self.rows.extend(rows)
            return
        with asyncio.Runner(loop_factory=self.loop_factory()) as runner, kernelnet.Netns() as ns, \
                kernelnet.veth_pair(ns) as net:
            tap_ns = ns.add() if not tap_missing else ""
            for i in range(a.repeat):
                label = f"TAP reference kernel->kernel veth {i + 1}/{a.repeat}"
                self.progress.start(label)
                try:
                    ref = kernelnet.kernel_bulk(net, ns, nbytes)
                except Exception as exc:
                    for n, r in enumerate(rows):
                        self._failed(r, label, exc, progress=n == 0)
                    continue
                self.progress.finish(label, f"{_fmt(ref['value'])} MB/s")
                for r in rows:
                    r.reference.append(float(ref["value"]))
                    r.verified_bytes += int(ref["bytes"])
                if tap_missing:
                    continue
                for r, (direction, mode) in zip(rows, TAP_MODES, strict=True):
                    label = f"{r.workload} {i + 1}/{a.repeat}"
                    self.progress.start(label)
                    gc.collect()  # as in _sample
                    try:
                        res = runner.run(tap_sample(ns, tap_ns, direction, mode, nbytes))
                    except Exception as exc:
                        self._failed(r, label, exc)
                        continue
                    r.aiostack.append(float(res["value"]))
                    r.verified_bytes += int(res["bytes"])
                    r.verified = r.verified and bool(res["verified"])
                    self.progress.finish(label, f"{_fmt(res['value'])} MB/s")
        for r in rows:
            if tap_missing:
                r.note = tap_missing
        self.rows.extend(rows)

    def run(self) -> list[dict[str, Any]]:
        try:
            self.run_inloop()
            if "pure" in self.only:
                self.run_pure()
            if self.args.tap:
                self.run_tap()
        finally:
            self.progress.close()
        return [r.as_dict() for r in self.rows]


TAP_ROWS = [
    ("kernel->aiostack, offload", ">= 0.5x"),
    ("aiostack->kernel, offload", ">= 0.5x"),
    ("kernel->aiostack, plain 1514 B", ">= 250 MB/s"),
    ("aiostack->kernel, plain 1514 B", ">= 170 MB/s"),
]
TAP_STACK, TAP_KERNEL, TAP_PORT = "198.18.201.2", "198.18.201.1", 5201
TAP_MODES = [("rx", "offload"), ("tx", "offload"), ("rx", "plain"), ("tx", "plain")]


def tap_available() -> str:
    """Empty when aiostack can run on a TAP device here; else why the aiostack TAP side is not measured."""
    try:
        from aiostack.aio.stack import Stack  # noqa: F401
        from aiostack.link.tap import Tap  # noqa: F401
    except ImportError as exc:
        return f"aiostack side not measured: TAP device or asyncio layer not available ({exc})"
    return ""


async def tap_sample(ns: Any, tap_ns: str, direction: str, mode: str, nbytes: int) -> dict[str, Any]:
    """One TAP bulk sample: aiostack on a TAP device in ``tap_ns``, the kernel peer in the same namespace.

    ``rx``: kernel -> aiostack (aiostack's sink reports); ``tx``: aiostack -> kernel (the kernel's
    receiver reports). ``mode`` is ``offload`` (vnet header, GSO/CSUM) or ``plain`` (1514-byte frames).
    """
    from aiostack.aio.stack import Stack
    from aiostack.tools import kernelnet

    name = f"bench-{mode[:5]}"
    stack = Stack.on_tap(name, f"{TAP_STACK}/24", offload=mode == "offload", netns=tap_ns, name="tap")
    peer = None
    try:
        kernelnet.ip("addr", "add", f"{TAP_KERNEL}/24", "dev", name, netns=tap_ns)
        kernelnet.ip("link", "set", name, "mtu", "1500", "up", netns=tap_ns)
        async with stack:
            ep = wl.Endpoints("aiostack", stack.open_connection, stack.start_server, TAP_STACK, TAP_KERNEL)
            if direction == "rx":
                server, port, result = await wl.start_bulk_sink(ep, nbytes)
                try:
                    peer = ns.spawn(tap_ns, kernelnet.peer_argv("send", TAP_STACK, port, nbytes))
                    res = await asyncio.wait_for(result, kernelnet.IO_TIMEOUT_S)
                    sent = await asyncio.to_thread(kernelnet.read_json_line, peer)
                finally:
                    server.close()
                    await server.wait_closed()
                if sent.get("bytes") != nbytes:
                    raise RuntimeError(f"kernel sender reported {sent}")
            else:
                peer = ns.spawn(tap_ns, kernelnet.peer_argv("recv", TAP_KERNEL, TAP_PORT, nbytes))
                await asyncio.to_thread(kernelnet.read_json_line, peer)  # {"ready": port}
                ep.port = TAP_PORT
                await asyncio.wait_for(wl.bulk_source(ep, TAP_PORT, nbytes), kernelnet.IO_TIMEOUT_S)
                res = await asyncio.to_thread(kernelnet.read_json_line, peer)
            await asyncio.to_thread(peer.wait, kernelnet.IO_TIMEOUT_S)
    finally:
        if peer is not None and peer.poll() is None:
            peer.kill()  # a failed sample must not leave its peer holding the port
            await asyncio.to_thread(peer.wait, 10)
        if not stack.closed:
            await stack.close()
    if not res.get("verified") or res.get("bytes") != nbytes:
        raise RuntimeError(f"TAP {direction} {mode}: {res}")
    return res


def run_child(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def child(args: argparse.Namespace) -> int:
    """One aiostack sample in this process; prints one JSON line (used by the compiled-vs-pure row)."""
    from aiostack import fastpath

    if args.child != "bulk":
        raise SystemExit(f"unknown child workload {args.child!r}")
    factory, missing = aiostack_session_factory()
    if factory is None:
        raise SystemExit(missing)
    nbytes = int(args.bulk_mib * MiB)
    loop_factory = None
    if args.uvloop:
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        res = runner.run(_one(factory, lambda ep: wl.bulk(ep, nbytes)))
    res["fastpath"] = fastpath.IMPLEMENTATION
    print(json.dumps(res))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.child:
        return child(args)
    meta = metadata(args.uvloop)
    bench = Bench(args)
    rows = bench.run()
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(format_table(meta, rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
    measured = [r for r in rows if r["aiostack"] or r["reference"]]
    return 0 if all(r["verified"] for r in measured) else 1
