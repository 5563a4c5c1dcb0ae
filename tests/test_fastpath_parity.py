"""Hypothesis parity: the compiled ``aiostack._fastpath`` and the twin ``aiostack._fastpath_py`` agree.

Every exported function gets random inputs (empty, odd lengths, 64 KiB, offsets into memoryviews,
wrap-around sequence numbers, random bytes into the unpackers and the option parser): both give the
same result, or both raise the same exception type (and the same ``MalformedPacket.reason``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiostack import _fastpath_py as P
from aiostack.errors import MalformedPacket

try:
    from aiostack import _fastpath as C
except ImportError:  # pragma: no cover - depends on the build
    pytestmark = pytest.mark.skip(reason="aiostack._fastpath (the compiled module) is not importable")
    C = P

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
# Sequence numbers: anywhere, and often next to the wrap point and the half-space boundary.
seqs = st.one_of(u32, st.integers(0, 64), st.integers(0xFFFFFFFF - 64, 0xFFFFFFFF),
                 st.integers(0x7FFFFFFF - 64, 0x80000000 + 64))


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except MalformedPacket as exc:
        return "malformed", exc.reason
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return "raised", type(exc)


def same(name: str, *args: Any) -> Any:
    c = outcome(getattr(C, name), *args)
    p = outcome(getattr(P, name), *args)
    assert c == p, (name, args)
    return c


@st.composite
def buffers(draw: st.DrawFn, max_size: int = 3000) -> Any:
    """bytes, bytearray or a memoryview at an offset into a larger buffer (of either kind)."""
    data = draw(st.binary(max_size=max_size))
    kind = draw(st.sampled_from(["bytes", "bytearray", "mv", "mv-offset", "mv-bytearray-offset"]))
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "mv":
        return memoryview(data)
    pad = draw(st.integers(1, 9))
    raw = bytes(pad) + data + bytes(draw(st.integers(0, 3)))
    backing = bytearray(raw) if kind == "mv-bytearray-offset" else raw
    return memoryview(backing)[pad: pad + len(data)]


# --- checksums --------------------------------------------------------------------------------------


@SETTINGS
@given(buffers(), st.one_of(st.just(0), st.integers(0, 0xFFFF), st.integers(0, 1 << 70)))
def test_checksums(data: Any, initial: int) -> None:
    same("checksum_partial", data, initial)
    same("internet_checksum", data, initial)
    same("checksum_partial", data)


@SETTINGS
@given(st.integers(0, 1 << 30), st.integers(65530, 65540), st.integers(0, 7))
def test_checksums_64k(seed: int, n: int, offset: int) -> None:
    raw = random.Random(seed).randbytes(n + offset)
    same("internet_checksum", memoryview(raw)[offset:])
    same("checksum_partial", bytearray(raw[offset:]), seed)


@SETTINGS
@given(u32, u32, u8, u16, buffers(max_size=200))
def test_pseudo_header_and_transport(src: int, dst: int, proto: int, length: int, seg: Any) -> None:
    same("pseudo_header_sum", src, dst, proto, length)
    same("tcp_checksum_ipv4", src, dst, seg)
    same("transport_checksum_ipv4", src, dst, proto, seg)


@SETTINGS
@given(st.integers(0, 1 << 80), u16, u16, u16)
def test_fold_and_update(total: int, hc: int, old: int, new: int) -> None:
    same("checksum_fold", total)
    same("checksum_update16", hc, old, new)


def test_bad_checksum_inputs_raise_alike() -> None:
    for data in ("text", 5, None, memoryview(b"abcdef")[::2]):
        same("internet_checksum", data)
    same("internet_checksum", b"ab", -3)


# --- sequence numbers -------------------------------------------------------------------------------


@SETTINGS
@given(seqs, seqs, st.integers(-(1 << 33), 1 << 33), st.integers(0, 1 << 32))
def test_sequence_arithmetic(a: int, b: int, n: int, size: int) -> None:
    same("seq_add", a, n)
    for name in ("seq_diff", "seq_lt", "seq_le", "seq_gt", "seq_ge", "seq_max", "seq_min"):
        same(name, a, b)
        same(name, a, a)
    same("seq_in_window", a, b, size)
    same("seq_in_window", b, b, size)


@SETTINGS
@given(st.binary(min_size=16, max_size=16), buffers(max_size=100),
       st.tuples(*([st.one_of(st.integers(0, (1 << 64) - 1), st.integers(-2, 2), st.just(1 << 64))] * 4)))
def test_siphash(key: bytes, data: Any, words: tuple[int, int, int, int]) -> None:
    same("siphash24", key, data)
    same("siphash24_words", *words)


# --- headers ----------------------------------------------------------------------------------------


def same_pack(name: str, size: int, off: int, *fields: Any) -> None:
    """Pack into identical buffers pre-filled with 0xa5 (random room and offset); compare all bytes.

    After an error the header's bytes are unspecified (struct.pack_into stops midway), so only
    successful writes compare the buffers.
    """
    buf_c = bytearray(b"\xa5" * size)
    buf_p = bytearray(b"\xa5" * size)
    r_c = outcome(getattr(C, name), memoryview(buf_c), off, *fields)
    r_p = outcome(getattr(P, name), memoryview(buf_p), off, *fields)
    assert r_c == r_p, (name, off, fields)
    if r_c[0] == "ok":
        assert buf_c == buf_p, (name, off, fields)


@SETTINGS
@given(st.integers(0, 30), st.integers(0, 24), st.binary(min_size=6, max_size=6), st.binary(min_size=5, max_size=7),
       u16)
def test_pack_ethernet(size: int, off: int, dst: bytes, src: bytes, ethertype: int) -> None:
    same_pack("pack_ethernet", size, off, dst, src, ethertype)


@SETTINGS
@given(st.integers(0, 30), st.integers(0, 12), st.tuples(u8, u16, u16, u16, u8, u8, u32, u32))
def test_pack_ipv4(size: int, off: int, fields: tuple[int, ...]) -> None:
    same_pack("pack_ipv4", size, off, *fields)


@SETTINGS
@given(st.integers(0, 30), st.integers(0, 12), st.tuples(u16, u16, seqs, seqs,
       st.sampled_from([20, 24, 32, 40, 60, 21, 64, 0]), st.integers(0, 0x1000), u16, u16, u16))
def test_pack_tcp(size: int, off: int, fields: tuple[int, ...]) -> None:
    same_pack("pack_tcp", size, off, *fields)


@SETTINGS
@given(st.integers(0, 12), st.integers(0, 6), st.tuples(u16, u16, u16, u16))
def test_pack_udp(size: int, off: int, fields: tuple[int, ...]) -> None:
    same_pack("pack_udp", size, off, *fields)


@SETTINGS
@given(st.sampled_from(["pack_udp", "pack_tcp", "pack_ipv4"]), st.integers(-(1 << 33), 1 << 33))
def test_pack_out_of_range_fields(name: str, value: int) -> None:
    valid = {"pack_udp": [1, 2, 8, 0], "pack_tcp": [1, 2, 3, 4, 20, 0x10, 5, 6, 7],
             "pack_ipv4": [0, 20, 1, 0, 64, 6, 1, 2]}[name]
    for i in range(len(valid)):
        fields = list(valid)
        fields[i] = value
        same_pack(name, 40, 0, *fields)


@SETTINGS
@given(buffers(max_size=40), st.integers(-2, 40))
def test_unpack_random_bytes(buf: Any, off: int) -> None:
    for name in ("unpack_ethernet", "unpack_ipv4", "unpack_tcp", "unpack_udp"):
        same(name, buf, off)


def test_unpack_read_only_and_odd_objects_alike() -> None:
    released = memoryview(bytearray(40))
    released.release()
    for obj in (b"x" * 30, "x" * 30, None, memoryview(b"y" * 60)[::2], memoryview(bytearray(40)).cast("H"),
                released):
        same("internet_checksum", obj)
        same("parse_tcp_options", obj, 0, 4)
        same("parse_tcp_segment", obj)
        for name in ("unpack_ethernet", "unpack_ipv4", "unpack_tcp", "unpack_udp"):
            same(name, obj, 0)
        for name, fields in (("pack_udp", (1, 2, 3, 4)), ("pack_ethernet", (b"a" * 6, b"b" * 6, 1))):
            same(name, obj, 0, *fields)


# --- TCP options ------------------------------------------------------------------------------------


@st.composite
def option_lists(draw: st.DrawFn) -> bytes:
    """Mostly well-formed option lists, with a chance of a bad length or kind anywhere."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from([0, 1, 1, 2, 3, 4, 5, 8, 30, 254]))
        if kind in (0, 1):
            out.append(kind)
            continue
        good = {2: 4, 3: 3, 4: 2, 8: 10}.get(kind)
        if kind == 5:
            good = 2 + 8 * draw(st.integers(1, 4))
        if good is None:
            good = draw(st.integers(2, 12))
        ln = draw(st.one_of(st.just(good), st.integers(0, 14))) if draw(st.booleans()) else good
        out += bytes([kind, ln]) + draw(st.binary(min_size=max(ln - 2, 0), max_size=max(ln - 2, 0)))
    return bytes(out)


