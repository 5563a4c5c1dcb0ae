"""aiostack.wire.checksum helpers, checked against scapy's checksums."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import IP, TCP, UDP, raw

from aiostack.wire.checksum import complete_partial, transport_checksum, verify_transport_checksum
from aiostack.wire.ipv4 import PROTO_TCP, PROTO_UDP, int_to_ip

u32 = st.integers(0, 0xFFFFFFFF)


@settings(max_examples=100, deadline=None)
@given(u32, u32, st.binary(max_size=200), st.booleans())
def test_against_scapy(src: int, dst: int, payload: bytes, use_tcp: bool) -> None:
    l4 = TCP(sport=1, dport=2) if use_tcp else UDP(sport=1, dport=2)
    proto = PROTO_TCP if use_tcp else PROTO_UDP
    seg = bytearray(raw(IP(src=int_to_ip(src), dst=int_to_ip(dst)) / l4 / payload)[20:])
    assert verify_transport_checksum(seg, src, dst, proto)
    field = 16 if use_tcp else 6
    expected = int.from_bytes(seg[field:field + 2], "big")
    seg[field:field + 2] = b"\0\0"
    got = transport_checksum(seg, src, dst, proto)
    assert got == expected or (not use_tcp and got == 0 and expected == 0xFFFF)
    # partial: put the pseudo-header sum in and let complete_partial finish it
    from aiostack.fastpath import pseudo_header_sum

    seg[field:field + 2] = pseudo_header_sum(src, dst, proto, len(seg)).to_bytes(2, "big")
    complete_partial(seg, 0, field)
    assert verify_transport_checksum(seg, src, dst, proto)


def test_complete_partial_bounds() -> None:
    with pytest.raises(ValueError):
        complete_partial(bytearray(4), 2, 1)
    with pytest.raises(ValueError):
        complete_partial(bytearray(4), -1, 0)
    buf = bytearray(4)
    complete_partial(buf, 0, 2)  # all-zero data: a computed 0 is stored as 0xFFFF
    assert buf == bytearray(b"\0\0\xff\xff")
