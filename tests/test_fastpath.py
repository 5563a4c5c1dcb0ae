"""Known-answer tests for the fast path, run against both implementations (compiled and pure twin).

RFC 1071 §3 worked example, RFC 1624 §4 example, golden headers, the Linux TCP option layouts, every
truncation length of every unpack helper, and the selector module ``aiostack.fastpath``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pathlib
import subprocess
import sys
import textwrap
from types import ModuleType
from typing import Any

import pytest

from aiostack import _fastpath_py
from aiostack.errors import MalformedPacket

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("aiostack._fastpath")
    except ImportError:
        return None


IMPLS = [pytest.param(_fastpath_py, id="pure")]
IMPLS.append(
    pytest.param(_compiled(), id="cython",
                 marks=pytest.mark.skipif(_compiled() is None, reason="aiostack._fastpath is not built"))
)


@pytest.fixture(params=IMPLS)
def fp(request: pytest.FixtureRequest) -> ModuleType:
    return request.param  # type: ignore[no-any-return]


def _sum16_reference(data: bytes) -> int:
    """RFC 1071 by the book: add big-endian 16-bit words (odd byte padded), fold the carries."""
    if len(data) & 1:
        data += b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


# --- checksums --------------------------------------------------------------------------------------


def test_rfc1071_example(fp: ModuleType) -> None:
    # RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (after folding 0x2ddf0).
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert fp.checksum_partial(data) == 0xDDF2
    assert fp.internet_checksum(data) == 0x220D
    # Any byte order and any split into even pieces gives the same sum (RFC 1071 §2 (A), (B)).
    assert fp.checksum_partial(data[4:], fp.checksum_partial(data[:4])) == 0xDDF2


def test_rfc1624_example(fp: ModuleType) -> None:
    # RFC 1624 §4: HC = 0xDD2F, m = 0x5555, m' = 0x3285 -> HC' = 0x0000 by eqn. 3.
    assert fp.checksum_update16(0xDD2F, 0x5555, 0x3285) == 0x0000


def test_checksum_update_matches_recompute(fp: ModuleType) -> None:
    hdr = bytearray(bytes.fromhex("450000730000400040110000c0a80001c0a800c7"))
    c = fp.internet_checksum(hdr)
    old = (hdr[8] << 8) | hdr[9]
    hdr[8] -= 1  # TTL decrement
    new = (hdr[8] << 8) | hdr[9]
    hdr[10:12] = b"\0\0"
    assert fp.checksum_update16(c, old, new) == fp.internet_checksum(hdr)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1459, 1460, 1461])
@pytest.mark.parametrize("offset", [0, 1, 3])
def test_checksum_lengths_offsets_and_types(fp: ModuleType, n: int, offset: int) -> None:
    raw = bytes((i * 73 + 11) & 0xFF for i in range(n + offset))
    data = raw[offset:]
    want = _sum16_reference(data)
    assert fp.checksum_partial(data) == want
    assert fp.checksum_partial(bytearray(data)) == want
    assert fp.checksum_partial(memoryview(raw)[offset:]) == want
    assert fp.checksum_partial(memoryview(bytearray(raw))[offset:]) == want
    assert fp.internet_checksum(memoryview(raw)[offset:]) == (~want) & 0xFFFF


def test_checksum_zero_and_all_ones(fp: ModuleType) -> None:
    assert fp.checksum_partial(b"") == 0
    assert fp.internet_checksum(b"") == 0xFFFF
    assert fp.checksum_partial(bytes(1000)) == 0
    assert fp.checksum_partial(b"\xff" * 1000) == 0xFFFF
    assert fp.checksum_partial(b"\xff" * 1001) == 0xFF00  # 500 * 0xffff + 0xff00 folds to 0xff00
    assert fp.checksum_partial(b"", 0x1FFFE) == 0xFFFF
    assert fp.checksum_partial(b"\x00\x01", (1 << 100) + 5) == 1 + 5 + 16  # 2**100 = 2**4 (mod 0xffff)


def test_checksum_large_buffer(fp: ModuleType) -> None:
    data = bytes((i * 2654435761) >> 24 & 0xFF for i in range(65536 + 3))
    assert fp.checksum_partial(data) == _sum16_reference(data)
    assert fp.checksum_partial(memoryview(data)[1:]) == _sum16_reference(data[1:])


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_checksum_over_one_gibibyte_chunks_correctly() -> None:
    """The compiled sum works in 1 GiB chunks to keep its 64-bit accumulators from overflowing."""
    comp = _compiled()
    if comp is None:
        pytest.skip("aiostack._fastpath is not built")
    n = (1 << 30) + 7
    data = bytearray(b"\xff\xfe\x01\x80\x7f\x00\x33") * (n // 7)
    data += b"\xab" * (n - len(data))
    view = memoryview(data)
    first = comp.checksum_partial(view[: 1 << 30])
    assert comp.checksum_partial(view) == comp.checksum_partial(view[1 << 30:], first)
    # The same with the chunk boundary at an odd distance from the buffer's start.
    first = comp.checksum_partial(view[3: (1 << 30) + 3])
    assert comp.checksum_partial(view[3:]) == comp.checksum_partial(view[(1 << 30) + 3:], first)


def test_checksum_strided_and_typed_memoryviews(fp: ModuleType) -> None:
    raw = bytes(range(200))
    assert fp.checksum_partial(memoryview(raw)[::2]) == _sum16_reference(raw[::2])
    words = memoryview(bytearray(raw)).cast("H")
    assert fp.checksum_partial(words) == _sum16_reference(raw)


def test_checksum_rejects_non_buffers_and_negative_initial(fp: ModuleType) -> None:
    with pytest.raises(TypeError):
        fp.internet_checksum("not bytes")
    with pytest.raises(ValueError):
        fp.internet_checksum(b"ab", -1)


def test_pseudo_header_and_tcp_checksum_agree_with_scapy(fp: ModuleType) -> None:
    scapy_all = pytest.importorskip("scapy.all")
    pkt = scapy_all.IP(src="198.18.0.1", dst="198.18.0.2") / scapy_all.TCP(
        sport=40000, dport=80, seq=0xFFFFFFF0, ack=7, flags="PA", window=512,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]) / (b"x" * 101)
    wire = bytes(pkt)
    ihl = (wire[0] & 0xF) * 4
    seg = bytearray(wire[ihl:])
    stored = (seg[16] << 8) | seg[17]
    src, dst = 0xC6120001, 0xC6120002
    assert fp.tcp_checksum_ipv4(src, dst, seg) == 0  # verifies
    assert fp.transport_checksum_ipv4(src, dst, 6, memoryview(seg)) == 0
    seg[16:18] = b"\0\0"
    assert fp.tcp_checksum_ipv4(src, dst, seg) == stored
    assert fp.internet_checksum(seg, fp.pseudo_header_sum(src, dst, 6, len(seg))) == stored
    udp = bytes(scapy_all.IP(src="198.18.0.1", dst="198.18.0.2") / scapy_all.UDP(sport=5, dport=53) / (b"q" * 3))
    assert fp.transport_checksum_ipv4(src, dst, 17, udp[20:]) == 0


def test_checksum_fold(fp: ModuleType) -> None:
    assert fp.checksum_fold(0) == 0
    assert fp.checksum_fold(0xFFFF) == 0xFFFF
    assert fp.checksum_fold(0x2DDF0) == 0xDDF2
    assert fp.checksum_fold(0x1FFFE) == 0xFFFF


# --- sequence numbers -------------------------------------------------------------------------------


# SipHash-2-4 reference vectors (the paper's appendix and the reference implementation's vectors.h):
# key 00 01 .. 0f, message 00 01 .. (n - 1).
SIPHASH_VECTORS = {0: 0x726FDB47DD0E0E31, 1: 0x74F839C593DC67FD, 2: 0x0D6C8009D9A94F5A, 15: 0xA129CA6149BE45E5,
                   16: 0x3F2ACC7F57C29BDB, 32: 0x7127512F72F27CCE}


@pytest.mark.parametrize("n", sorted(SIPHASH_VECTORS))
def test_siphash24_reference_vectors(fp: ModuleType, n: int) -> None:
    key = bytes(range(16))
    assert fp.siphash24(key, bytes(range(n))) == SIPHASH_VECTORS[n]
    assert fp.siphash24(bytearray(key), memoryview(bytes(range(n)))) == SIPHASH_VECTORS[n]


def test_siphash24_words_is_the_16_byte_message(fp: ModuleType) -> None:
    k0, k1 = 0x0706050403020100, 0x0F0E0D0C0B0A0908  # the key 00 .. 0f as little-endian words
    assert fp.siphash24_words(k0, k1, k0, k1) == SIPHASH_VECTORS[16]  # the message 00 .. 0f likewise
    words = (0x0123456789ABCDEF, 0xFEDCBA9876543210, 0xC612000180000000, 0x00500000C6120002)
    as_bytes = [w.to_bytes(8, "little") for w in words]
    assert fp.siphash24_words(*words) == fp.siphash24(as_bytes[0] + as_bytes[1], as_bytes[2] + as_bytes[3])


def test_siphash24_bad_arguments(fp: ModuleType) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        fp.siphash24(bytes(15), b"")
    with pytest.raises(OverflowError):
        fp.siphash24_words(1 << 64, 0, 0, 0)
    with pytest.raises(OverflowError):
        fp.siphash24_words(0, 0, -1, 0)


def test_seq_arithmetic_wraps(fp: ModuleType) -> None:
    assert fp.seq_add(0xFFFFFFFF, 1) == 0
    assert fp.seq_add(0, -1) == 0xFFFFFFFF
    assert fp.seq_diff(5, 0xFFFFFFFB) == 10
    assert fp.seq_diff(0xFFFFFFFB, 5) == -10
    assert fp.seq_diff(0x80000000, 0) == -(1 << 31)
    assert fp.seq_lt(0xFFFFFFFF, 0) and fp.seq_gt(0, 0xFFFFFFFF)
    assert fp.seq_le(7, 7) and fp.seq_ge(7, 7) and not fp.seq_lt(7, 7) and not fp.seq_gt(7, 7)
    assert fp.seq_in_window(2, 0xFFFFFFFE, 5) and not fp.seq_in_window(3, 0xFFFFFFFE, 5)
    assert not fp.seq_in_window(0, 0, 0)
    assert fp.seq_max(1, 0xFFFFFFF0) == 1 and fp.seq_min(1, 0xFFFFFFF0) == 0xFFFFFFF0


# --- headers ----------------------------------------------------------------------------------------

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def test_ethernet_golden(fp: ModuleType) -> None:
    buf = bytearray(b"\xa5" * 20)
    assert fp.pack_ethernet(buf, 3, MAC_B, MAC_A, 0x0806) == 14
    assert buf == b"\xa5" * 3 + MAC_B + MAC_A + b"\x08\x06" + b"\xa5" * 3
    assert fp.unpack_ethernet(bytes(buf), 3) == (MAC_B, MAC_A, 0x0806)
    assert fp.unpack_ethernet(memoryview(buf)[3:]) == (MAC_B, MAC_A, 0x0806)
    fp.pack_ethernet(memoryview(buf)[1:], 0, bytearray(MAC_A), memoryview(MAC_B), 0x86DD)
    assert fp.unpack_ethernet(buf, 1) == (MAC_A, MAC_B, 0x86DD)
    with pytest.raises(ValueError):
        fp.pack_ethernet(buf, 0, b"\x01" * 5, MAC_A, 0x0800)


# The classic IPv4 header example: 192.168.0.1 -> 192.168.0.199, UDP, checksum 0xb861.
IPV4_GOLDEN = bytes.fromhex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")


def test_ipv4_golden(fp: ModuleType) -> None:
    buf = bytearray(b"\xa5" * 24)
    assert fp.pack_ipv4(buf, 2, 0, 0x73, 0, 0x4000, 64, 17, 0xC0A80001, 0xC0A800C7) == 20
    assert buf == b"\xa5\xa5" + IPV4_GOLDEN + b"\xa5\xa5"
    assert fp.unpack_ipv4(buf, 2) == (0x45, 0, 0x73, 0, 0x4000, 64, 17, 0xB861, 0xC0A80001, 0xC0A800C7)
    assert fp.internet_checksum(memoryview(buf)[2:22]) == 0


def test_ipv4_checksum_extremes(fp: ModuleType) -> None:
    buf = bytearray(20)
    fp.pack_ipv4(buf, 0, 0xFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFF, 0xFF, 0xFFFFFFFF, 0xFFFFFFFF)
    assert fp.internet_checksum(buf) == 0
    fp.pack_ipv4(buf, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert fp.internet_checksum(buf) == 0


# TCP SYN 198.18.0.1:40000 -> :80, seq 0x01020304, window 64240, header 40 bytes (20 of options).
TCP_GOLDEN = bytes.fromhex("9c40 0050 01020304 00000000 a002 faf0 1234 0000")


def test_tcp_golden(fp: ModuleType) -> None:
    buf = bytearray(b"\xa5" * 22)
    assert fp.pack_tcp(buf, 1, 40000, 80, 0x01020304, 0, 40, 0x002, 64240, 0x1234, 0) == 20
    assert buf == b"\xa5" + TCP_GOLDEN + b"\xa5"
    assert fp.unpack_tcp(buf, 1) == (40000, 80, 0x01020304, 0, 40, 0x002, 64240, 0x1234, 0)
    # Reserved bits survive a round trip; the data offset nibble is not mixed into the flags.
    fp.pack_tcp(buf, 0, 1, 2, 0xFFFFFFFF, 0xFFFFFFFF, 60, 0xFFF, 0xFFFF, 0xFFFF, 0xFFFF)
    assert buf[12:14] == b"\xff\xff"
    assert fp.unpack_tcp(buf)[4:6] == (60, 0xFFF)


@pytest.mark.parametrize("header_len, flags", [(16, 0), (64, 0), (22, 0), (20, 0x1000)])
def test_tcp_pack_rejects_bad_header_len_and_flags(fp: ModuleType, header_len: int, flags: int) -> None:
    with pytest.raises(ValueError):
        fp.pack_tcp(bytearray(20), 0, 1, 2, 3, 4, header_len, flags, 5, 6, 7)


def test_udp_golden(fp: ModuleType) -> None:
    buf = bytearray(b"\xa5" * 10)
    assert fp.pack_udp(buf, 1, 5353, 53, 12, 0xBEEF) == 8
    assert buf == b"\xa5" + bytes.fromhex("14e9 0035 000c beef") + b"\xa5"
    assert fp.unpack_udp(bytes(buf), 1) == (5353, 53, 12, 0xBEEF)


UNPACKERS = [("unpack_ethernet", 14), ("unpack_ipv4", 20), ("unpack_tcp", 20), ("unpack_udp", 8)]


@pytest.mark.parametrize("name, size", UNPACKERS)
def test_every_truncation_raises_malformed(fp: ModuleType, name: str, size: int) -> None:
    fn = getattr(fp, name)
    full = bytes(range(size + 3))
    for off in range(4):
        for n in range(off + size):
            for buf in (full[:n], bytearray(full[:n]), memoryview(full)[:n]):
                with pytest.raises(MalformedPacket) as ei:
                    fn(buf, off)
                assert ei.value.reason == "truncated"
        fn(full[: off + size], off)  # exactly enough
    with pytest.raises(ValueError):
        fn(full, -1)


PACKERS = [
    ("pack_ethernet", 14, (MAC_A, MAC_B, 0x0800)),
    ("pack_ipv4", 20, (0, 20, 1, 0, 64, 6, 1, 2)),
    ("pack_tcp", 20, (1, 2, 3, 4, 20, 0x10, 5, 6, 7)),
    ("pack_udp", 8, (1, 2, 8, 0)),
]


@pytest.mark.parametrize("name, size, args", PACKERS)
def test_pack_errors(fp: ModuleType, name: str, size: int, args: tuple[object, ...]) -> None:
    fn = getattr(fp, name)
    for n in range(size):
        with pytest.raises(ValueError, match="buffer too small"):
            fn(bytearray(n), 0, *args)
    with pytest.raises(ValueError, match="buffer too small"):
        fn(bytearray(size), 1, *args)
    with pytest.raises(ValueError):
        fn(bytearray(size + 5), -1, *args)
    with pytest.raises(TypeError):
        fn(bytes(size), 0, *args)
    with pytest.raises(TypeError):
        fn(memoryview(bytes(size)), 0, *args)
    big = bytearray(b"\xa5" * (size + 4))
    assert fn(memoryview(big)[2:], 0, *args) == size
    assert big[:2] == b"\xa5\xa5" and big[-2:] == b"\xa5\xa5"


@pytest.mark.parametrize("bad", [-1, 1 << 16])
def test_pack_field_out_of_range(fp: ModuleType, bad: int) -> None:
    with pytest.raises(OverflowError):
        fp.pack_udp(bytearray(8), 0, bad, 2, 8, 0)
    with pytest.raises(OverflowError):
        fp.pack_tcp(bytearray(20), 0, 1, 2, 3, 1 << 32, 20, 0, 5, 6, 7)
    with pytest.raises(OverflowError):
        fp.pack_ipv4(bytearray(20), 0, 256, 20, 1, 0, 64, 6, 1, 2)


# --- TCP options ------------------------------------------------------------------------------------

SYN_ALL = bytes.fromhex("020405b4 0402080a 00000064 00000000 01030307")


@pytest.mark.parametrize(
    "args, golden",
    [
        ((1460, 7, True, None, 100, None), SYN_ALL),
        ((1460, 7, True, None, None, None), bytes.fromhex("020405b4 01010402 01030307")),
        ((1460, None, False, None, None, None), bytes.fromhex("020405b4")),
        ((None, None, False, (), 0xAABBCCDD, 0x11223344), bytes.fromhex("0101080a aabbccdd 11223344")),
        ((None, None, False, [(1, 2), (0xFFFFFFF0, 5)], 7, 8),
         bytes.fromhex("0101080a 00000007 00000008 0101 0512 00000001 00000002 fffffff0 00000005")),
        ((None, None, False, [(1, 2)] * 4, None, None), bytes.fromhex("0101 0522") + bytes.fromhex("00000001 00000002") * 4),
        ((None, None, False, None, None, None), b""),
    ],
)
def test_build_tcp_options_layout(fp: ModuleType, args: tuple[object, ...], golden: bytes) -> None:
    buf = bytearray(b"\xa5" * 45)
    assert fp.build_tcp_options(buf, 2, *args) == len(golden)
    assert len(golden) % 4 == 0
    assert buf == b"\xa5\xa5" + golden + b"\xa5" * (43 - len(golden))
    mss, ws, sp, blocks, tsv, tse = args
    parsed = fp.parse_tcp_options(buf, 2, 2 + len(golden))
    assert parsed == (mss, ws, bool(sp), tuple(blocks or ()), tsv, None if tsv is None else (tse or 0))


def test_build_tcp_options_limits(fp: ModuleType) -> None:
    with pytest.raises(ValueError):  # 12 + 4 + 32 > 40
        fp.build_tcp_options(bytearray(60), 0, None, None, False, [(1, 2)] * 4, 1, 2)
    with pytest.raises(ValueError):
        fp.build_tcp_options(bytearray(60), 0, None, None, False, [(1, 2)] * 5, None, None)
    with pytest.raises(ValueError, match="buffer too small"):
        fp.build_tcp_options(bytearray(19), 0, 1460, 7, True, None, 1, 2)
    with pytest.raises(OverflowError):
        fp.build_tcp_options(bytearray(40), 0, 70000, None, False, None, None, None)


@pytest.mark.parametrize(
    "raw, want",
    [
        (b"", (None, None, False, (), None, None)),
        (b"\x01\x01\x01\x00\x02\x04\x05\xb4", (None, None, False, (), None, None)),  # EOL stops
        (b"\x02\x04\x05\xb4\x00\x00\x00\x00", (1460, None, False, (), None, None)),
        (b"\xfe\x06abcd\x03\x03\x0e\x01", (None, 14, False, (), None, None)),  # unknown kind skipped
        (b"\x02\x04\x05\xb4\x02\x04\x02\x18", (536, None, False, (), None, None)),  # last one wins
        (b"\x04\x02\x01\x01", (None, None, True, (), None, None)),
    ],
)
def test_parse_tcp_options(fp: ModuleType, raw: bytes, want: tuple[object, ...]) -> None:
    assert fp.parse_tcp_options(raw, 0, len(raw)) == want
    assert fp.parse_tcp_options(b"xyz" + raw, 3, 3 + len(raw)) == want
    assert fp.parse_tcp_options(memoryview(bytearray(b"xyz" + raw))[1:], 2, 2 + len(raw)) == want


@pytest.mark.parametrize(
    "raw",
    [
        b"\x02",  # no length byte
        b"\x01\xfe",  # unknown kind without length byte
        b"\x02\x00\x00\x00",  # length 0 (RFC 9293 MUST-7)
        b"\xfe\x01\x00\x00",  # length 1
        b"\x02\x05\x05\xb4",  # runs past the end
        b"\x02\x03\x05\x01",  # MSS with length 3
        b"\x03\x04\x07\x01",  # window scale with length 4
        b"\x04\x03\x00\x01",  # SACK-permitted with length 3
        b"\x05\x02\x01\x01",  # SACK without blocks
        b"\x05\x06\x00\x00\x00\x01",  # SACK with half a block
        b"\x08\x08\x00\x00\x00\x01\x00\x00",  # timestamps with length 8
    ],
)
def test_parse_tcp_options_bad_length(fp: ModuleType, raw: bytes) -> None:
    with pytest.raises(MalformedPacket) as ei:
        fp.parse_tcp_options(raw + b"\x00\x00", 0, len(raw))
    assert ei.value.reason == "bad_tcp_option"


def test_parse_tcp_options_range_errors(fp: ModuleType) -> None:
    with pytest.raises(MalformedPacket) as ei:
        fp.parse_tcp_options(b"\x01\x01", 0, 3)
    assert ei.value.reason == "truncated"
    with pytest.raises(ValueError):
        fp.parse_tcp_options(b"\x01\x01", 2, 1)
    with pytest.raises(ValueError):
        fp.parse_tcp_options(b"\x01\x01", -1, 1)


def test_parse_tcp_segment(fp: ModuleType) -> None:
    frame = fp.build_tcp_frame(MAC_B + MAC_A + b"\x08\x00", 0, 1, 64, 1, 2, 40000, 80, 0xFFFFFFFF, 7, 0x012, 1024,
                               1460, 7, True, None, 99, 0, b"hello", False)
    want = (40000, 80, 0xFFFFFFFF, 7, 40, 0x012, 1024, 1460, 7, True, (), 99, 0)
    assert fp.parse_tcp_segment(frame, 34) == want
    assert fp.parse_tcp_segment(memoryview(frame)[34:]) == want
    assert fp.parse_tcp_segment(bytes(frame) + b"junk", 34, len(frame)) == want
    data = fp.build_tcp_frame(bytes(14), 0, 1, 64, 1, 2, 5, 6, 8, 9, 0x010, 3, None, None, False, [(1, 2)], 3, 4,
                              b"", False)
    assert fp.parse_tcp_segment(data, 34) == (5, 6, 8, 9, 44, 0x010, 3, None, None, False, ((1, 2),), 3, 4)
    ts_only = fp.build_tcp_frame(bytes(14), 0, 1, 64, 1, 2, 5, 6, 8, 9, 0x010, 3, None, None, False, None, 3, 4,
                                 b"x", False)
    assert fp.parse_tcp_segment(ts_only, 34) == (5, 6, 8, 9, 32, 0x010, 3, None, None, False, (), 3, 4)
    bare = bytearray(20)
    fp.pack_tcp(bare, 0, 1, 2, 3, 4, 20, 0x004, 5, 0, 0)
    assert fp.parse_tcp_segment(bare) == (1, 2, 3, 4, 20, 0x004, 5, None, None, False, (), None, None)


def test_tcp_header(fp: ModuleType) -> None:
    syn = fp.build_tcp_frame(bytes(14), 0, 1, 64, 1, 2, 40000, 80, 0xFFFFFFFF, 7, 0x012, 1024, 1460, 7, True, None,
                             99, 0, b"hello", False)
    # other options than NOP NOP TS: no timestamps here (the caller parses the options apart)
    assert fp.tcp_header(memoryview(syn)[34:]) == (40000, 80, 0xFFFFFFFF, 7, 40, 0x012, 1024, -1, -1)
    ts_only = fp.build_tcp_frame(bytes(14), 0, 1, 64, 1, 2, 5, 6, 8, 9, 0x018, 3, None, None, False, None,
                                 0xFFFFFFFF, 0, b"x", False)
    assert fp.tcp_header(bytes(ts_only[34:])) == (5, 6, 8, 9, 32, 0x018, 3, 0xFFFFFFFF, 0)
    sack = fp.build_tcp_frame(bytes(14), 0, 1, 64, 1, 2, 5, 6, 8, 9, 0x010, 3, None, None, False, [(1, 2)], 3, 4,
                              b"", False)
    assert fp.tcp_header(sack[34:]) == (5, 6, 8, 9, 44, 0x010, 3, -1, -1)
    bare = bytearray(20)
    fp.pack_tcp(bare, 0, 1, 2, 3, 4, 20, 0xFFF, 5, 0, 0)
    assert fp.tcp_header(bare) == (1, 2, 3, 4, 20, 0xFFF, 5, -1, -1)
    for bad, reason in ((bare[:19], "truncated"), (bytes([0] * 12 + [0x40] + [0] * 7), "bad_data_offset"),
                        (bytes([0] * 12 + [0x60] + [0] * 7), "bad_data_offset")):
        with pytest.raises(MalformedPacket) as ei:
            fp.tcp_header(bad)
        assert ei.value.reason == reason


@pytest.mark.parametrize(
    "mutate, end, reason",
    [
        (lambda b: None, 19, "truncated"),
        (lambda b: None, 100, "truncated"),  # end beyond the buffer
        (lambda b: b.__setitem__(12, 0x40), None, "bad_data_offset"),  # 16-byte header
        (lambda b: b.__setitem__(12, 0xF0), None, "bad_data_offset"),  # 60 bytes in a 32-byte segment
        (lambda b: b.__setitem__(21, 0x08), None, "bad_tcp_option"),  # NOP, TS with a cut-off length
    ],
)
def test_parse_tcp_segment_malformed(fp: ModuleType, mutate: Any, end: int | None, reason: str) -> None:
    seg = bytearray(32)
    fp.pack_tcp(seg, 0, 1, 2, 3, 4, 32, 0x010, 5, 0, 0)
    fp.build_tcp_options(seg, 20, None, None, False, None, 1, 2)
    mutate(seg)
    with pytest.raises(MalformedPacket) as ei:
        fp.parse_tcp_segment(seg, 0, end)
    assert ei.value.reason == reason


# --- whole frames -----------------------------------------------------------------------------------


@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(256)) * 5 + b"odd"])
def test_build_tcp_frame_matches_the_pieces(fp: ModuleType, partial: bool, payload: bytes) -> None:
    eth = MAC_B + MAC_A + b"\x08\x00"
    src, dst = 0xC6120001, 0xC6120002
    frame = fp.build_tcp_frame(eth, 0, 77, 64, src, dst, 40000, 80, 0xFFFFFFF0, 9, 0x18, 512,
                               None, None, False, [(1, 2)], 5, 6, memoryview(b"??" + payload)[2:], partial)
    assert type(frame) is bytearray
    want = bytearray(54 + 24 + len(payload))
    fp.pack_ethernet(want, 0, MAC_B, MAC_A, 0x0800)
    fp.pack_ipv4(want, 14, 0, len(want) - 14, 77, 0x4000, 64, 6, src, dst)
    fp.pack_tcp(want, 34, 40000, 80, 0xFFFFFFF0, 9, 20 + 24, 0x18, 512, 0, 0)
    assert fp.build_tcp_options(want, 54, None, None, False, [(1, 2)], 5, 6) == 24  # NOP NOP TS, NOP NOP SACK
    want[34 + 44:] = payload
    tcp_len = len(want) - 34
    if partial:
        csum = fp.checksum_fold(fp.pseudo_header_sum(src, dst, 6, tcp_len))
    else:
        csum = fp.tcp_checksum_ipv4(src, dst, memoryview(want)[34:])
    want[50:52] = csum.to_bytes(2, "big")
    assert frame == want
    assert fp.internet_checksum(memoryview(frame)[14:34]) == 0
    if not partial:
        assert fp.tcp_checksum_ipv4(src, dst, memoryview(frame)[34:]) == 0


def test_build_tcp_frame_agrees_with_scapy(fp: ModuleType) -> None:
    scapy_all = pytest.importorskip("scapy.all")
    frame = fp.build_tcp_frame(MAC_B + MAC_A + b"\x08\x00", 0, 1, 64, 0xC6120001, 0xC6120002, 40000, 80, 1000,
                               0, 0x002, 64240, 1460, 7, True, None, 123, None, None, False)
    pkt = scapy_all.Ether(bytes(frame))
    ip, tcp = pkt[scapy_all.IP], pkt[scapy_all.TCP]
    assert (ip.src, ip.dst, ip.flags.value, ip.ttl, ip.len) == ("198.18.0.1", "198.18.0.2", 2, 64, 60)
    assert (tcp.sport, tcp.dport, tcp.seq, int(tcp.flags), tcp.window, tcp.dataofs) == (40000, 80, 1000, 2, 64240, 10)
    assert dict((k, v) for k, v in tcp.options if k != "NOP") == {
        "MSS": 1460, "SAckOK": b"", "Timestamp": (123, 0), "WScale": 7}
    stored_ip, stored_tcp = ip.chksum, tcp.chksum
    del ip.chksum, tcp.chksum  # let scapy recompute both
    again = scapy_all.Ether(bytes(pkt))
    assert (again[scapy_all.IP].chksum, again[scapy_all.TCP].chksum) == (stored_ip, stored_tcp)


def test_build_tcp_frame_errors(fp: ModuleType) -> None:
    eth = bytes(14)
    args = [0, 1, 64, 1, 2, 3, 4, 5, 6, 0x10, 100, None, None, False, None, None, None]
    with pytest.raises(ValueError):
        fp.build_tcp_frame(bytes(13), *args, b"", False)
    with pytest.raises(ValueError):  # IPv4 total length > 65535
        fp.build_tcp_frame(eth, *args, bytes(65536 - 40), False)
    assert len(fp.build_tcp_frame(eth, *args, bytes(65535 - 40), False)) == 65535 + 14
    bad = list(args)
    bad[9] = 0x1000
    with pytest.raises(ValueError):
        fp.build_tcp_frame(eth, *bad, b"", False)
    bad = list(args)
    bad[10] = 1 << 16
    with pytest.raises(OverflowError):
        fp.build_tcp_frame(eth, *bad, b"", False)


# --- range bookkeeping ------------------------------------------------------------------------------


def test_range_insert_merges_and_counts(fp: ModuleType) -> None:
    r: list[tuple[int, int]] = []
    assert fp.range_insert(r, 100, 200, 300) == 100
    assert fp.range_insert(r, 100, 400, 500) == 100
    assert fp.range_insert(r, 100, 250, 260) == 0
    assert r == [(200, 300), (400, 500)]
    assert fp.range_insert(r, 100, 300, 400) == 100  # fills the hole exactly: all three merge
    assert r == [(200, 500)]
    assert fp.range_insert(r, 100, 150, 150) == 0
    assert fp.range_insert(r, 100, 120, 130) == 10
    assert fp.range_insert(r, 100, 110, 600) == 490 - 10 - 300
    assert r == [(110, 600)]


def test_range_insert_wraps(fp: ModuleType) -> None:
    base = 0xFFFFFF00
    r: list[tuple[int, int]] = []
    assert fp.range_insert(r, base, 0x10, 0x20) == 0x10
    assert fp.range_insert(r, base, 0xFFFFFFF0, 0x10) == 0x20  # adjacent across zero
    assert r == [(0xFFFFFFF0, 0x20)]
    assert fp.range_insert(r, base, 0xFFFFFF10, 0xFFFFFF20) == 0x10
    assert r == [(0xFFFFFF10, 0xFFFFFF20), (0xFFFFFFF0, 0x20)]
    assert fp.range_trim(r, 0xFFFFFF18) == 8
    assert r == [(0xFFFFFF18, 0xFFFFFF20), (0xFFFFFFF0, 0x20)]
    assert fp.range_trim(r, 0x8) == 8 + 0x18
    assert r == [(0x8, 0x20)]
    assert fp.range_trim(r, 0x20) == 0x18
    assert r == []
    assert fp.range_trim(r, 5) == 0


def test_range_insert_matches_a_set_model(fp: ModuleType) -> None:
    import random

    rng = random.Random(1071)
    for _ in range(50):
        base = rng.randrange(1 << 32)
        r: list[tuple[int, int]] = []
        covered: set[int] = set()
        for _ in range(20):
            a = rng.randrange(300)
            b = a + rng.randrange(40)
            before = len(covered)
            covered.update(range(a, b))
            got = fp.range_insert(r, base, (base + a) & 0xFFFFFFFF, (base + b) & 0xFFFFFFFF)
            assert got == len(covered) - before
            offs = [((s - base) & 0xFFFFFFFF, ((s - base) & 0xFFFFFFFF) + ((e - s) & 0xFFFFFFFF)) for s, e in r]
            assert set().union(*(range(s, e) for s, e in offs)) == covered
            assert all(offs[i][1] < offs[i + 1][0] for i in range(len(offs) - 1))


# --- the selector module and the module contract ----------------------------------------------------


def test_all_identical_and_matching_the_stub() -> None:
    comp = _compiled()
    stub = ast.parse((ROOT / "aiostack" / "_fastpath.pyi").read_text())
    stub_all: list[str] = []
    stub_params: dict[str, list[str]] = {}
    for node in stub.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            stub_all = ast.literal_eval(node.value)
        elif isinstance(node, ast.FunctionDef):
            stub_params[node.name] = [a.arg for a in node.args.args]
    assert stub_all == _fastpath_py.__all__
    assert sorted(stub_params) == sorted(stub_all)
    for name in stub_all:
        assert list(inspect.signature(getattr(_fastpath_py, name)).parameters) == stub_params[name], name
    if comp is not None:
        assert comp.__all__ == _fastpath_py.__all__
        for name in stub_all:
            sig_c = inspect.signature(getattr(comp, name))
            sig_p = inspect.signature(getattr(_fastpath_py, name))
            assert list(sig_c.parameters) == list(sig_p.parameters), name
            assert [p.default for p in sig_c.parameters.values()] == [p.default for p in sig_p.parameters.values()]


def test_selector_matches_environment() -> None:
    from aiostack import fastpath

    if os.environ.get("AIOSTACK_PURE") == "1" or _compiled() is None:
        assert fastpath.IMPLEMENTATION == "pure"
        assert fastpath.internet_checksum is _fastpath_py.internet_checksum
    else:
        assert fastpath.IMPLEMENTATION == "cython"
        assert fastpath.internet_checksum is _compiled().internet_checksum  # type: ignore[union-attr]
    for name in _fastpath_py.__all__:
        assert callable(getattr(fastpath, name))


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "AIOSTACK_PURE"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, cwd=ROOT, timeout=60)


@pytest.mark.timeout(120)
def test_aiostack_pure_forces_the_twin() -> None:
    r = _run("""
        import warnings
        warnings.simplefilter("error")
        import aiostack.fastpath as f
        print(f.IMPLEMENTATION, f.internet_checksum.__module__)
    """, AIOSTACK_PURE="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["pure", "aiostack._fastpath_py"]


@pytest.mark.timeout(120)
def test_missing_extension_warns_once_and_runs_pure() -> None:
    r = _run("""
        import sys, warnings
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "aiostack._fastpath":
                    raise ImportError("blocked for the test")
                return None
        sys.meta_path.insert(0, Block())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import aiostack.fastpath as f
            import importlib
            import aiostack.fastpath as g  # a second import does not warn again
        mine = [w for w in caught if issubclass(w.category, RuntimeWarning) and "fast path" in str(w.message)]
        print(f.IMPLEMENTATION, len(mine), f.internet_checksum(b"\\x00\\x01\\xf2\\x03\\xf4\\xf5\\xf6\\xf7"))
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["pure", "1", str(0x220D)]
