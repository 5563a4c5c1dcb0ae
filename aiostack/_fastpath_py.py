"""Pure-Python twin of ``src/_fastpath.pyx``: same names, signatures and results.

Read first: RFC 1071 (computing the internet checksum), RFC 1624 (incremental update),
RFC 9293 §3.4 (sequence numbers and their comparison modulo 2**32).
"""

from __future__ import annotations

__all__ = [
    "checksum_partial",
    "internet_checksum",
    "pseudo_header_sum",
    "checksum_fold",
    "checksum_update16",
    "seq_add",
    "seq_diff",
    "seq_lt",
    "seq_le",
    "seq_gt",
    "seq_ge",
    "seq_in_window",
    "seq_max",
    "seq_min",
]

_MASK32 = 0xFFFFFFFF


# --- RFC 1071 checksum ------------------------------------------------------------------------------


def checksum_fold(total: int) -> int:
    """Fold a non-negative one's-complement sum of any width to 16 bits (end-around carry), not complemented."""
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum_partial(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """RFC 1071 one's-complement sum of ``data`` plus ``initial``, folded to 16 bits, not complemented.

    Partial sums of consecutive even-length pieces combine by passing one as ``initial`` of the next
    (an odd-length piece is padded with one zero byte, as the last piece of a datagram is).
    The result is 0 only when every word and ``initial`` are zero; otherwise it is in [1, 0xFFFF].
    """
    n = len(data) if isinstance(data, bytes) else memoryview(data).nbytes
    if not isinstance(data, bytes):
        data = memoryview(data).cast("B")
    # The buffer read as one big-endian integer is the sum of its 16-bit words times powers of 65536,
    # and 65536 == 1 (mod 65535): so it is congruent to the plain word sum modulo 0xFFFF.
    total = int.from_bytes(data, "big")
    if n & 1:
        total <<= 8  # RFC 1071: pad the odd byte with a zero
    x = initial + (0 if total == 0 else (total - 1) % 0xFFFF + 1)
    return 0 if x == 0 else (x - 1) % 0xFFFF + 1


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The RFC 1071 checksum of ``data`` (with ``initial`` added to the sum): folded and complemented."""
    return (~checksum_partial(data, initial)) & 0xFFFF


def pseudo_header_sum(src: int, dst: int, protocol: int, length: int) -> int:
    """Folded sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768) for TCP/UDP checksums.

    ``src``/``dst`` are IPv4 addresses as 32-bit ints; ``length`` is the TCP/UDP length in bytes.
    """
    return checksum_fold((src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + protocol + length)


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
    """Signed distance ``a - b`` in (-2**31, 2**31]: positive when ``a`` is after ``b``."""
    d = (a - b) & _MASK32
    return d - 0x100000000 if d > 0x7FFFFFFF else d


def seq_lt(a: int, b: int) -> bool:
    return ((a - b) & _MASK32) > 0x7FFFFFFF


def seq_le(a: int, b: int) -> bool:
    return a == b or ((a - b) & _MASK32) > 0x7FFFFFFF


def seq_gt(a: int, b: int) -> bool:
    return ((b - a) & _MASK32) > 0x7FFFFFFF


def seq_ge(a: int, b: int) -> bool:
    return a == b or ((b - a) & _MASK32) > 0x7FFFFFFF


def seq_in_window(seq: int, start: int, size: int) -> bool:
    """RFC 9293 §3.4: ``start <= seq < start + size`` modulo 2**32 (false for ``size == 0``)."""
    return ((seq - start) & _MASK32) < size


def seq_max(a: int, b: int) -> int:
    return b if ((a - b) & _MASK32) > 0x7FFFFFFF else a


def seq_min(a: int, b: int) -> int:
    return a if ((a - b) & _MASK32) > 0x7FFFFFFF else b