@SETTINGS
@given(option_lists(), st.integers(0, 5), st.integers(-3, 3))
def test_parse_structured_options(opts: bytes, pad: int, end_adjust: int) -> None:
    raw = b"\x5a" * pad + opts
    same("parse_tcp_options", raw, pad, len(raw))
    same("parse_tcp_options", memoryview(bytearray(raw + b"\x01\x02")), pad, len(raw) + end_adjust)


@SETTINGS
@given(option_lists(), st.sampled_from([0, 4, 8, 12, 16, 20, 40, 44, 60]), st.integers(0, 6),
       st.one_of(st.none(), st.integers(-2, 90)), st.binary(max_size=20))
def test_parse_tcp_segment(opts: bytes, opt_room: int, off: int, end: Any, payload: bytes) -> None:
    hl = 20 + opt_room
    seg = bytearray(off + 20) + (opts + bytes(opt_room))[:opt_room] + payload
    seg[off + 12] = (hl >> 2) << 4 if hl <= 60 else 0xF0
    seg[off: off + 12] = bytes(range(1, 13))
    same("parse_tcp_segment", bytes(seg), off, end)
    same("parse_tcp_segment", memoryview(seg)[off:], 0, None if end is None else end - off)


@SETTINGS
@given(buffers(max_size=70), st.integers(-1, 8), st.one_of(st.none(), st.integers(-1, 72)))
def test_parse_tcp_segment_random_bytes(buf: Any, off: int, end: Any) -> None:
    same("parse_tcp_segment", buf, off, end)


