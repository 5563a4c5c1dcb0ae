"""Engine throughput with no I/O: segments per second through two TCP engines, compiled vs pure.

Two engines exchange a bulk transfer through the in-memory harness with a zero-delay, unlimited link,
so the time measured is the engines' own work (plus the harness's small loop). Reported: segments/s
(data segments and ACKs, both engines) and payload MB/s.

    python -m pytest benchmarks/test_bench_tcp_engine.py -q -s          # both fast paths, in subprocesses
    python benchmarks/test_bench_tcp_engine.py 8                        # one run in this process, 8 MiB

These report; they do not assert speed (DESIGN §6).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def measure(mib: float = 4.0, mss: int = 1460, gso: int | None = None) -> dict[str, float | int | str]:
    from tcp_harness import Harness, PathConfig, payload, sha

    from aiostack import fastpath
    from aiostack.config import SECOND

    nbytes = int(mib * 1024 * 1024)
    data = payload(nbytes, 3)
    net = Harness(seed=3, path=PathConfig(latency_us=0, bandwidth_bps=0, queue_limit_bytes=1 << 40), mss=mss)
    net.max_segment_bytes = gso
    t0 = time.perf_counter()
    res = net.transfer(data, b"", max_virtual_us=3600 * SECOND)
    wall = time.perf_counter() - t0
    assert res.b.sha256 == sha(data)
    segments = res.link_ab.sent + res.link_ba.sent
    return {
        "fastpath": fastpath.IMPLEMENTATION,
        "mib": mib,
        "mss": mss,
        "segments": segments,
        "wall_s": wall,
        "segments_per_s": segments / wall,
        "payload_MBps": nbytes / wall / 1e6,
    }


def _run_mode(pure: bool, mib: float, mss: int) -> dict[str, float | int | str]:
    env = dict(os.environ)
    env.pop("AIOSTACK_PURE", None)
    if pure:
        env["AIOSTACK_PURE"] = "1"
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import test_bench_tcp_engine as b; "
        f"print(json.dumps(b.measure({mib!r}, {mss!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise AssertionError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("mss", [1460, 65495])
def test_engine_segments_per_second_compiled_vs_pure(mss: int) -> None:
    mib = 32.0 if mss == 1460 else 128.0
    rows = [_run_mode(False, mib, mss), _run_mode(True, mib, mss)]
    for r in rows:
        print(
            f"\nTCP engine, no I/O, MSS {r['mss']}: {r['fastpath']:>6}: {r['segments_per_s']:,.0f} segments/s, "
            f"{r['payload_MBps']:.1f} MB/s payload ({r['segments']} segments in {r['wall_s']:.2f} s)"
        )
    assert all(r["segments"] > 0 for r in rows)


def test_engine_bench_in_process(benchmark) -> None:  # type: ignore[no-untyped-def]
    result = benchmark.pedantic(measure, args=(1.0,), rounds=3, iterations=1)
    benchmark.extra_info.update(result)
    assert result["segments"] > 0


if __name__ == "__main__":
    r = measure(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
    print(json.dumps(r, indent=1))
