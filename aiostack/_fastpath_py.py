"""Pure-Python twin of ``src/_fastpath.pyx``: same names, signatures, results and exceptions.

Read first: RFC 1071 (computing the internet checksum), RFC 1624 (incremental update), RFC 9293 §3.1
(TCP header and options) and §3.4 (sequence numbers and their comparison modulo 2**32), RFC 7323
(window scale, timestamps), RFC 2018 (SACK), RFC 791 (IPv4 header), RFC 768 (UDP), IEEE 802.3
(Ethernet II).

Conventions shared with the compiled module:

- Buffers are bytes, bytearray, memoryview or any C-contiguous buffer; ``off`` is a byte offset.
- ``pack_*`` write into a preallocated writable buffer and return the number of bytes written. A
  negative offset or a buffer without room raises ValueError; a read-only buffer TypeError; a field
  out of range OverflowError.
- ``unpack_*`` read from any buffer at an offset and raise ``MalformedPacket("truncated")`` when it is
  too short (ValueError for a negative offset); they never raise IndexError or struct.error.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from aiostack.errors import MalformedPacket

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

Buffer = bytes | bytearray | memoryview

_MASK32 = 0xFFFFFFFF


# --- RFC 1071 checksum ------------------------------------------------------------------------------


def checksum_fold(total: int) -> int:
    """Fold a non-negative one's-complement sum of any width to 16 bits (end-around carry), not complemented."""
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


_HALF_MASKS: dict[int, int] = {}


def checksum_partial(data: Buffer, initial: int = 0) -> int:
    """RFC 1071 one's-complement sum of ``data`` plus ``initial``, folded to 16 bits, not complemented.

    Partial sums of consecutive even-length pieces combine by passing one as ``initial`` of the next
    (an odd-length piece is padded with one zero byte, as the last piece of a datagram is).
    The result is 0 only when every word and ``initial`` are zero; otherwise it is in [1, 0xFFFF].
    ``initial`` is a non-negative int of any width (ValueError otherwise).
    """
    if initial < 0:
        raise ValueError(f"initial must be a non-negative int, not {initial!r}")
    if type(data) is bytes:
        n = len(data)
    else:
        mv = memoryview(data)
        data = mv.cast("B") if mv.c_contiguous else mv.tobytes()
        n = len(data)
    # The buffer read as one big-endian integer is the sum of its 16-bit words times powers of 65536,
    # and 65536 == 1 (mod 65535): so it is congruent to the plain word sum modulo 0xFFFF.
    total = int.from_bytes(data, "big")
    if n & 1:
        total <<= 8  # RFC 1071: pad the odd byte with a zero
    bits = (n + 1) << 3
    while bits > 4096:
        # Same congruence: adding the two halves (split at a multiple of 16 bits) keeps the sum
        # modulo 0xFFFF, and shifts/masks are cheaper than dividing the whole integer.
        k = (bits >> 1) & ~15
        mask = _HALF_MASKS.get(k)
        if mask is None:
            mask = _HALF_MASKS[k] = (1 << k) - 1
        total = (total >> k) + (total & mask)
        bits = bits - k + 1
    x = initial + (0 if total == 0 else (total - 1) % 0xFFFF + 1)
    return 0 if x == 0 else (x - 1) % 0xFFFF + 1


def internet_checksum(data: Buffer, initial: int = 0) -> int:
    """The RFC 1071 checksum of ``data`` (with ``initial`` added to the sum): folded and complemented."""
    return (~checksum_partial(data, initial)) & 0xFFFF