@SETTINGS
@given(option_lists(), st.sampled_from([0, 4, 8, 12, 16, 20, 40, 44, 60]), st.binary(max_size=20),
       st.booleans())
def test_tcp_header(opts: bytes, opt_room: int, payload: bytes, ts_layout: bool) -> None:
    hl = 20 + opt_room
    if ts_layout:
        opts = b"\x01\x01\x08\x0a" + opts
    seg = bytearray(bytes(range(1, 13)) + bytes(8)) + (opts + bytes(opt_room))[:opt_room] + payload
    seg[12] = (hl >> 2) << 4 if hl <= 60 else 0xF0
    same("tcp_header", bytes(seg))
    same("tcp_header", memoryview(seg))


@SETTINGS
@given(buffers(max_size=70))
def test_tcp_header_random_bytes(buf: Any) -> None:
    same("tcp_header", buf)


MAC = b"\x02\x00\x5e\x00\x00\x01"


@st.composite
def ipv4_frames(draw: st.DrawFn) -> bytes:
    """Ethernet + IPv4 frames near the fast path's edges: our MAC or another, IHL 5 or not, TCP/UDP or
    another protocol, fragments, total lengths around the frame's, right or broken header checksums."""
    payload_len = draw(st.integers(0, 80))
    total = draw(st.one_of(st.just(20 + payload_len), st.integers(0, 130)))
    hdr = bytearray(20)
    P.pack_ipv4(hdr, 0, draw(u8), total & 0xFFFF, draw(u16), draw(st.sampled_from([0, 0x4000, 0x2000, 0x0001])),
                draw(u8), draw(st.sampled_from([6, 17, 1, 0])), draw(u32), draw(u32))
    if draw(st.booleans()):
        hdr[0] = draw(st.sampled_from([0x45, 0x46, 0x44, 0x65]))
    if draw(st.integers(0, 4)) == 0:
        hdr[draw(st.integers(0, 19))] ^= 1 << draw(st.integers(0, 7))  # a corrupted header
    dmac = draw(st.sampled_from([MAC, b"\xff" * 6, b"\x02\x00\x5e\x00\x00\x02"]))
    etype = draw(st.sampled_from([b"\x08\x00", b"\x08\x06", b"\x86\xdd"]))
    return dmac + MAC + etype + bytes(hdr) + draw(st.binary(min_size=payload_len, max_size=payload_len))


