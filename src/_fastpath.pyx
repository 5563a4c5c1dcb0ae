# cython: language_level=3
"""Compiled hot path of aiostack; the pure-Python twin is aiostack/_fastpath_py.py (same results).

Read first: RFC 1071 (internet checksum), RFC 1624 (incremental update), RFC 9293 §3.4 (sequence space).
A leaf module: it knows bytes and integers, not TCP states or asyncio.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
ctypedef int32_t int32_t_alias

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


cdef inline uint64_t _fold64(uint64_t s) noexcept nogil:
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


cdef uint64_t _sum_words(const uint8_t[::1] buf) noexcept nogil:
    cdef Py_ssize_t n = buf.shape[0]
    cdef Py_ssize_t i = 0
    cdef uint64_t s = 0
    while i + 1 < n:
        s += (<uint64_t>buf[i] << 8) | buf[i + 1]
        i += 2
    if n & 1:
        s += <uint64_t>buf[n - 1] << 8
    return s


def checksum_fold(total):
    """Fold a non-negative one's-complement sum of any width to 16 bits (end-around carry), not complemented."""
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum_partial(data, initial=0):
    """RFC 1071 one's-complement sum of ``data`` plus ``initial``, folded to 16 bits, not complemented."""
    cdef const uint8_t[::1] buf
    if isinstance(data, memoryview) and (data.ndim != 1 or data.itemsize != 1 or not data.c_contiguous):
        data = data.cast("B") if data.c_contiguous else bytes(data)
    buf = data
    cdef uint64_t s
    with nogil:
        s = _sum_words(buf)
    if initial > 0xFFFF:
        initial = checksum_fold(initial)
    return <int>_fold64(s + <uint64_t>initial)


def internet_checksum(data, initial=0):
    """The RFC 1071 checksum of ``data`` (with ``initial`` added to the sum): folded and complemented."""
    return (~checksum_partial(data, initial)) & 0xFFFF


def pseudo_header_sum(uint32_t src, uint32_t dst, uint32_t protocol, uint32_t length):
    """Folded sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768) for TCP/UDP checksums."""
    return <int>_fold64(<uint64_t>(src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
                        + protocol + length)


def checksum_update16(uint32_t checksum, uint32_t old, uint32_t new):
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')."""
    cdef uint64_t s = (~checksum & 0xFFFF) + (~old & 0xFFFF) + (new & 0xFFFF)
    return <int>((~_fold64(s)) & 0xFFFF)


# --- sequence arithmetic modulo 2**32 (RFC 9293 §3.4) ---------------------------------------------


def seq_add(uint32_t a, int64_t n):
    return <uint32_t>(a + n)


def seq_diff(uint32_t a, uint32_t b):
    return <int>(<int32_t_alias>(a - b))


def seq_lt(uint32_t a, uint32_t b):
    return <int>(<int32_t_alias>(a - b)) < 0


def seq_le(uint32_t a, uint32_t b):
    return <int>(<int32_t_alias>(a - b)) <= 0


def seq_gt(uint32_t a, uint32_t b):
    return <int>(<int32_t_alias>(a - b)) > 0


def seq_ge(uint32_t a, uint32_t b):
    return <int>(<int32_t_alias>(a - b)) >= 0


def seq_in_window(uint32_t seq, uint32_t start, uint64_t size):
    """RFC 9293 §3.4: ``start <= seq < start + size`` modulo 2**32 (false for ``size == 0``)."""
    return <uint64_t>(<uint32_t>(seq - start)) < size


def seq_max(uint32_t a, uint32_t b):
    return b if <int32_t_alias>(a - b) < 0 else a


def seq_min(uint32_t a, uint32_t b):
    return a if <int32_t_alias>(a - b) < 0 else b
