"""Types of the compiled ``aiostack._fastpath`` (src/_fastpath.pyx) and of its twin ``aiostack._fastpath_py``.

Contract (both implementations, checked by tests/test_fastpath_parity.py):

- Buffers are bytes, bytearray, memoryview or any C-contiguous buffer; ``off`` is a byte offset.
- ``pack_*``/``build_tcp_options`` write into a preallocated writable buffer and return the number of
  bytes written. Negative offset or no room: ValueError; read-only buffer: TypeError; a field out of
  range: OverflowError. After an error the bytes the header would cover are unspecified.
- ``unpack_*``/``parse_tcp_options`` raise ``MalformedPacket("truncated")`` when the buffer is too short
  (ValueError for a negative offset) and ``parse_tcp_options`` raises ``MalformedPacket("bad_tcp_option")``
  for an illegal option length (RFC 9293 §3.2, MUST-7). Never IndexError or struct.error.
- Checksums follow RFC 1071: ``checksum_partial`` is folded but not complemented, ``internet_checksum``
  is complemented; ``initial`` is a non-negative int (a previous partial sum or pseudo-header sum).
- Sequence numbers are ints in [0, 2**32) compared modulo 2**32 (RFC 9293 §3.4).
"""

from collections.abc import Sequence

Buffer = bytes | bytearray | memoryview
WritableBuffer = bytearray | memoryview
TcpOptions = tuple[int | None, int | None, bool, tuple[tuple[int, int], ...], int | None, int | None]

__all__ = [
    "checksum_partial",
    "internet_checksum",
    "pseudo_header_sum",
    "checksum_fold",
    "checksum_update16",
    "tcp_checksum_ipv4",
    "transport_checksum_ipv4",
    "seq_add",
    "seq_diff",
    "seq_lt",
    "seq_le",
    "seq_gt",
    "seq_ge",
    "seq_in_window",
    "seq_max",
    "seq_min",
    "siphash24",
    "siphash24_words",
    "pack_ethernet",
    "unpack_ethernet",
    "pack_ipv4",
    "unpack_ipv4",
    "pack_tcp",
    "unpack_tcp",
    "pack_udp",
    "unpack_udp",
    "parse_tcp_options",
    "parse_tcp_segment",
    "tcp_header",
    "ipv4_fast_fields",
    "build_tcp_options",
    "build_tcp_frame",
    "range_insert",
    "range_trim",
]

# --- checksums (RFC 1071, RFC 1624, RFC 9293 §3.1 pseudo-header) ---
def checksum_partial(data: Buffer, initial: int = 0) -> int: ...
def internet_checksum(data: Buffer, initial: int = 0) -> int: ...
def pseudo_header_sum(src: int, dst: int, protocol: int, length: int) -> int: ...
def checksum_fold(total: int) -> int: ...
def checksum_update16(checksum: int, old: int, new: int) -> int: ...
def tcp_checksum_ipv4(src: int, dst: int, segment: Buffer) -> int: ...
def transport_checksum_ipv4(src: int, dst: int, protocol: int, segment: Buffer) -> int: ...

# --- sequence arithmetic modulo 2**32 (RFC 9293 §3.4) ---
def seq_add(a: int, n: int) -> int: ...
def seq_diff(a: int, b: int) -> int: ...
def seq_lt(a: int, b: int) -> bool: ...
def seq_le(a: int, b: int) -> bool: ...
def seq_gt(a: int, b: int) -> bool: ...
def seq_ge(a: int, b: int) -> bool: ...
def seq_in_window(seq: int, start: int, size: int) -> bool: ...
def seq_max(a: int, b: int) -> int: ...
def seq_min(a: int, b: int) -> int: ...

# --- SipHash-2-4, the keyed hash for ISNs (RFC 6528 §3) and ephemeral ports (RFC 6056 §3.3.3) ---
def siphash24(key: Buffer, data: Buffer) -> int: ...
def siphash24_words(k0: int, k1: int, m0: int, m1: int) -> int: ...

# --- headers: Ethernet II, IPv4 (RFC 791), TCP (RFC 9293 §3.1), UDP (RFC 768) ---
def pack_ethernet(buf: WritableBuffer, off: int, dst: bytes, src: bytes, ethertype: int) -> int: ...
def unpack_ethernet(buf: Buffer, off: int = 0) -> tuple[bytes, bytes, int]: ...
def pack_ipv4(
    buf: WritableBuffer,
    off: int,
    tos: int,
    total_length: int,
    ident: int,
    flags_fragment: int,
    ttl: int,
    protocol: int,
    src: int,
    dst: int,
) -> int: ...
def unpack_ipv4(buf: Buffer, off: int = 0) -> tuple[int, int, int, int, int, int, int, int, int, int]: ...
def pack_tcp(
    buf: WritableBuffer,
    off: int,
    src_port: int,
    dst_port: int,
    seq: int,
    ack: int,
    header_len: int,
    flags: int,
    window: int,
    checksum: int,
    urgent: int,
) -> int: ...
def unpack_tcp(buf: Buffer, off: int = 0) -> tuple[int, int, int, int, int, int, int, int, int]: ...
def pack_udp(buf: WritableBuffer, off: int, src_port: int, dst_port: int, length: int, checksum: int) -> int: ...
def unpack_udp(buf: Buffer, off: int = 0) -> tuple[int, int, int, int]: ...

# --- TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018) ---
def parse_tcp_options(buf: Buffer, start: int, end: int) -> TcpOptions: ...
def ipv4_fast_fields(buf: Buffer, mac: bytes) -> tuple[int, int, int, int] | None: ...
def tcp_header(buf: Buffer) -> tuple[int, int, int, int, int, int, int, int, int]: ...
def parse_tcp_segment(
    buf: Buffer, off: int = 0, end: int | None = None
) -> tuple[
    int,
    int,
    int,
    int,
    int,
    int,
    int,
    int | None,
    int | None,
    bool,
    tuple[tuple[int, int], ...],
    int | None,
    int | None,
]: ...
def build_tcp_options(
    buf: WritableBuffer,
    off: int,
    mss: int | None,
    wscale: int | None,
    sack_permitted: bool,
    sack_blocks: Sequence[tuple[int, int]] | None,
    ts_val: int | None,
    ts_ecr: int | None,
) -> int: ...

# --- a whole Ethernet + IPv4 + TCP frame (egress hot path) ---
def build_tcp_frame(
    eth: bytes,
    tos: int,
    ident: int,
    ttl: int,
    src: int,
    dst: int,
    src_port: int,
    dst_port: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    mss: int | None,
    wscale: int | None,
    sack_permitted: bool,
    sack_blocks: Sequence[tuple[int, int]] | None,
    ts_val: int | None,
    ts_ecr: int | None,
    payload: Buffer | None,
    partial_checksum: bool,
) -> bytearray: ...

# --- out-of-order / SACK ranges (RFC 9293 §3.10.7.4, RFC 2018) ---
def range_insert(ranges: list[tuple[int, int]], base: int, start: int, end: int) -> int: ...
def range_trim(ranges: list[tuple[int, int]], base: int) -> int: ...
