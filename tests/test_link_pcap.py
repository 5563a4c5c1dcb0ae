"""PcapWriter (read back by scapy and tshark) and Tracer lines."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from aiostack.link.loopback import LoopbackPair
from aiostack.link.netsim import Netsim
from aiostack.link.pcap import PcapFile, PcapWriter
from aiostack.link.tracer import Tracer, summarize

scapy_all = pytest.importorskip("scapy.all")


def sample_frames() -> list[bytes]:
    Ether, IP, UDP, TCP, ICMP, ARP = (scapy_all.Ether, scapy_all.IP, scapy_all.UDP, scapy_all.TCP,
                                      scapy_all.ICMP, scapy_all.ARP)
    a, b = "02:00:5e:00:00:0a", "02:00:5e:00:00:0b"
    return [
        bytes(Ether(src=a, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=a, psrc="198.18.0.1", pdst="198.18.0.2")),
        bytes(Ether(src=b, dst=a) / ARP(op=2, hwsrc=b, psrc="198.18.0.2", hwdst=a, pdst="198.18.0.1")),
        bytes(Ether(src=a, dst=b) / IP(src="198.18.0.1", dst="198.18.0.2") / ICMP(type=8, id=7, seq=1) / b"ping"),
        bytes(Ether(src=a, dst=b) / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=5000, dport=9999) / (b"q" * 30)),
        bytes(Ether(src=a, dst=b) / IP(src="198.18.0.1", dst="198.18.0.2") /
              TCP(sport=40000, dport=80, flags="S", seq=1000, options=[("MSS", 1460)])),
        bytes(Ether(src=b, dst=a) / IP(src="198.18.0.2", dst="198.18.0.1") /
              TCP(sport=80, dport=40000, flags="PA", seq=5, ack=1001) / (b"d" * 1400)),
    ]


def test_pcap_round_trip_scapy_and_tshark(tmp_path: Path) -> None:
    path = tmp_path / "cap.pcap"
    sim = Netsim(latency_us=1500)
    dev = PcapWriter(sim.a, str(path), clock=lambda: sim.now_us, buffer_bytes=1 << 16)
    frames = sample_frames()
    sim.advance(1_000_000)
    dev.send_batch(frames[::2])
    sim.b.send_batch(frames[1::2])
    sim.advance(1_001_500)
    got = dev.receive_batch(10)
    assert got == frames[1::2]
    assert path.stat().st_size == 0  # buffered until close
    dev.close()
    raw = path.read_bytes()
    assert struct.unpack_from("<IHHiIII", raw) == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    pkts = scapy_all.rdpcap(str(path))
    assert [bytes(p) for p in pkts] == frames[::2] + frames[1::2]
    assert [int(p.time * 1_000_000) for p in pkts] == [1_000_000] * 3 + [1_001_500] * 3
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed; scapy read-back passed")
    r = subprocess.run([tshark, "-n", "-r", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 6
    assert "Malformed" not in r.stdout
    assert "ARP" in r.stdout and "ICMP" in r.stdout and "TCP" in r.stdout


def test_pcap_snaplen_truncates_but_keeps_orig_len(tmp_path: Path) -> None:
    path = tmp_path / "snap.pcap"
    pc = PcapFile.open(str(path), snaplen=100)
    pc.write(bytes(range(256)) * 4, 5_250_000)
    pc.close()
    raw = path.read_bytes()
    ts, us, incl, orig = struct.unpack_from("<IIII", raw, 24)
    assert (ts, us, incl, orig) == (5, 250_000, 100, 1024)
    assert raw[40:] == (bytes(range(256)) * 4)[:100]
    with pytest.raises(ValueError):
        pc.write(b"x" * 60, 0)


def test_tracer_one_line_per_frame() -> None:
    lines: list[str] = []
    pair = LoopbackPair()
    dev = Tracer(pair.a, sink=lines.append, clock=lambda: 3_000_042, formatter=summarize)
    frames = sample_frames()
    dev.send_batch(frames)
    pair.b.send_batch(frames[:1])
    dev.receive_batch(10)
    assert len(lines) == 7
    assert all(ln.startswith("3.000042 ") for ln in lines)
    assert "ARP, Request who-has 198.18.0.2 tell 198.18.0.1" in lines[0]
    assert "ARP, Reply 198.18.0.2 is-at 02:00:5e:00:00:0b" in lines[1]
    assert "198.18.0.1 > 198.18.0.2: ICMP echo request, id 7, seq 1" in lines[2]
    assert "198.18.0.1.5000 > 198.18.0.2.9999: UDP, length 30" in lines[3]
    assert "198.18.0.1.40000 > 198.18.0.2.80: Flags [S], seq 1000, win 8192, length 0" in lines[4]
    assert "Flags [P.], seq 5, ack 1001" in lines[5] and "length 1400" in lines[5]
    assert lines[6].split()[1] == "<"


def test_summarize_never_raises_on_garbage() -> None:
    import random

    rng = random.Random(4)
    for f in sample_frames():
        for cut in range(len(f)):
            assert isinstance(summarize(f[:cut]), str)
        for _ in range(20):
            b = bytearray(f)
            b[rng.randrange(len(b))] = rng.randrange(256)
            assert isinstance(summarize(bytes(b)), str)


def test_offload_frame_written_as_plain_frame_and_traced(tmp_path: Path) -> None:
    vnet = pytest.importorskip("aiostack.wire.vnet")
    f = sample_frames()[5]
    of = vnet.OffloadFrame(memoryview(f), flags=vnet.NEEDS_CSUM, csum_start=34, csum_offset=16)
    path = tmp_path / "off.pcap"
    pc = PcapFile.open(str(path))
    pc.write(of, 7)
    pc.close()
    assert [bytes(p) for p in scapy_all.rdpcap(str(path))] == [f]
    lines: list[str] = []
    pair = LoopbackPair()
    Tracer(pair.a, sink=lines.append, clock=lambda: 0, formatter=summarize).send_batch([of])
    assert "Flags [P.]" in lines[0] and "[vnet flags 1 gso 0/0]" in lines[0]


def test_tracer_default_formatter_is_the_wire_pretty_printer() -> None:
    pretty = pytest.importorskip("aiostack.wire.pretty")
    lines: list[str] = []
    pair = LoopbackPair()
    frames = sample_frames()
    Tracer(pair.a, sink=lines.append, clock=lambda: 1_500_000).send_batch(frames)
    assert lines == [f"1.500000 > {pretty.pretty_frame(f)}" for f in frames]
    assert "ICMP echo request" in lines[2]
