"""Fast-path micro-benchmarks: compiled ``aiostack._fastpath`` vs the pure twin ``aiostack._fastpath_py``.

Run with ``python -m pytest benchmarks -q`` (the default ``python -m pytest`` only collects ``tests/``).
Each benchmark also checks its result, so a broken build cannot report a fast wrong answer.
See benchmarks/README.md for the table and how it was measured.
"""

from __future__ import annotations

import functools
import importlib
import sys
from types import ModuleType
from typing import Any

import pytest

from aiostack import _fastpath_py

# Rounds of >= 100 us amortise the timer; warm-up first. The machine is shared, so quote medians.
bench = functools.partial(pytest.mark.benchmark, min_time=0.0001, max_time=0.5, warmup=True,
                          warmup_iterations=2000)


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("aiostack._fastpath")
    except ImportError:
        return None


IMPLS = [
    pytest.param(_compiled(), id="cython",
                 marks=pytest.mark.skipif(_compiled() is None, reason="aiostack._fastpath is not built")),
    pytest.param(_fastpath_py, id="pure"),
]


@pytest.fixture(params=IMPLS)
def fp(request: pytest.FixtureRequest) -> ModuleType:
    return request.param  # type: ignore[no-any-return]


def _payload(n: int) -> bytes:
    return bytes((i * 2654435761 >> 13) & 0xFF for i in range(n))


def _reference_sum(data: bytes) -> int:
    if len(data) & 1:
        data += b"\0"
    s = sum(memoryview(data).cast("H").tolist())  # native order; byte-swapped below on little-endian
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ((s & 0xFF) << 8 | s >> 8) if sys.byteorder == "little" else s


@bench(group="checksum 1460 B")
def test_checksum_1460(benchmark: Any, fp: ModuleType) -> None:
    data = _payload(1460)
    assert benchmark(fp.internet_checksum, data) == (~_reference_sum(data)) & 0xFFFF


@bench(group="checksum 1460 B memoryview at offset 54")
def test_checksum_1460_memoryview(benchmark: Any, fp: ModuleType) -> None:
    frame = bytearray(_payload(1514))
    view = memoryview(frame)[54:]
    assert benchmark(fp.internet_checksum, view) == (~_reference_sum(bytes(view))) & 0xFFFF


@bench(group="checksum 64 KiB")
def test_checksum_64k(benchmark: Any, fp: ModuleType) -> None:
    data = _payload(65536)
    assert benchmark(fp.internet_checksum, data) == (~_reference_sum(data)) & 0xFFFF


MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


@bench(group="pack eth+ipv4+tcp (54 B)")
def test_pack_headers(benchmark: Any, fp: ModuleType) -> None:
    buf = bytearray(1514)
    pack_ethernet, pack_ipv4, pack_tcp = fp.pack_ethernet, fp.pack_ipv4, fp.pack_tcp

    def pack() -> int:
        pack_ethernet(buf, 0, MAC_B, MAC_A, 0x0800)
        pack_ipv4(buf, 14, 0, 1500, 1, 0x4000, 64, 6, 0xC6120001, 0xC6120002)
        return pack_tcp(buf, 34, 40000, 80, 0xFFFFFF00, 12345, 20, 0x18, 502, 0, 0)

    assert benchmark(pack) == 20
    assert fp.internet_checksum(memoryview(buf)[14:34]) == 0
    assert fp.unpack_tcp(buf, 34)[:3] == (40000, 80, 0xFFFFFF00)


@bench(group="build_tcp_frame: 1,448 B payload, TS, full checksum")
def test_build_tcp_frame(benchmark: Any, fp: ModuleType) -> None:
    eth = MAC_B + MAC_A + b"\x08\x00"
    payload = memoryview(_payload(4096))[100:100 + 1448]

    def build() -> bytearray:
        return fp.build_tcp_frame(eth, 0, 1, 64, 0xC6120001, 0xC6120002, 40000, 80, 0xFFFFFF00, 12345, 0x18,
                                  502, None, None, False, None, 1000, 2000, payload, False)

    frame = benchmark(build)
    assert len(frame) == 14 + 20 + 32 + 1448
    assert fp.tcp_checksum_ipv4(0xC6120001, 0xC6120002, memoryview(frame)[34:]) == 0


@bench(group="unpack eth+ipv4+tcp")
def test_unpack_headers(benchmark: Any, fp: ModuleType) -> None:
    buf = bytearray(1514)
    fp.pack_ethernet(buf, 0, MAC_B, MAC_A, 0x0800)
    fp.pack_ipv4(buf, 14, 0, 1500, 1, 0x4000, 64, 6, 0xC6120001, 0xC6120002)
    fp.pack_tcp(buf, 34, 40000, 80, 0xFFFFFF00, 12345, 20, 0x18, 502, 0, 0)
    frame = memoryview(buf)
    unpack_ethernet, unpack_ipv4, unpack_tcp = fp.unpack_ethernet, fp.unpack_ipv4, fp.unpack_tcp

    def unpack() -> Any:
        unpack_ethernet(frame, 0)
        unpack_ipv4(frame, 14)
        return unpack_tcp(frame, 34)

    assert benchmark(unpack)[5] == 0x18


@bench(group="parse_tcp_segment: data segment with NOP NOP TS")
def test_parse_tcp_segment(benchmark: Any, fp: ModuleType) -> None:
    frame = fp.build_tcp_frame(MAC_B + MAC_A + b"\x08\x00", 0, 1, 64, 1, 2, 40000, 80, 5, 6, 0x10, 502,
                               None, None, False, None, 1000, 2000, bytes(1448), False)
    segment = memoryview(frame)[34:]
    assert benchmark(fp.parse_tcp_segment, segment) == (40000, 80, 5, 6, 32, 0x10, 502, None, None, False, (),
                                                        1000, 2000)


@bench(group="build options: data segment, TS (12 B)")
def test_build_options_data(benchmark: Any, fp: ModuleType) -> None:
    buf = bytearray(60)
    assert benchmark(fp.build_tcp_options, buf, 20, None, None, False, None, 123456, 654321) == 12


@bench(group="parse options: SYN (20 B)")
def test_parse_options_syn(benchmark: Any, fp: ModuleType) -> None:
    buf = bytearray(60)
    n = fp.build_tcp_options(buf, 20, 1460, 7, True, None, 123456, 0)
    assert benchmark(fp.parse_tcp_options, buf, 20, 20 + n) == (1460, 7, True, (), 123456, 0)


@bench(group="parse options: TS + 3 SACK blocks (40 B)")
def test_parse_options_sack(benchmark: Any, fp: ModuleType) -> None:
    buf = bytearray(60)
    blocks = ((1000, 2000), (3000, 4000), (0xFFFFFF00, 16))
    n = fp.build_tcp_options(buf, 20, None, None, False, blocks, 7, 8)
    assert benchmark(fp.parse_tcp_options, buf, 20, 20 + n) == (None, None, False, blocks, 7, 8)


@bench(group="range_insert into 4 ranges")
def test_range_insert(benchmark: Any, fp: ModuleType) -> None:
    base = 0xFFFFF000
    start = [(base + 1000, base + 2000), (base + 3000, base + 4000), (base + 5000, base + 6000),
             (base + 7000, base + 8000)]
    ranges: list[tuple[int, int]] = []

    def insert() -> int:
        ranges[:] = start
        return fp.range_insert(ranges, base, (base + 5500) & 0xFFFFFFFF, (base + 7200) & 0xFFFFFFFF)

    start = [(a & 0xFFFFFFFF, b & 0xFFFFFFFF) for a, b in start]
    assert benchmark(insert) == 1000
