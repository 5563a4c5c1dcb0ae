"""The benchmark tool: workloads verify what arrives, the CLI writes well-formed rows, TAP cleans up."""

from __future__ import annotations

import asyncio
import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from aiostack.tools import workloads as wl

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _aiostack_available() -> bool:
    from aiostack.tools.bench import aiostack_session_factory

    return aiostack_session_factory()[0] is not None


def _run_bench(tmp_path: pathlib.Path, *args: str, timeout: float = 240) -> dict[str, Any]:
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "aiostack", "bench", "--repeat", "1", "--json", str(out), *args],
                       cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "| workload" in r.stdout  # the table
    assert "[  1/" in r.stderr  # the progress display
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def _stats_ok(s: dict[str, Any] | None) -> bool:
    return bool(s) and s["min"] <= s["median"] <= s["max"] and len(s["samples"]) == 1 and s["median"] > 0


# -- pattern and verification ---------------------------------------------------------------------------
def test_pattern_checker_accepts_the_stream_in_any_chunking() -> None:
    data = b"".join(bytes(c) for c in wl.pattern_chunks(3 * wl.PATTERN_PERIOD + 17, 65536))
    for step in (1000, 65536, wl.READ_SIZE, 10 * wl.READ_SIZE):
        c = wl.PatternChecker()
        for off in range(0, len(data), step):
            c.feed(data[off : off + step])
        c.check(len(data))


@pytest.mark.parametrize("damage", ["flip", "drop", "dup", "short"])
def test_pattern_checker_catches_damage(damage: str) -> None:
    chunks = [bytes(c) for c in wl.pattern_chunks(20 * 65536, 65536)]
    if damage == "flip":
        b = bytearray(chunks[7])
        b[100] ^= 1
        chunks[7] = bytes(b)
    elif damage == "drop":
        del chunks[5]
    elif damage == "dup":
        chunks.insert(5, chunks[5])
    c = wl.PatternChecker()
    for ch in chunks:
        c.feed(ch)
    with pytest.raises(wl.IntegrityError):
        c.check(20 * 65536 + (1 if damage == "short" else 0))


def _lossy_endpoints() -> wl.Endpoints:
    """Kernel streams whose client silently skips its third write: bulk must notice."""

    async def open_connection(*a: Any, **kw: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(*a, **kw)
        real = writer.write
        calls = [0]

        def write(data: Any) -> None:
            calls[0] += 1
            if calls[0] != 3:
                real(data)

        writer.write = write  # type: ignore[method-assign]
        return reader, writer

    ep = wl.kernel_endpoints()
    ep.open_connection = open_connection
    return ep


@pytest.mark.timeout(60)
def test_bulk_detects_a_lost_write() -> None:
    with pytest.raises(wl.IntegrityError):
        asyncio.run(wl.bulk(_lossy_endpoints(), 8 * 65536))


@pytest.mark.timeout(60)
def test_kernel_workloads_in_process() -> None:
    async def main() -> None:
        ep = wl.kernel_endpoints()
        b = await wl.bulk(ep, 3 * 65536 + 5)
        assert b["bytes"] == 3 * 65536 + 5 and b["verified"] and b["value"] > 0
        p = await wl.pingpong(ep, 100)
        assert p["rounds"] == 100 and p["verified"] and p["value"] > 0
        i = await wl.idle_connections(ep, 30, concurrency=7, measure_memory=True)
        assert i["count"] == 30 and i["verified"] and i["value"] > 0 and i["bytes_per_conn"] > 0

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_bulk_sink_and_source_in_process() -> None:
    async def main() -> None:
        ep = wl.kernel_endpoints()
        server, port, result = await wl.start_bulk_sink(ep, 5 * 65536 + 3)
        try:
            sent = await wl.bulk_source(ep, port, 5 * 65536 + 3)
            got = await result
        finally:
            server.close()
            await server.wait_closed()
        assert sent["bytes"] == got["bytes"] == 5 * 65536 + 3 and got["verified"]

        server, port, result = await wl.start_bulk_sink(ep, 5 * 65536 + 4)  # one byte short
        try:
            await wl.bulk_source(ep, port, 5 * 65536 + 3)
            with pytest.raises(wl.IntegrityError):
                await result
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())


# -- the CLI --------------------------------------------------------------------------------------------
@pytest.mark.timeout(300)
def test_bench_cli_rows(tmp_path: pathlib.Path) -> None:
    data = _run_bench(tmp_path, "--bulk-mib", "1", "--rounds", "50", "--idle", "20", "--pure-mib", "1")
    meta = data["meta"]
    for key in ("machine", "python", "loop", "fastpath", "engine", "commit"):
        assert meta[key], key
    assert meta["loop"].startswith("asyncio")
    rows = {r["key"]: r for r in data["rows"]}
    assert list(rows) == ["bulk", "pingpong", "idle-accept", "idle-memory", "idle-memory-stack", "pure"]
    assert [rows[k]["unit"] for k in rows] == ["MB/s", "round trips/s", "accepts/s", "bytes", "bytes", "MB/s"]
    own, total = rows["idle-memory-stack"], rows["idle-memory"]
    if _aiostack_available():  # the share outside asyncio's modules is part of the whole
        assert 0 < own["aiostack"]["median"] < total["aiostack"]["median"]
    have_aiostack = _aiostack_available()
    for r in data["rows"]:
        if have_aiostack:
            assert r["verified"], r
            assert _stats_ok(r["aiostack"]) and _stats_ok(r["reference"]), r
            assert r["ratio"] == pytest.approx(r["aiostack"]["median"] / r["reference"]["median"])
            assert r["paired_ratio"]["samples"] == [pytest.approx(r["ratio"])]  # one round: the same ratio
        else:
            assert r["aiostack"] is None and r["ratio"] is None and "not available" in r["note"]
            if r["key"] != "pure":
                assert r["verified"] and _stats_ok(r["reference"]), r
    sides = 2 if have_aiostack else 1
    assert rows["bulk"]["verified_bytes"] == sides * (1 << 20)
    assert rows["pingpong"]["verified_bytes"] == sides * 2 * 50 * 64
    if have_aiostack:
        assert rows["pure"]["verified_bytes"] == 2 * (1 << 20)


