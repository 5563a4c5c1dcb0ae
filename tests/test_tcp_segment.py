"""The engine's ``Segment`` allocation path."""

from __future__ import annotations

from aiostack.core.tcp.segment import Segment, new_segment
from aiostack.core.tcpio import parse_segment


def _fields(s: Segment) -> list[object]:
    return [getattr(s, f) for f in ("src_port", "dst_port", "seq", "ack", "flags", "window", "payload", "mss",
                                    "wscale", "sack_permitted", "sack_blocks", "ts_val", "ts_ecr")]


def test_new_segment_equals_the_constructor_without_options() -> None:
    # No argument parsing on the engine's path; it must make what Segment(...) makes.
    payload = memoryview(b"abcdef")[1:4]
    a = new_segment(80, 4000, 0xFFFFFFF0, 17, 0x18, 512, payload)
    b = Segment(80, 4000, 0xFFFFFFF0, 17, 0x18, 512, payload)
    assert _fields(a) == _fields(b)
    assert a.payload is payload and a.seg_len == 3 and repr(a) == repr(b)


def test_parsed_segment_carries_every_option() -> None:
    full = Segment(1, 2, 3, 4, 0x12, 5, b"xy", 1460, 7, True, ((10, 20), (30, 40)), 99, 98)
    plain = Segment(1, 2, 3, 4, 0x10, 5, b"")
    for seg in (full, plain):
        wire = seg.to_wire(0xC6120001, 0xC6120002)
        got = parse_segment(memoryview(wire))
        assert [bytes(v) if isinstance(v, memoryview) else v for v in _fields(got)] == \
            [bytes(v) if isinstance(v, memoryview) else v for v in _fields(seg)]
