"""Loss-rate matrix of the TCP engine in the deterministic in-memory harness (virtual time).

For NewReno and CUBIC, with and without SACK, and each loss rate, one bulk transfer a -> b over a path of
100 Mbit/s, 20 ms RTT and a 512 KiB drop-tail queue (loss applies to both directions, so ACKs are lost
too). Prints a Markdown table: virtual time to finish, goodput, retransmitted segments, RTO expiries.

    python benchmarks/tcp_matrix.py            # 4 MiB per run
    python benchmarks/tcp_matrix.py --mib 16 --loss 0 0.01 0.05 0.2 --seed 7

Numbers are virtual (not wall-clock); the same seed gives the same table on any machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from tcp_harness import Harness, PathConfig, counter, payload, sha, with_config  # noqa: E402

from aiostack.config import SECOND  # noqa: E402


def run_one(mib: float, loss: float, cc: str, sack: bool, seed: int) -> dict[str, float | int | str]:
    nbytes = int(mib * 1024 * 1024)
    data = payload(nbytes, seed)
    cfg = with_config(congestion_control=cc, sack=sack)
    net = Harness(seed=seed, path=PathConfig(loss=loss), config_a=cfg, config_b=cfg)
    wall = time.perf_counter()
    res = net.transfer(data, b"", max_virtual_us=36_000 * SECOND)
    wall = time.perf_counter() - wall
    if res.b.sha256 != sha(data):
        raise SystemExit(f"data mismatch: loss={loss} cc={cc} sack={sack} seed={seed}")
    a = res.a.counters
    return {
        "loss": loss,
        "cc": cc,
        "sack": "on" if sack else "off",
        "virtual_s": res.virtual_us / SECOND,
        "goodput_mbps": res.goodput_bps(nbytes) / 1e6,
        "retransmits": counter(a, "retransmits"),
        "rtos": counter(a, "rto"),
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mib", type=float, default=4.0, help="MiB per transfer (default 4)")
    p.add_argument("--loss", type=float, nargs="+", default=[0.0, 0.01, 0.05, 0.2])
    p.add_argument("--cc", nargs="+", default=["newreno", "cubic"])
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    print(f"{args.mib:g} MiB a->b, 100 Mbit/s, RTT 20 ms, queue 512 KiB, MSS 1460, seed {args.seed}")
    print()
    print("| loss | cc | SACK | virtual time (s) | goodput (Mbit/s) | retransmits | RTOs | wall (s) |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for loss in args.loss:
        for cc in args.cc:
            for sack in (True, False):
                r = run_one(args.mib, loss, cc, sack, args.seed)
                print(
                    f"| {loss * 100:g} % | {r['cc']} | {r['sack']} | {r['virtual_s']:.2f} | "
                    f"{r['goodput_mbps']:.2f} | {r['retransmits']} | {r['rtos']} | {r['wall_s']:.1f} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