@pytest.mark.timeout(300)
def test_bench_cli_uvloop_and_selection(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("uvloop")
    prof = tmp_path / "prof"
    data = _run_bench(tmp_path, "--uvloop", "--only", "pingpong", "--rounds", "30", "--profile", str(prof))
    assert data["meta"]["loop"].startswith("uvloop")
    assert [r["unit"] for r in data["rows"]] == ["round trips/s"]
    if _aiostack_available():
        import pstats

        stats = pstats.Stats(str(prof / "pingpong.prof"))
        assert any(fn[2] == "pingpong" for fn in stats.stats)  # type: ignore[attr-defined]


def test_a_failing_sample_marks_its_row_and_the_run_goes_on() -> None:
    import argparse

    from aiostack.tools import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    b = bench.Bench(parser.parse_args(["--repeat", "1"]))
    row = bench.Row("bulk", "bulk", "MB/s", "kernel loopback")

    async def broken(ep: wl.Endpoints) -> dict[str, Any]:
        raise wl.IntegrityError("received 3 bytes, expected 4")

    async def fine(ep: wl.Endpoints) -> dict[str, Any]:
        return {"value": 2.0, "bytes": 4, "verified": True}

    with asyncio.Runner() as runner:
        assert b._sample(runner, row, "reference", bench.kernel_session, broken, "bulk reference 1/1") is None
        assert b._sample(runner, row, "reference", bench.kernel_session, fine, "bulk reference 2/2")
    d = row.as_dict()
    assert not d["verified"] and d["failures"] == 1 and "IntegrityError" in d["note"]
    assert d["reference"]["samples"] == [2.0]


def test_each_sample_starts_with_the_garbage_of_the_one_before_collected() -> None:
    """Garbage in reference cycles left by one sample (the other side's closed connections) is collected
    before the next sample starts, not on its clock."""
    import argparse
    import gc
    import weakref

    from aiostack.tools import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    b = bench.Bench(parser.parse_args(["--repeat", "1"]))
    row = bench.Row("bulk", "bulk", "MB/s", "kernel loopback")

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    left: list[weakref.ref[Cycle]] = []

    async def leaves_a_cycle(ep: wl.Endpoints) -> dict[str, Any]:
        left.append(weakref.ref(Cycle()))  # garbage once this returns, freed only by the collector
        return {"value": 1.0, "verified": True}

    seen: list[bool] = []

    async def looks(ep: wl.Endpoints) -> dict[str, Any]:
        seen.append(left[0]() is None)
        return {"value": 1.0, "verified": True}

    gc.disable()  # no automatic collection in between: only the bench's own
    try:
        with asyncio.Runner() as runner:
            b._sample(runner, row, "reference", bench.kernel_session, leaves_a_cycle, "bulk reference 1/2")
            assert left[0]() is not None  # still there after the sample
            b._sample(runner, row, "reference", bench.kernel_session, looks, "bulk reference 2/2")
    finally:
        gc.enable()
    assert seen == [True]


def test_bench_rejects_unknown_workload(tmp_path: pathlib.Path) -> None:
    r = subprocess.run([sys.executable, "-m", "aiostack", "bench", "--only", "nonsense"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "nonsense" in r.stderr


# -- TAP ------------------------------------------------------------------------------------------------
def _bench_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.startswith("aiostack-bench-")]


@pytest.mark.tap
@pytest.mark.timeout(300)
def test_bench_cli_tap_rows_and_cleanup(tmp_path: pathlib.Path) -> None:
    before = set(_bench_namespaces())
    data = _run_bench(tmp_path, "--only", "pingpong", "--rounds", "10", "--tap", "--tap-mib", "8")
    tap = [r for r in data["rows"] if r["key"].startswith("tap-")]
    assert [r["key"] for r in tap] == ["tap-rx-offload", "tap-tx-offload", "tap-rx-plain", "tap-tx-plain"]
    for r in tap:
        assert r["verified"] and _stats_ok(r["reference"]), r
        assert r["reference_name"] == "kernel->kernel veth"
        if r["aiostack"] is not None:
            assert _stats_ok(r["aiostack"])
            assert r["verified_bytes"] == 2 * (8 << 20)
    assert set(_bench_namespaces()) == before, "namespaces left behind"


def test_kernelnet_refuses_addresses_outside_the_benchmark_range() -> None:
    from aiostack.tools import kernelnet

    for bad in ("10.0.0.1/24", "198.20.0.1/24", "127.0.0.1"):
        with pytest.raises(ValueError):
            kernelnet._check_addr(bad)
    assert kernelnet._check_addr("198.19.255.1/24") == "198.19.255.1/24"