def pseudo_header_sum(src: int, dst: int, protocol: int, length: int) -> int:
    """Folded sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768) for TCP/UDP checksums.

    ``src``/``dst`` are IPv4 addresses as 32-bit ints; ``length`` is the TCP/UDP length in bytes.
    """
    return checksum_fold((src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + protocol + length)


def _nbytes(data: Buffer) -> int:
    return len(data) if type(data) is bytes or type(data) is bytearray else memoryview(data).nbytes


def _contiguous_nbytes(buf: Buffer) -> int:
    """The size of a buffer the compiled twin reads as one C-contiguous block."""
    if type(buf) is bytes or type(buf) is bytearray:
        return len(buf)
    mv = memoryview(buf)
    if not mv.c_contiguous:  # what PyObject_GetBuffer (the compiled twin, struct) raises
        raise BufferError("memoryview: underlying buffer is not C-contiguous")
    return mv.nbytes


def transport_checksum_ipv4(src: int, dst: int, protocol: int, segment: Buffer) -> int:
    """RFC 9293 §3.1 / RFC 768: checksum over the IPv4 pseudo-header and the whole ``segment``.

    With the checksum field zeroed this is the value to store (UDP sends 0 as 0xFFFF, RFC 768); over a
    received segment it is 0 when the stored checksum is correct.
    """
    n = _nbytes(segment)
    return (~checksum_partial(segment, (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
                              + protocol + n)) & 0xFFFF


def tcp_checksum_ipv4(src: int, dst: int, segment: Buffer) -> int:
    """TCP checksum (protocol 6) over the pseudo-header and ``segment`` (header with options + payload).

    With the checksum field zeroed this is the value to store; over a received segment it is 0 when the
    stored checksum is correct.
    """
    n = _nbytes(segment)
    return (~checksum_partial(segment, (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
                              + 6 + n)) & 0xFFFF


def checksum_update16(checksum: int, old: int, new: int) -> int:
    """RFC 1624 eqn. 3: the checksum after one 16-bit word changes from ``old`` to ``new``.

    HC' = ~(~HC + ~m + m')
    """
    s = (~checksum & 0xFFFF) + (~old & 0xFFFF) + (new & 0xFFFF)
    return (~checksum_fold(s)) & 0xFFFF


# --- sequence arithmetic modulo 2**32 (RFC 9293 §3.4) -----------------------------------------------


def seq_add(a: int, n: int) -> int:
    """``a + n`` modulo 2**32 (``n`` may be negative)."""
    return (a + n) & _MASK32


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` in [-2**31, 2**31): positive when ``a`` is after ``b``."""
    d = (a - b) & _MASK32
    return d - 0x100000000 if d > 0x7FFFFFFF else d


def seq_lt(a: int, b: int) -> bool:
    return ((a - b) & _MASK32) > 0x7FFFFFFF


def seq_le(a: int, b: int) -> bool:
    return a == b or ((a - b) & _MASK32) > 0x7FFFFFFF


def seq_gt(a: int, b: int) -> bool:
    # Same as seq_diff(a, b) > 0; exactly 2**31 apart counts as "before" (seq_diff == -2**31).
    return 0 < ((a - b) & _MASK32) < 0x80000000


def seq_ge(a: int, b: int) -> bool:
    return ((a - b) & _MASK32) < 0x80000000


def seq_in_window(seq: int, start: int, size: int) -> bool:
    """RFC 9293 §3.4: ``start <= seq < start + size`` modulo 2**32 (false for ``size == 0``)."""
    return ((seq - start) & _MASK32) < size


def seq_max(a: int, b: int) -> int:
    return b if ((a - b) & _MASK32) > 0x7FFFFFFF else a


def seq_min(a: int, b: int) -> int:
    return a if ((a - b) & _MASK32) > 0x7FFFFFFF else b


# --- SipHash-2-4: the keyed hash for ISNs (RFC 6528 §3) and ephemeral ports (RFC 6056 §3.3.3) -----
# Aumasson & Bernstein, "SipHash: a fast short-input PRF" (2012): c = 2 compression rounds per 8-byte
# word, d = 4 finalisation rounds; words and key little-endian, as the reference implementation.

_M64 = (1 << 64) - 1


def _sip_rounds(v0: int, v1: int, v2: int, v3: int, rounds: int) -> tuple[int, int, int, int]:
    for _ in range(rounds):
        v0 = (v0 + v1) & _M64
        v1 = ((v1 << 13) | (v1 >> 51)) & _M64 ^ v0
        v0 = ((v0 << 32) | (v0 >> 32)) & _M64
        v2 = (v2 + v3) & _M64
        v3 = ((v3 << 16) | (v3 >> 48)) & _M64 ^ v2
        v0 = (v0 + v3) & _M64
        v3 = ((v3 << 21) | (v3 >> 43)) & _M64 ^ v0
        v2 = (v2 + v1) & _M64
        v1 = ((v1 << 17) | (v1 >> 47)) & _M64 ^ v2
        v2 = ((v2 << 32) | (v2 >> 32)) & _M64
    return v0, v1, v2, v3


def siphash24(key: Any, data: Any) -> int:
    """SipHash-2-4 of ``data`` under the 16-byte ``key`` (both any bytes-like): the 64-bit result."""
    k = bytes(memoryview(key))
    if len(k) != 16:
        raise ValueError(f"a SipHash key is 16 bytes, not {len(k)}")
    d = bytes(memoryview(data))
    k0 = int.from_bytes(k[:8], "little")
    k1 = int.from_bytes(k[8:], "little")
    v0, v1, v2, v3 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573
    n = len(d)
    full = n - n % 8
    words = [int.from_bytes(d[i:i + 8], "little") for i in range(0, full, 8)]
    words.append(((n & 0xFF) << 56) | int.from_bytes(d[full:], "little"))  # the length in the top byte
    for m in words:
        v3 ^= m
        v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    v2 ^= 0xFF
    v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


def siphash24_words(k0: int, k1: int, m0: int, m1: int) -> int:
    """SipHash-2-4 of the 16-byte message ``m0`` ``m1`` (little-endian words) under the key ``k0`` ``k1``
    (likewise): ``siphash24(k0 || k1, m0 || m1)`` of the byte forms."""
    key = k0.to_bytes(8, "little") + k1.to_bytes(8, "little")
    return siphash24(key, m0.to_bytes(8, "little") + m1.to_bytes(8, "little"))


# --- header pack/unpack helpers ---------------------------------------------------------------------

_ETH = struct.Struct("!6s6sH")  # IEEE 802.3 Ethernet II: dst, src, EtherType
_IPV4 = struct.Struct("!BBHHHBBHII")  # RFC 791 §3.1, without options
_TCP = struct.Struct("!HHIIHHHH")  # RFC 9293 §3.1, without options (offset/flags as one word)
_UDP = struct.Struct("!HHHH")  # RFC 768
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U32X2 = struct.Struct("!II")


def _pack_error(st: struct.Struct | str, buf: Any, off: int, args: Sequence[Any], size: int) -> Exception:
    """The exception the compiled module raises for a failed pack, checked in its order.

    Field values first (OverflowError; TypeError for a non-int), then the 40-byte option limit, a
    negative offset, a read-only buffer (TypeError) and the room in the buffer (ValueError).
    """
    try:
        if isinstance(st, str):
            struct.pack(st, *args)
        else:
            st.pack(*args)
    except struct.error as exc:
        return TypeError(str(exc)) if "not an integer" in str(exc) else OverflowError(str(exc))
    if size > TCP_OPTIONS_MAX:
        return ValueError(f"TCP options need {size} bytes, more than {TCP_OPTIONS_MAX}")
    if off < 0:
        return ValueError(f"negative offset {off}")
    try:
        mv = memoryview(buf)
    except TypeError as exc:
        return exc
    if mv.readonly:
        return TypeError(f"a writable buffer is required, not {type(buf).__name__}")
    n = mv.nbytes
    return ValueError(f"buffer too small: {size} bytes at offset {off} need {off + size}, have {n}")


def _truncated(buf: Any, off: int, size: int) -> MalformedPacket:
    return MalformedPacket("truncated", f"{size} bytes at offset {off}, buffer has {memoryview(buf).nbytes}")


def _mac(mac: Any) -> bytes:
    b = bytes(mac)
    if len(b) != 6:
        raise ValueError(f"a MAC address is 6 bytes, not {len(b)}")
    return b


def pack_ethernet(buf: bytearray | memoryview, off: int, dst: bytes, src: bytes, ethertype: int) -> int:
    """Write a 14-byte Ethernet II header (dst MAC, src MAC, EtherType) at ``buf[off:]``; returns 14."""
    if type(dst) is not bytes or len(dst) != 6:
        dst = _mac(dst)
    if type(src) is not bytes or len(src) != 6:
        src = _mac(src)
    if off < 0:
        raise _pack_error(_ETH, buf, off, (dst, src, ethertype), 14)
    try:
        _ETH.pack_into(buf, off, dst, src, ethertype)
    except (struct.error, TypeError):
        raise _pack_error(_ETH, buf, off, (dst, src, ethertype), 14) from None
    return 14


def unpack_ethernet(buf: Buffer, off: int = 0) -> tuple[bytes, bytes, int]:
    """``(dst: bytes, src: bytes, ethertype)`` from the 14 bytes at ``buf[off:]``."""
    if off < 0:
        raise ValueError(f"negative offset {off}")
    try:
        return _ETH.unpack_from(buf, off)
    except struct.error:
        raise _truncated(buf, off, 14) from None


def pack_ipv4(buf: bytearray | memoryview, off: int, tos: int, total_length: int, ident: int,
              flags_fragment: int, ttl: int, protocol: int, src: int, dst: int) -> int:
    """Write a 20-byte IPv4 header (version 4, IHL 5) with its header checksum at ``buf[off:]``; returns 20.

    ``flags_fragment`` is the 16-bit word of flags (DF 0x4000, MF 0x2000) and fragment offset (in 8-byte
    units). ``src``/``dst`` are 32-bit ints.
    """
    # RFC 791 §3.1: one's complement of the one's-complement sum of the header's 16-bit words.
    s = ((0x4500 | tos) + total_length + ident + flags_fragment + ((ttl << 8) | protocol)
         + (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    try:
        if off < 0:
            raise TypeError
        _IPV4.pack_into(buf, off, 0x45, tos, total_length, ident, flags_fragment, ttl, protocol,
                        ~s & 0xFFFF, src, dst)
    except (struct.error, TypeError):
        args = (0x45, tos, total_length, ident, flags_fragment, ttl, protocol, 0, src, dst)
        raise _pack_error(_IPV4, buf, off, args, 20) from None
    return 20


def unpack_ipv4(buf: Buffer, off: int = 0) -> tuple[int, int, int, int, int, int, int, int, int, int]:
    """``(version_ihl, tos, total_length, ident, flags_fragment, ttl, protocol, checksum, src, dst)``.

    Reads the fixed 20 bytes at ``buf[off:]``; validates nothing but their presence.
    """
    if off < 0:
        raise ValueError(f"negative offset {off}")
    try:
        return _IPV4.unpack_from(buf, off)
    except struct.error:
        raise _truncated(buf, off, 20) from None


def pack_tcp(buf: bytearray | memoryview, off: int, src_port: int, dst_port: int, seq: int, ack: int,
             header_len: int, flags: int, window: int, checksum: int, urgent: int) -> int:
    """Write the fixed 20 bytes of a TCP header at ``buf[off:]``; returns 20.

    ``header_len`` is in bytes (20..60, a multiple of 4: the data offset times 4); ``flags`` are the 12
    bits after the data offset (reserved bits 0xF00, then CWR ECE URG ACK PSH RST SYN FIN).
    Options (``build_tcp_options``) go at ``off + 20``.
    """
    if header_len < 20 or header_len > 60 or header_len & 3:
        raise ValueError(f"TCP header length must be 20..60 and a multiple of 4, not {header_len}")
    if flags < 0 or flags > 0xFFF:
        raise ValueError(f"TCP flags are 12 bits, not {flags:#x}")
    try:
        if off < 0:
            raise TypeError
        _TCP.pack_into(buf, off, src_port, dst_port, seq, ack, (header_len << 10) | flags, window, checksum,
                       urgent)
    except (struct.error, TypeError):
        args = (src_port, dst_port, seq, ack, 0, window, checksum, urgent)
        raise _pack_error(_TCP, buf, off, args, 20) from None
    return 20


def unpack_tcp(buf: Buffer, off: int = 0) -> tuple[int, int, int, int, int, int, int, int, int]:
    """``(src_port, dst_port, seq, ack, header_len, flags, window, checksum, urgent)`` of ``buf[off:]``.

    ``header_len`` is the data offset in bytes (not checked against the buffer); ``flags`` are 12 bits
    (mask with 0xFF for the eight defined flags; RFC 9293 §3.1 says reserved bits are ignored).
    """
    if off < 0:
        raise ValueError(f"negative offset {off}")
    try:
        sp, dp, seq, ack, word, window, checksum, urgent = _TCP.unpack_from(buf, off)
    except struct.error:
        raise _truncated(buf, off, 20) from None
    return sp, dp, seq, ack, (word >> 12) << 2, word & 0xFFF, window, checksum, urgent


def pack_udp(buf: bytearray | memoryview, off: int, src_port: int, dst_port: int, length: int,
             checksum: int) -> int:
    """Write an 8-byte UDP header at ``buf[off:]``; returns 8."""
    try:
        if off < 0:
            raise TypeError
        _UDP.pack_into(buf, off, src_port, dst_port, length, checksum)
    except (struct.error, TypeError):
        raise _pack_error(_UDP, buf, off, (src_port, dst_port, length, checksum), 8) from None
    return 8


def unpack_udp(buf: Buffer, off: int = 0) -> tuple[int, int, int, int]:
    """``(src_port, dst_port, length, checksum)`` from the 8 bytes at ``buf[off:]``."""
    if off < 0:
        raise ValueError(f"negative offset {off}")
    try:
        return _UDP.unpack_from(buf, off)
    except struct.error:
        raise _truncated(buf, off, 8) from None


# --- TCP options (RFC 9293 §3.1-3.2, RFC 7323, RFC 2018) ---------------------------------------------

OPT_EOL = 0
OPT_NOP = 1
OPT_MSS = 2  # RFC 9293 §3.7.1, length 4
OPT_WS = 3  # RFC 7323 §2.2, length 3
OPT_SACK_PERM = 4  # RFC 2018 §2, length 2
OPT_SACK = 5  # RFC 2018 §3, length 2 + 8n
OPT_TS = 8  # RFC 7323 §3.2, length 10
TCP_OPTIONS_MAX = 40  # RFC 9293 §3.1: data offset <= 15 words
_NOP_NOP_TS = struct.Struct("!BBBBII")

TcpOptions = tuple[int | None, int | None, bool, tuple[tuple[int, int], ...], int | None, int | None]


def parse_tcp_options(buf: Buffer, start: int, end: int) -> TcpOptions:
    """Parse the TCP options in ``buf[start:end]``.

    Returns ``(mss, wscale, sack_permitted, sack_blocks, ts_val, ts_ecr)``; absent options are None
    (``sack_permitted`` False, ``sack_blocks`` ``()``); ``sack_blocks`` is a tuple of ``(left, right)``.
    EOL ends the list, NOP is skipped, unknown kinds are skipped by their length, and a repeated option
    overrides the earlier one. RFC 9293 §3.2 (MUST-7): an illegal option length (a missing length byte,
    a length < 2, one running past ``end``, or a known kind with the wrong length) raises
    ``MalformedPacket("bad_tcp_option")``; ``end`` beyond the buffer raises ``MalformedPacket("truncated")``.
    """
    if start < 0 or end < start:
        raise ValueError(f"bad option range [{start}, {end})")
    if type(buf) is not bytes:
        mv = memoryview(buf)
        if not mv.c_contiguous:  # what PyObject_GetBuffer (the compiled twin, struct) raises
            raise BufferError("memoryview: underlying buffer is not C-contiguous")
        buf = mv.cast("B")
    if end > len(buf):
        raise MalformedPacket("truncated", f"options end at {end}, buffer has {len(buf)}")
    mss: int | None = None
    ws: int | None = None
    sack_perm = False
    sack: tuple[tuple[int, int], ...] = ()
    ts_val: int | None = None
    ts_ecr: int | None = None
    i = start
    while i < end:
        kind = buf[i]
        if kind == OPT_EOL:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            raise MalformedPacket("bad_tcp_option", f"option {kind} has no length byte")
        ln = buf[i + 1]
        if ln < 2 or i + ln > end:
            raise MalformedPacket("bad_tcp_option", f"option {kind} length {ln}")
        if kind == OPT_MSS:
            if ln != 4:
                raise MalformedPacket("bad_tcp_option", f"MSS length {ln}")
            mss = (buf[i + 2] << 8) | buf[i + 3]
        elif kind == OPT_WS:
            if ln != 3:
                raise MalformedPacket("bad_tcp_option", f"window scale length {ln}")
            ws = buf[i + 2]
        elif kind == OPT_SACK_PERM:
            if ln != 2:
                raise MalformedPacket("bad_tcp_option", f"SACK-permitted length {ln}")
            sack_perm = True
        elif kind == OPT_SACK:
            if ln < 10 or (ln - 2) & 7:
                raise MalformedPacket("bad_tcp_option", f"SACK length {ln}")
            sack = tuple(_U32X2.unpack_from(buf, j) for j in range(i + 2, i + ln, 8))
        elif kind == OPT_TS:
            if ln != 10:
                raise MalformedPacket("bad_tcp_option", f"timestamps length {ln}")
            ts_val, ts_ecr = _U32X2.unpack_from(buf, i + 2)
        i += ln
    return mss, ws, sack_perm, sack, ts_val, ts_ecr


def parse_tcp_segment(buf: Buffer, off: int = 0, end: int | None = None) -> tuple[
        int, int, int, int, int, int, int, int | None, int | None, bool, tuple[tuple[int, int], ...],
        int | None, int | None]:
    """Header fields and options of the TCP segment ``buf[off:end]`` (``end`` None: the buffer's end).

    Returns ``(src_port, dst_port, seq, ack, header_len, flags, window, mss, wscale, sack_permitted,
    sack_blocks, ts_val, ts_ecr)``; the payload is ``buf[off + header_len:end]``. Fewer than 20 bytes
    raise ``MalformedPacket("truncated")``; a data offset below 5 words or beyond ``end`` raises
    ``MalformedPacket("bad_data_offset")`` (RFC 9293 §3.1); options as ``parse_tcp_options``. The
    checksum is not looked at (verify it with ``tcp_checksum_ipv4``).
    """
    if off < 0:
        raise ValueError(f"negative offset {off}")
    size = _contiguous_nbytes(buf)
    if end is None:
        end = size
    elif end > size:
        raise MalformedPacket("truncated", f"segment ends at {end}, buffer has {size}")
    n = end - off
    if n < 20:
        raise MalformedPacket("truncated", f"tcp segment of {max(n, 0)} bytes")
    sp, dp, seq, ack, word, window, _csum, _urg = _TCP.unpack_from(buf, off)
    hl = (word >> 12) << 2
    if hl < 20 or hl > n:
        raise MalformedPacket("bad_data_offset", f"data offset {hl} in {n} bytes")
    if hl == 32 and _U32.unpack_from(buf, off + 20)[0] == 0x0101080A:
        # RFC 7323 Appendix A: the layout of nearly every segment with timestamps.
        ts_val, ts_ecr = _U32X2.unpack_from(buf, off + 24)
        return sp, dp, seq, ack, hl, word & 0xFFF, window, None, None, False, (), ts_val, ts_ecr
    if hl == 20:
        return sp, dp, seq, ack, hl, word & 0xFFF, window, None, None, False, (), None, None
    return (sp, dp, seq, ack, hl, word & 0xFFF, window) + parse_tcp_options(buf, off + 20, off + hl)


def tcp_header(buf: Buffer) -> tuple[int, int, int, int, int, int, int, int, int]:
    """The fixed header fields of the TCP segment ``buf`` (exactly the segment) and, when its options are
    the RFC 7323 Appendix A layout (NOP NOP TS, header 32 bytes), the timestamps: ``(src_port, dst_port,
    seq, ack, header_len, flags, window, ts_val, ts_ecr)``, ts_val and ts_ecr -1 otherwise (other options:
    ``parse_tcp_options(buf, 20, header_len)``). Errors as ``parse_tcp_segment``. A compiled caller gets
    the nine values as C integers (no int objects, no tuple).
    """
    n = _contiguous_nbytes(buf)
    if n < 20:
        raise MalformedPacket("truncated", f"tcp segment of {n} bytes")
    sp, dp, seq, ack, word, window, _csum, _urg = _TCP.unpack_from(buf, 0)
    hl = (word >> 12) << 2
    if hl < 20 or hl > n:
        raise MalformedPacket("bad_data_offset", f"data offset {hl} in {n} bytes")
    if hl == 32 and _U32.unpack_from(buf, 20)[0] == 0x0101080A:
        ts_val, ts_ecr = _U32X2.unpack_from(buf, 24)
        return sp, dp, seq, ack, hl, word & 0xFFF, window, ts_val, ts_ecr
    return sp, dp, seq, ack, hl, word & 0xFFF, window, -1, -1


# --- the host's receive fast path: the IPv4 header checks of one frame in one call -------------------

# Ethernet destination, EtherType, then version/IHL, total length, flags/fragment offset, protocol,
# source and destination of the IPv4 header.
_IPV4_FAST = struct.Struct("!6s6xHBxH2xHxB2xII")


def ipv4_fast_fields(buf: Buffer, mac: bytes) -> tuple[int, int, int, int] | None:
    """``(protocol, src, dst, total_length)`` when ``buf`` is an Ethernet frame to ``mac`` (6 bytes)
    carrying IPv4 without options (version 4, IHL 5), not a fragment (MF clear, offset 0), TCP (6) or
    UDP (17), a total length of at least 28 that fits in the frame, and a correct header checksum (RFC
    791 §3.1, RFC 1071); None for any other frame (the caller's general path takes it).
    """
    if type(mac) is not bytes or len(mac) != 6:
        raise TypeError("mac must be 6 bytes")
    mv = memoryview(buf).cast("B")
    n = mv.nbytes
    if n < 54:
        return None
    dmac, etype, vi, total, ff, proto, src, dst = _IPV4_FAST.unpack_from(mv, 0)
    if (dmac == mac and etype == 0x0800 and vi == 0x45 and (proto == 6 or proto == 17) and not ff & 0x3FFF
            and 28 <= total <= n - 14 and checksum_partial(mv[14:34]) == 0xFFFF):
        return proto, src, dst, total
    return None


def build_tcp_options(buf: bytearray | memoryview, off: int, mss: int | None, wscale: int | None,
                      sack_permitted: bool, sack_blocks: Sequence[tuple[int, int]] | None,
                      ts_val: int | None, ts_ecr: int | None) -> int:
    """Write TCP options at ``buf[off:]`` in the Linux layout; returns the bytes written (a multiple of 4).

    None (or False/empty) leaves an option out; ``ts_ecr`` None with ``ts_val`` set writes 0. Layout,
    every piece 4-byte aligned so no trailing padding is ever needed:

    ====================================  =========================================
    MSS                                   ``02 04 mss:16``
    SACK-permitted and timestamps         ``04 02 08 0a val:32 ecr:32``
    timestamps alone                      ``01 01 08 0a val:32 ecr:32``
    SACK-permitted alone                  ``01 01 04 02``
    window scale                          ``01 03 03 ws``
    SACK blocks (1..4)                    ``01 01 05 len left:32 right:32 ...``
    ====================================  =========================================

    A SYN with everything is 20 bytes (MSS, SACK_PERM+TS, NOP+WS); a data segment with timestamps is 12
    (NOP NOP TS), plus 4 + 8n with n SACK blocks (n <= 3 with timestamps, 4 without).
    More than 40 bytes (RFC 9293 §3.1) raises ValueError, as does a buffer without room.
    """
    if ts_val is not None and mss is None and wscale is None and not sack_permitted and not sack_blocks:
        # The layout of nearly every data segment: NOP NOP TS (RFC 7323 Appendix A).
        ecr = 0 if ts_ecr is None else ts_ecr
        try:
            if off < 0:
                raise TypeError
            _NOP_NOP_TS.pack_into(buf, off, OPT_NOP, OPT_NOP, OPT_TS, 10, ts_val, ecr)
        except (struct.error, TypeError):
            raise _pack_error(_NOP_NOP_TS, buf, off, (1, 1, 8, 10, ts_val, ecr), 12) from None
        return 12
    fmt = "!"
    args: list[Any] = []
    if mss is not None:
        fmt += "BBH"
        args += (OPT_MSS, 4, mss)
    if ts_val is not None:
        fmt += "BBBBII"
        if sack_permitted:
            args += (OPT_SACK_PERM, 2, OPT_TS, 10, ts_val, 0 if ts_ecr is None else ts_ecr)
        else:
            args += (OPT_NOP, OPT_NOP, OPT_TS, 10, ts_val, 0 if ts_ecr is None else ts_ecr)
    elif sack_permitted:
        fmt += "BBBB"
        args += (OPT_NOP, OPT_NOP, OPT_SACK_PERM, 2)
    if wscale is not None:
        fmt += "BBBB"
        args += (OPT_NOP, OPT_WS, 3, wscale)
    nblocks = 0 if sack_blocks is None else len(sack_blocks)
    if nblocks:
        fmt += "BBBB" + "II" * nblocks
        args += (OPT_NOP, OPT_NOP, OPT_SACK, 2 + 8 * nblocks)
    if nblocks:
        for left, right in sack_blocks:  # type: ignore[union-attr]
            args += (left, right)
    total = struct.calcsize(fmt)
    try:
        if total > TCP_OPTIONS_MAX or off < 0:
            raise TypeError
        struct.pack_into(fmt, buf, off, *args)
    except (struct.error, TypeError):
        raise _pack_error(fmt, buf, off, args, total) from None
    return total


# --- a whole Ethernet + IPv4 + TCP frame in one call (the egress hot path) ---------------------------


def build_tcp_frame(eth: bytes, tos: int, ident: int, ttl: int, src: int, dst: int, src_port: int,
                    dst_port: int, seq: int, ack: int, flags: int, window: int, mss: int | None,
                    wscale: int | None, sack_permitted: bool, sack_blocks: Sequence[tuple[int, int]] | None,
                    ts_val: int | None, ts_ecr: int | None, payload: Buffer | None,
                    partial_checksum: bool) -> bytearray:
    """A new ``bytearray``: Ethernet header ``eth`` (14 bytes: dst, src, EtherType), IPv4 header (IHL 5,
    DF set as RFC 1191 §3 wants for TCP, header checksum filled), TCP header with the options of
    ``build_tcp_options`` and ``payload`` copied once.

    The TCP checksum field holds the full checksum (RFC 9293 §3.1), or with ``partial_checksum`` the
    folded pseudo-header sum only, for a device that completes it (virtio NEEDS_CSUM, csum_start 34,
    csum_offset 16). ``flags`` are the 12 bits after the data offset. A frame whose IPv4 total length
    would exceed 65,535 raises ValueError.
    """
    try:
        if flags < 0 or flags > 0xFFF or len(eth) != 14:
            raise ValueError
        opts = bytearray(TCP_OPTIONS_MAX)
        olen = build_tcp_options(opts, 0, mss, wscale, sack_permitted, sack_blocks, ts_val, ts_ecr)
        hl = 20 + olen
        if payload is None:
            payload = b""
        tcp_len = hl + _nbytes(payload)
        if 20 + tcp_len > 0xFFFF:
            raise ValueError
        frame = bytearray(34 + hl)
        frame[0:14] = eth
        pack_ipv4(frame, 14, tos, 20 + tcp_len, ident, 0x4000, ttl, 6, src, dst)  # RFC 1191 §3: DF
        _TCP.pack_into(frame, 34, src_port, dst_port, seq, ack, (hl << 10) | flags, window, 0, 0)
        if olen:
            frame[54:54 + olen] = memoryview(opts)[:olen]
        frame += payload
    except Exception:
        _frame_error(eth, (tos, ident, ttl, src, dst, src_port, dst_port, seq, ack, window), flags,
                     (mss, wscale, sack_permitted, sack_blocks, ts_val, ts_ecr), payload)
        raise
    phs = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + 6 + tcp_len
    if partial_checksum:
        csum = checksum_fold(phs)
    else:
        csum = ~checksum_partial(memoryview(frame)[34:], phs) & 0xFFFF
    _U16.pack_into(frame, 50, csum)
    return frame


_FRAME_LIMITS = (0xFF, 0xFFFF, 0xFF, _MASK32, _MASK32, 0xFFFF, 0xFFFF, _MASK32, _MASK32, 0xFFFF)


def _frame_error(eth: Any, fields: tuple[int, ...], flags: int, options: tuple[Any, ...], payload: Any) -> None:
    """Raise what the compiled ``build_tcp_frame`` raises, checked in its order (returns if all is well)."""
    for value, limit in zip(fields, _FRAME_LIMITS, strict=True):
        if not 0 <= value <= limit:
            raise OverflowError(f"{value} is out of range 0..{limit}")
    if flags < 0 or flags > 0xFFF:
        raise ValueError(f"TCP flags are 12 bits, not {flags:#x}")
    if len(bytes(eth)) != 14:
        raise ValueError(f"an Ethernet header is 14 bytes, not {len(bytes(eth))}")
    olen = build_tcp_options(bytearray(TCP_OPTIONS_MAX), 0, *options)
    n = 20 + 20 + olen + _nbytes(b"" if payload is None else payload)
    if n > 0xFFFF:
        raise ValueError(f"IPv4 total length {n} exceeds 65535")


# --- out-of-order / SACK range bookkeeping (RFC 9293 §3.10.7.4, RFC 2018) -----------------------------


def range_insert(ranges: list[tuple[int, int]], base: int, start: int, end: int) -> int:
    """Insert ``[start, end)`` into ``ranges`` and return how many bytes were not covered before.

    ``ranges`` is a list of ``(start, end)`` sequence-number pairs, sorted by their distance from
    ``base`` (modulo 2**32), non-overlapping and non-adjacent (touching ranges are merged); the list is
    updated in place. Every range must lie in ``[base, base + 2**32)``; an empty range (``start == end``)
    changes nothing. Used for the out-of-order queue (base = RCV.NXT) and the SACK scoreboard
    (base = SND.UNA); call ``range_trim`` when the base advances.
    """
    so = (start - base) & _MASK32
    eo = so + ((end - start) & _MASK32)
    if eo == so:
        return 0
    n = len(ranges)
    i = 0
    # Skip ranges ending strictly before the new one starts (not even adjacent).
    while i < n:
        r0, r1 = ranges[i]
        rs = (r0 - base) & _MASK32
        if rs + ((r1 - r0) & _MASK32) >= so:
            break
        i += 1
    ns, ne, old = so, eo, 0
    j = i
    while j < n:
        r0, r1 = ranges[j]
        rs = (r0 - base) & _MASK32
        if rs > eo:
            break
        re = rs + ((r1 - r0) & _MASK32)
        old += re - rs
        if rs < ns:
            ns = rs
        if re > ne:
            ne = re
        j += 1
    ranges[i:j] = [((base + ns) & _MASK32, (base + ne) & _MASK32)]
    return ne - ns - old


def range_trim(ranges: list[tuple[int, int]], base: int) -> int:
    """Drop the parts of ``ranges`` before ``base`` (RFC 9293 §3.4 comparison); return the bytes dropped.

    Ranges ending at or before ``base`` are removed; one straddling it starts at ``base`` afterwards.
    """
    dropped = 0
    i = 0
    for r0, r1 in ranges:
        d = (r1 - base) & _MASK32
        if d == 0 or d > 0x7FFFFFFF:  # seq_le(r1, base)
            dropped += (r1 - r0) & _MASK32
            i += 1
            continue
        if ((r0 - base) & _MASK32) > 0x7FFFFFFF:  # seq_lt(r0, base)
            dropped += (base - r0) & _MASK32
            ranges[i] = (base, r1)
        break
    if i:
        del ranges[:i]
    return dropped
