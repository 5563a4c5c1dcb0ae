"""``python -m aiostack netsim``: two hosts over the Netsim on virtual time, checked through its JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("aiostack.core.tcp.connection", reason="the TCP engine is not in this build yet")

from aiostack.tools.netsim import parse_size, simulate  # noqa: E402

pytestmark = pytest.mark.timeout(240)


def run_cli(*args: str) -> dict:  # type: ignore[type-arg]
    r = subprocess.run([sys.executable, "-m", "aiostack", "netsim", *args, "--json"], capture_output=True,
                       text=True, timeout=200)
    assert r.returncode in (0, 1), r.stderr
    out: dict = json.loads(r.stdout)  # type: ignore[type-arg]
    assert (r.returncode == 0) == out["sha256_match"]
    return out


def test_cli_json_with_impairments() -> None:
    out = run_cli("--bytes", "256K", "--loss", "0.02", "--reorder", "0.01", "--dup", "0.01", "--corrupt",
                  "0.001", "--rtt-ms", "10", "--rate-mbit", "50", "--seed", "11")
    assert out["seed"] == 11
    assert out["sha256_match"] is True, out
    assert out["received_bytes"] == out["bytes"] == 256 * 1024
    assert out["sha256_sent"] == out["sha256_received"]
    assert out["virtual_time_s"] > 0.01  # at least a handshake and a transfer at 10 ms RTT
    assert 0 < out["goodput_mbit"] <= 50
    assert out["link"]["tx_frames"] > 180  # 256 KiB does not fit in fewer 1500-byte frames
    for key in ("retransmits", "rto_expiries", "fast_retransmits"):
        assert isinstance(out[key], int) and out[key] >= 0


def test_same_seed_same_run_and_losses_cost_retransmits() -> None:
    kw = dict(total_bytes=128 * 1024, loss=0.05, rtt_ms=20, rate_mbit=20)
    a = simulate(seed=5, **kw)  # type: ignore[arg-type]
    b = simulate(seed=5, **kw)  # type: ignore[arg-type]
    for r in (a, b):
        r.pop("wall_s")
    assert a == b
    assert a["sha256_match"], a
    assert a["link"]["drops.loss"] > 0 and a["retransmits"] > 0


def test_lossless_rate_bound_and_timing() -> None:
    r = simulate(total_bytes=parse_size("1M"), rtt_ms=2, rate_mbit=10, seed=1, queue_bytes=1 << 20)
    assert r["sha256_match"], r
    # 1 MiB of payload over a 10 Mbit/s wire takes at least 0.84 s (headers add more), and TCP should
    # fill the pipe: goodput within [70 %, 100 %] of the line rate on a lossless short path.
    assert r["virtual_time_s"] >= 1_048_576 * 8 / 10e6
    assert 7.0 <= r["goodput_mbit"] <= 10.0
    assert r["retransmits"] == 0 and r["link"].get("drops", 0) == 0


def test_small_queue_tail_drops_are_counted_and_recovered() -> None:
    r = simulate(total_bytes=parse_size("1M"), rtt_ms=2, rate_mbit=10, seed=1, queue_bytes=16 * 1024)
    assert r["sha256_match"], r
    assert r["link"]["drops.queue_full"] > 0 and r["retransmits"] > 0


def test_pcap_of_a_run_reads_back(tmp_path: Path) -> None:
    pcap = tmp_path / "run.pcap"
    out = run_cli("--bytes", "64K", "--loss", "0.01", "--seed", "2", "--pcap", str(pcap))
    assert out["sha256_match"], out
    scapy_all = pytest.importorskip("scapy.all")
    pkts = scapy_all.rdpcap(str(pcap))
    assert len(pkts) > 40
    assert any(p.haslayer(scapy_all.TCP) and p[scapy_all.TCP].flags.S for p in pkts)
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed; scapy read-back passed")
    r = subprocess.run([tshark, "-n", "-r", str(pcap)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Malformed" not in r.stdout, r.stdout[-2000:]


def test_parse_size() -> None:
    assert parse_size("16M") == 16 << 20 and parse_size("512k") == 512 << 10 and parse_size("100") == 100
    assert parse_size("1GiB") == 1 << 30