@SETTINGS
@given(ipv4_frames(), st.sampled_from(["bytes", "bytearray", "mv"]))
def test_ipv4_fast_fields(frame: bytes, kind: str) -> None:
    buf: Any = frame if kind == "bytes" else bytearray(frame) if kind == "bytearray" else memoryview(frame)
    res = same("ipv4_fast_fields", buf, MAC)
    if res[0] == "ok" and res[1] is not None:  # taken: everything the host's fast path relies on holds
        proto, src, dst, total = res[1]
        assert proto in (6, 17) and 28 <= total <= len(frame) - 14 and frame[:6] == MAC
        assert P.checksum_partial(frame[14:34]) == 0xFFFF and frame[14] == 0x45


@SETTINGS
@given(buffers(max_size=80), st.sampled_from([MAC, b"", b"\x00" * 7, bytearray(MAC)]))
def test_ipv4_fast_fields_random_bytes(buf: Any, mac: Any) -> None:
    same("ipv4_fast_fields", buf, mac)


def test_ipv4_fast_fields_takes_a_good_tcp_frame() -> None:
    hdr = bytearray(20)
    P.pack_ipv4(hdr, 0, 0, 60, 1, 0x4000, 64, 6, 0xC6120001, 0xC6120002)
    frame = MAC + MAC + b"\x08\x00" + bytes(hdr) + bytes(40)
    for mod in (C, P):
        assert mod.ipv4_fast_fields(frame, MAC) == (6, 0xC6120001, 0xC6120002, 60)
        assert mod.ipv4_fast_fields(frame[:-1], MAC) is None  # total length beyond the frame


@SETTINGS
@given(buffers(max_size=60), st.integers(-1, 62), st.integers(-1, 64))
def test_parse_random_bytes(buf: Any, start: int, end: int) -> None:
    same("parse_tcp_options", buf, start, end)


@SETTINGS
@given(
    st.integers(0, 50), st.integers(-1, 8),
    st.one_of(st.none(), u16, st.just(70000)), st.one_of(st.none(), st.integers(0, 14), st.just(300)),
    st.booleans(), st.one_of(st.none(), st.lists(st.tuples(seqs, seqs), max_size=5)),
    st.one_of(st.none(), u32, st.just(1 << 32)), st.one_of(st.none(), u32, st.just(-1)),
)
def test_build_options(size: int, off: int, mss: Any, ws: Any, sp: bool, blocks: Any, tsv: Any, tse: Any) -> None:
    same_pack("build_tcp_options", size, off, mss, ws, sp, blocks, tsv, tse)
    buf = bytearray(60)
    r = outcome(P.build_tcp_options, buf, 0, mss, ws, sp, blocks, tsv, tse)
    if r[0] == "ok":
        n = r[1]
        assert n % 4 == 0 and n <= 40
        assert same("parse_tcp_options", buf, 0, n) == (
            "ok", (mss, ws, sp, tuple(blocks or ()), tsv, None if tsv is None else (tse or 0)))


# --- whole frames -----------------------------------------------------------------------------------


@SETTINGS
@given(
    st.binary(min_size=13, max_size=15),
    st.tuples(st.integers(0, 0x100), u16, u8, u32, u32, u16, u16, seqs, seqs, st.integers(0, 0x1000), u16),
    st.one_of(st.none(), u16), st.one_of(st.none(), st.integers(0, 14)), st.booleans(),
    st.one_of(st.none(), st.lists(st.tuples(seqs, seqs), max_size=4)),
    st.one_of(st.none(), u32), st.one_of(st.none(), u32),
    st.one_of(st.none(), buffers(max_size=1500)), st.booleans(),
)
def test_build_tcp_frame(eth: bytes, fields: tuple[int, ...], mss: Any, ws: Any, sp: bool, blocks: Any,
                         tsv: Any, tse: Any, payload: Any, partial: bool) -> None:
    same("build_tcp_frame", eth, *fields, mss, ws, sp, blocks, tsv, tse, payload, partial)


# --- range bookkeeping ------------------------------------------------------------------------------


@SETTINGS
@given(seqs, st.lists(st.tuples(st.sampled_from(["insert", "trim"]), st.integers(0, 400), st.integers(0, 60)),
                      max_size=30))
def test_ranges(base: int, ops: list[tuple[str, int, int]]) -> None:
    rc: list[tuple[int, int]] = []
    rp: list[tuple[int, int]] = []
    for op, a, ln in ops:
        if op == "insert":
            s = (base + a) & 0xFFFFFFFF
            e = (s + ln) & 0xFFFFFFFF
            assert C.range_insert(rc, base, s, e) == P.range_insert(rp, base, s, e)
        else:
            new_base = (base + min(a, 100)) & 0xFFFFFFFF
            assert C.range_trim(rc, new_base) == P.range_trim(rp, new_base)
            base = new_base
        assert rc == rp
