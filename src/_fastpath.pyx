# cython: language_level=3
"""Compiled hot path of aiostack; the pure-Python twin is aiostack/_fastpath_py.py (same results).

Read first: RFC 1071 (internet checksum), RFC 1624 (incremental update), RFC 9293 §3.1 (TCP header and
options), §3.4 (sequence space), RFC 7323 (window scale, timestamps), RFC 2018 (SACK), RFC 791 (IPv4
header), RFC 768 (UDP), IEEE 802.3 (Ethernet II).

A leaf module: it knows bytes and integers, not TCP states or asyncio. Every function here has a twin
of the same name, signature, results and exceptions in aiostack/_fastpath_py.py; the types are in
aiostack/_fastpath.pyi and the full contract is documented there and in the twin.

Buffers are taken through the buffer protocol directly (PyObject_GetBuffer with PyBUF_SIMPLE, or the
bytes/bytearray storage itself): a typed memoryview costs ~100 ns to acquire, more than summing a
1,460-byte segment.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_Clear, PyErr_ExceptionMatches
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from aiostack.errors import MalformedPacket

cdef extern from *:
    """
    #include <string.h>
    #include <stdint.h>

    #if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    #define AIOSTACK_BIG_ENDIAN 1
    #else
    #define AIOSTACK_BIG_ENDIAN 0
    #endif

    /* RFC 1071 §2(B),(C): the one's-complement sum is byte-order independent and may be accumulated
       in wider words with the carries folded in at the end. We add native-order 32-bit halves of
       unaligned 64-bit loads (memcpy: safe at any offset) into 64-bit accumulators, fold to 16 bits
       and swap the bytes once on a little-endian host. Chunks of 1 GiB keep the accumulators from
       overflowing (each 16-byte step adds < 2**34 to each). */
    static inline uint64_t aiostack_sum_native(const unsigned char *p, Py_ssize_t n) {
        uint64_t a = 0, b = 0, c = 0, d = 0;
        while (n >= 32) {
            uint64_t w0, w1, w2, w3;
            memcpy(&w0, p, 8); memcpy(&w1, p + 8, 8); memcpy(&w2, p + 16, 8); memcpy(&w3, p + 24, 8);
            a += (w0 & 0xFFFFFFFFu) + (w0 >> 32);
            b += (w1 & 0xFFFFFFFFu) + (w1 >> 32);
            c += (w2 & 0xFFFFFFFFu) + (w2 >> 32);
            d += (w3 & 0xFFFFFFFFu) + (w3 >> 32);
            p += 32; n -= 32;
        }
        while (n >= 4) {
            uint32_t w;
            memcpy(&w, p, 4);
            a += w;
            p += 4; n -= 4;
        }
        if (n >= 2) {
            uint16_t h;
            memcpy(&h, p, 2);
            b += h;
            p += 2; n -= 2;
        }
        if (n) {
            /* RFC 1071: an odd last byte is padded with a zero byte on the right. */
            c += AIOSTACK_BIG_ENDIAN ? ((uint64_t)p[0] << 8) : (uint64_t)p[0];
        }
        /* a..d are each < 2**62 here (chunked by the caller), so their sum cannot overflow. */
        return a + b + c + d;
    }

    static inline uint32_t aiostack_fold64(uint64_t s) {
        s = (s & 0xFFFFFFFFu) + (s >> 32);
        s = (s & 0xFFFFFFFFu) + (s >> 32);
        s = (s & 0xFFFFu) + (s >> 16);
        s = (s & 0xFFFFu) + (s >> 16);
        s = (s & 0xFFFFu) + (s >> 16);
        return (uint32_t)s;
    }

    /* Folded (not complemented) big-endian one's-complement sum of p[0:n]. */
    static inline uint32_t aiostack_sum16(const unsigned char *p, Py_ssize_t n) {
        uint64_t s = 0;
        const Py_ssize_t chunk = (Py_ssize_t)1 << 30;
        while (n > chunk) {
            s = aiostack_fold64(s) + aiostack_fold64(aiostack_sum_native(p, chunk));
            p += chunk; n -= chunk;
        }
        s = aiostack_fold64(aiostack_fold64(s) + (uint64_t)aiostack_fold64(aiostack_sum_native(p, n)));
        #if !AIOSTACK_BIG_ENDIAN
        s = ((s & 0xFFu) << 8) | (s >> 8);
        #endif
        return (uint32_t)s;
    }

    /* A C-contiguous, unreleased memoryview's own Py_buffer, without acquiring a new export: the
       view holds an export on its object, so the memory cannot move while we use it without running
       Python code. 0 means "take the general path" (PyObject_GetBuffer). */
    static inline int aiostack_mv_ptr(PyObject *o, int writable, unsigned char **p, Py_ssize_t *n) {
    #if defined(_Py_MEMORYVIEW_RELEASED) && defined(_Py_MEMORYVIEW_C)
        PyMemoryViewObject *mv = (PyMemoryViewObject *)o;
        if ((mv->flags & (_Py_MEMORYVIEW_RELEASED | _Py_MEMORYVIEW_C)) != _Py_MEMORYVIEW_C) return 0;
        if (writable && mv->view.readonly) return 0;
        *p = (unsigned char *)mv->view.buf;
        *n = mv->view.len;
        return 1;
    #else
        return 0;
    #endif
    }

    static inline void aiostack_put16(unsigned char *p, uint32_t v) {
        p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v;
    }
    static inline void aiostack_put32(unsigned char *p, uint32_t v) {
        p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
        p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
    }
    static inline uint32_t aiostack_get16(const unsigned char *p) {
        return ((uint32_t)p[0] << 8) | p[1];
    }
    static inline uint32_t aiostack_get32(const unsigned char *p) {
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    }
    /* SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012): the keyed hash F of
       RFC 6528 §3 (ISNs) and RFC 6056 §3.3.3 (ephemeral ports), as Linux uses it for both. Message
       words and the key are read little-endian, as the reference implementation does. */
    typedef struct { uint64_t v0, v1, v2, v3; } aiostack_sip;
    static inline uint64_t aiostack_rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
    static inline void aiostack_sip_round(aiostack_sip *s) {
        s->v0 += s->v1; s->v1 = aiostack_rotl64(s->v1, 13); s->v1 ^= s->v0; s->v0 = aiostack_rotl64(s->v0, 32);
        s->v2 += s->v3; s->v3 = aiostack_rotl64(s->v3, 16); s->v3 ^= s->v2;
        s->v0 += s->v3; s->v3 = aiostack_rotl64(s->v3, 21); s->v3 ^= s->v0;
        s->v2 += s->v1; s->v1 = aiostack_rotl64(s->v1, 17); s->v1 ^= s->v2; s->v2 = aiostack_rotl64(s->v2, 32);
    }
    static inline void aiostack_sip_init(aiostack_sip *s, uint64_t k0, uint64_t k1) {
        s->v0 = k0 ^ 0x736f6d6570736575ULL; s->v1 = k1 ^ 0x646f72616e646f6dULL;
        s->v2 = k0 ^ 0x6c7967656e657261ULL; s->v3 = k1 ^ 0x7465646279746573ULL;
    }
    static inline void aiostack_sip_word(aiostack_sip *s, uint64_t m) {  /* c = 2 compression rounds */
        s->v3 ^= m; aiostack_sip_round(s); aiostack_sip_round(s); s->v0 ^= m;
    }
    static inline uint64_t aiostack_sip_final(aiostack_sip *s) {  /* d = 4 finalisation rounds */
        s->v2 ^= 0xff;
        aiostack_sip_round(s); aiostack_sip_round(s); aiostack_sip_round(s); aiostack_sip_round(s);
        return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
    }
    static inline uint64_t aiostack_le64(const unsigned char *p, Py_ssize_t n) {
        uint64_t m = 0;
        for (Py_ssize_t i = 0; i < n; i++) m |= (uint64_t)p[i] << (8 * i);
        return m;
    }
    static inline uint64_t aiostack_siphash24(uint64_t k0, uint64_t k1, const unsigned char *p, Py_ssize_t n) {
        aiostack_sip s;
        Py_ssize_t full = n & ~(Py_ssize_t)7;
        aiostack_sip_init(&s, k0, k1);
        for (Py_ssize_t i = 0; i < full; i += 8) aiostack_sip_word(&s, aiostack_le64(p + i, 8));
        /* the last word: the remaining bytes, the message length (mod 256) in the top byte */
        aiostack_sip_word(&s, ((uint64_t)(n & 0xff) << 56) | aiostack_le64(p + full, n - full));
        return aiostack_sip_final(&s);
    }
    static inline uint64_t aiostack_siphash24_words(uint64_t k0, uint64_t k1, uint64_t m0, uint64_t m1) {
        aiostack_sip s;
        aiostack_sip_init(&s, k0, k1);
        aiostack_sip_word(&s, m0);
        aiostack_sip_word(&s, m1);
        aiostack_sip_word(&s, (uint64_t)16 << 56);
        return aiostack_sip_final(&s);
    }
    """
    uint32_t aiostack_sum16(const unsigned char *p, Py_ssize_t n) nogil
    uint32_t aiostack_fold64(uint64_t s) nogil
    void aiostack_put16(unsigned char *p, uint32_t v) nogil
    void aiostack_put32(unsigned char *p, uint32_t v) nogil
    uint32_t aiostack_get16(const unsigned char *p) nogil
    uint32_t aiostack_get32(const unsigned char *p) nogil
    int aiostack_mv_ptr(object o, int writable, unsigned char **p, Py_ssize_t *n)
    uint64_t aiostack_le64(const unsigned char *p, Py_ssize_t n) nogil
    uint64_t aiostack_siphash24(uint64_t k0, uint64_t k1, const unsigned char *p, Py_ssize_t n) nogil
    uint64_t aiostack_siphash24_words(uint64_t k0, uint64_t k1, uint64_t m0, uint64_t m1) nogil

cdef extern from "Python.h":
    # Declared without an exception clause so that a failure can be inspected and translated here.
    int _GetBuffer "PyObject_GetBuffer" (object obj, Py_buffer *view, int flags)

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

# Header sizes (IEEE 802.3 Ethernet II; RFC 791 §3.1 IPv4 without options; RFC 9293 §3.1 TCP without
# options; RFC 768 UDP).
cdef enum:
    ETH_LEN = 14
    IPV4_LEN = 20
    TCP_LEN = 20
    UDP_LEN = 8
    # RFC 9293 §3.1: at most 40 bytes of TCP options (data offset <= 15 words).
    TCP_OPTIONS_MAX = 40


# --- buffer access ----------------------------------------------------------------------------------


cdef struct RBuf:
    const uint8_t *p
    Py_ssize_t n
    bint held           # a Py_buffer was acquired and must be released


cdef int _rbuf(object data, Py_buffer *view, RBuf *out) except -1:
    """Read access to any C-contiguous buffer; bytes and bytearray without acquiring a view."""
    if type(data) is bytes:
        out.p = <const uint8_t *>PyBytes_AS_STRING(data)
        out.n = PyBytes_GET_SIZE(data)
        out.held = False
        return 0
    if type(data) is bytearray:
        out.p = <const uint8_t *>PyByteArray_AS_STRING(data)
        out.n = PyByteArray_GET_SIZE(data)
        out.held = False
        return 0
    if type(data) is memoryview and aiostack_mv_ptr(data, 0, <unsigned char **>&out.p, &out.n):
        out.held = False
        return 0
    PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
    out.p = <const uint8_t *>view.buf
    out.n = view.len
    out.held = True
    return 0


cdef inline void _rrelease(Py_buffer *view, RBuf *b) noexcept:
    if b.held:
        PyBuffer_Release(view)
        b.held = False


cdef uint8_t *_wbuf(object buf, Py_ssize_t off, Py_ssize_t need, Py_buffer *view, bint *held) except NULL:
    """Write access to ``need`` bytes at ``off`` of a writable C-contiguous buffer."""
    cdef uint8_t *p
    cdef Py_ssize_t n
    if off < 0:
        raise ValueError(f"negative offset {off}")
    if type(buf) is bytearray:
        p = <uint8_t *>PyByteArray_AS_STRING(buf)
        n = PyByteArray_GET_SIZE(buf)
        held[0] = False
    elif type(buf) is memoryview and aiostack_mv_ptr(buf, 1, &p, &n):
        held[0] = False
    else:
        if _GetBuffer(buf, view, PyBUF_WRITABLE) < 0:
            if not PyErr_ExceptionMatches(BufferError):
                return NULL  # e.g. ValueError for a released memoryview, TypeError for a non-buffer
            PyErr_Clear()
            # The same error as struct.pack_into (the pure twin) raises for a read-only object.
            raise TypeError(f"a writable buffer is required, not {type(buf).__name__}")
        p = <uint8_t *>view.buf
        n = view.len
        held[0] = True
    if n - off < need:
        if held[0]:
            PyBuffer_Release(view)
            held[0] = False
        raise ValueError(f"buffer too small: {need} bytes at offset {off} need {off + need}, have {n}")
    return p + off


cdef inline const uint8_t *_at(RBuf *b, Py_buffer *view, Py_ssize_t off, Py_ssize_t need) except NULL:
    """Pointer to ``need`` readable bytes at ``off`` or MalformedPacket("truncated")."""
    if off < 0:
        _rrelease(view, b)
        raise ValueError(f"negative offset {off}")
    if b.n - off < need:
        _rrelease(view, b)
        raise MalformedPacket("truncated", f"{need} bytes at offset {off}, buffer has {b.n}")
    return b.p + off


# --- RFC 1071 checksum ------------------------------------------------------------------------------


def checksum_fold(total):
    """Fold a non-negative one's-complement sum of any width to 16 bits (end-around carry), not complemented."""
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


cdef inline uint64_t _initial(object initial) except? 0xFFFFFFFFFFFFFFFF:
    if initial < 0:
        raise ValueError(f"initial must be a non-negative int, not {initial!r}")
    if initial > 0xFFFFFFFFFFFF:
        initial = checksum_fold(initial)
    return <uint64_t>initial


cdef uint32_t _partial(object data, uint64_t init, Py_ssize_t *length=NULL) except? 0xFFFFFFFF:
    """Folded sum of ``data`` plus ``init``; stores the byte length in ``length`` when given."""
    cdef Py_buffer view
    cdef uint32_t s
    cdef const uint8_t *p
    cdef Py_ssize_t n
    if type(data) is bytes:
        p = <const uint8_t *>PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
    elif type(data) is bytearray:
        p = <const uint8_t *>PyByteArray_AS_STRING(data)
        n = PyByteArray_GET_SIZE(data)
    elif type(data) is memoryview and aiostack_mv_ptr(data, 0, <unsigned char **>&p, &n):
        pass
    elif _GetBuffer(data, &view, PyBUF_SIMPLE) == 0:
        with nogil:
            s = aiostack_sum16(<const uint8_t *>view.buf, view.len)
        if length != NULL:
            length[0] = view.len
        PyBuffer_Release(&view)
        return aiostack_fold64(<uint64_t>s + init)
    else:
        # Not C-contiguous (e.g. a strided memoryview): sum a contiguous copy, as the twin does.
        # For objects without the buffer protocol, memoryview() raises the TypeError.
        PyErr_Clear()
        data = memoryview(data).tobytes()
        p = <const uint8_t *>PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
    if length != NULL:
        length[0] = n
    return aiostack_fold64(<uint64_t>aiostack_sum16(p, n) + init)


cpdef uint32_t checksum_partial(data, initial=0) except? 0xFFFFFFFF:
    """RFC 1071 one's-complement sum of ``data`` plus ``initial``, folded to 16 bits, not complemented."""
    cdef uint64_t init = 0 if initial is 0 else _initial(initial)
    return _partial(data, init)


def internet_checksum(data, initial=0):
    """The RFC 1071 checksum of ``data`` (with ``initial`` added to the sum): folded and complemented."""
    cdef uint64_t init = 0 if initial is 0 else _initial(initial)
    return (~_partial(data, init)) & 0xFFFF


cdef inline uint64_t _pseudo(uint32_t src, uint32_t dst, uint64_t protocol, uint64_t length) noexcept nogil:
    return <uint64_t>(src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + protocol + length


cpdef uint32_t pseudo_header_sum(uint32_t src, uint32_t dst, uint32_t protocol, uint32_t length) noexcept:
    """Folded sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768) for TCP/UDP checksums."""
    return aiostack_fold64(_pseudo(src, dst, protocol, length))


def transport_checksum_ipv4(uint32_t src, uint32_t dst, uint32_t protocol, segment):
    """RFC 9293 §3.1 / RFC 768: checksum over the IPv4 pseudo-header and the whole ``segment``.

    With the checksum field zeroed this is the value to store (UDP sends 0 as 0xFFFF, RFC 768); over a
    received segment it is 0 when the stored checksum is correct.
    """
    cdef Py_ssize_t n = 0
    # One's-complement addition is associative: the length joins the sum after the data is read.
    cdef uint32_t s = _partial(segment, _pseudo(src, dst, protocol, 0), &n)
    return (~aiostack_fold64(<uint64_t>s + <uint64_t>n)) & 0xFFFF


def tcp_checksum_ipv4(uint32_t src, uint32_t dst, segment):
    """TCP checksum (protocol 6) over the pseudo-header and ``segment`` (header with options + payload).

    With the checksum field zeroed this is the value to store; over a received segment it is 0 when the
    stored checksum is correct.
    """
    cdef Py_ssize_t n = 0
    cdef uint32_t s = _partial(segment, _pseudo(src, dst, 6, 0), &n)
    return (~aiostack_fold64(<uint64_t>s + <uint64_t>n)) & 0xFFFF


def checksum_update16(uint32_t checksum, uint32_t old, uint32_t new):
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')."""
    cdef uint64_t s = (~checksum & 0xFFFF) + (~old & 0xFFFF) + (new & 0xFFFF)
    return (~aiostack_fold64(s)) & 0xFFFF


# --- sequence arithmetic modulo 2**32 (RFC 9293 §3.4) ---------------------------------------------


cpdef int64_t seq_add(uint32_t a, int64_t n) noexcept:
    """``a + n`` modulo 2**32 (``n`` may be negative)."""
    return <uint32_t>(a + n)


cpdef int64_t seq_diff(uint32_t a, uint32_t b) noexcept:
    """Signed distance ``a - b`` in [-2**31, 2**31): positive when ``a`` is after ``b``."""
    return <int32_t>(a - b)


cpdef bint seq_lt(uint32_t a, uint32_t b) noexcept:
    return <int32_t>(a - b) < 0


cpdef bint seq_le(uint32_t a, uint32_t b) noexcept:
    return <int32_t>(a - b) <= 0


cpdef bint seq_gt(uint32_t a, uint32_t b) noexcept:
    return <int32_t>(a - b) > 0


cpdef bint seq_ge(uint32_t a, uint32_t b) noexcept:
    return <int32_t>(a - b) >= 0


cpdef bint seq_in_window(uint32_t seq, uint32_t start, uint64_t size) noexcept:
    """RFC 9293 §3.4: ``start <= seq < start + size`` modulo 2**32 (false for ``size == 0``)."""
    return <uint64_t>(<uint32_t>(seq - start)) < size


cpdef int64_t seq_max(uint32_t a, uint32_t b) noexcept:
    return b if <int32_t>(a - b) < 0 else a


cpdef int64_t seq_min(uint32_t a, uint32_t b) noexcept:
    return a if <int32_t>(a - b) < 0 else b


# --- SipHash-2-4: the keyed hash for ISNs (RFC 6528 §3) and ephemeral ports (RFC 6056 §3.3.3) -----


def siphash24(key, data):
    """SipHash-2-4 of ``data`` under the 16-byte ``key`` (both any bytes-like): the 64-bit result."""
    cdef const unsigned char[::1] k = key
    cdef const unsigned char[::1] d = data
    if k.shape[0] != 16:
        raise ValueError(f"a SipHash key is 16 bytes, not {k.shape[0]}")
    cdef Py_ssize_t n = d.shape[0]
    return aiostack_siphash24(aiostack_le64(&k[0], 8), aiostack_le64(&k[8], 8), &d[0] if n else NULL, n)


cpdef uint64_t siphash24_words(uint64_t k0, uint64_t k1, uint64_t m0, uint64_t m1) noexcept:
    """SipHash-2-4 of the 16-byte message ``m0`` ``m1`` (little-endian words) under the key ``k0`` ``k1``
    (likewise): ``siphash24(k0 || k1, m0 || m1)`` of the byte forms, without making them."""
    return aiostack_siphash24_words(k0, k1, m0, m1)


# --- Ethernet II (IEEE 802.3 §3.2.6) ----------------------------------------------------------------


def pack_ethernet(buf, Py_ssize_t off, dst, src, uint16_t ethertype):
    """Write a 14-byte Ethernet II header (dst MAC, src MAC, EtherType) at ``buf[off:]``; returns 14."""
    cdef Py_buffer view
    cdef bint held
    if type(dst) is not bytes or PyBytes_GET_SIZE(dst) != 6:
        dst = _mac(dst)
    if type(src) is not bytes or PyBytes_GET_SIZE(src) != 6:
        src = _mac(src)
    cdef uint8_t *p = _wbuf(buf, off, ETH_LEN, &view, &held)
    cdef const char *d = PyBytes_AS_STRING(dst)
    cdef const char *s = PyBytes_AS_STRING(src)
    cdef int i
    for i in range(6):
        p[i] = <uint8_t>d[i]
        p[6 + i] = <uint8_t>s[i]
    aiostack_put16(p + 12, ethertype)
    if held:
        PyBuffer_Release(&view)
    return ETH_LEN


cdef bytes _mac(object mac):
    b = bytes(mac)
    if len(b) != 6:
        raise ValueError(f"a MAC address is 6 bytes, not {len(b)}")
    return b


def unpack_ethernet(buf, Py_ssize_t off=0):
    """``(dst: bytes, src: bytes, ethertype)`` from the 14 bytes at ``buf[off:]``."""
    cdef Py_buffer view
    cdef RBuf b
    _rbuf(buf, &view, &b)
    cdef const uint8_t *p = _at(&b, &view, off, ETH_LEN)
    cdef uint32_t ethertype = aiostack_get16(p + 12)
    dst = PyBytes_FromStringAndSize(<const char *>p, 6)
    src = PyBytes_FromStringAndSize(<const char *>p + 6, 6)
    _rrelease(&view, &b)
    return dst, src, ethertype


# --- IPv4 (RFC 791 §3.1) ----------------------------------------------------------------------------


cpdef int pack_ipv4(buf, Py_ssize_t off, uint8_t tos, uint16_t total_length, uint16_t ident,
                    uint16_t flags_fragment, uint8_t ttl, uint8_t protocol, uint32_t src, uint32_t dst) except -1:
    """Write a 20-byte IPv4 header (version 4, IHL 5) with its header checksum at ``buf[off:]``; returns 20.

    ``flags_fragment`` is the 16-bit word of flags (DF 0x4000, MF 0x2000) and fragment offset (in 8-byte
    units). ``src``/``dst`` are 32-bit ints.
    """
    cdef Py_buffer view
    cdef bint held
    cdef uint8_t *p = _wbuf(buf, off, IPV4_LEN, &view, &held)
    # RFC 791 §3.1: the checksum is the one's complement of the one's-complement sum of the header's
    # 16-bit words, computed with the checksum field zero.
    cdef uint64_t s = (0x4500 | tos) + total_length + ident + flags_fragment + ((<uint32_t>ttl << 8) | protocol) \
        + (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
    p[0] = 0x45
    p[1] = tos
    aiostack_put16(p + 2, total_length)
    aiostack_put16(p + 4, ident)
    aiostack_put16(p + 6, flags_fragment)
    p[8] = ttl
    p[9] = protocol
    aiostack_put16(p + 10, (~aiostack_fold64(s)) & 0xFFFF)
    aiostack_put32(p + 12, src)
    aiostack_put32(p + 16, dst)
    if held:
        PyBuffer_Release(&view)
    return IPV4_LEN


def unpack_ipv4(buf, Py_ssize_t off=0):
    """``(version_ihl, tos, total_length, ident, flags_fragment, ttl, protocol, checksum, src, dst)``.

    Reads the fixed 20 bytes at ``buf[off:]``; validates nothing but their presence.
    """
    cdef Py_buffer view
    cdef RBuf b
    _rbuf(buf, &view, &b)
    cdef const uint8_t *p = _at(&b, &view, off, IPV4_LEN)
    cdef uint32_t vihl = p[0], tos = p[1], tlen = aiostack_get16(p + 2), ident = aiostack_get16(p + 4)
    cdef uint32_t ff = aiostack_get16(p + 6), ttl = p[8], proto = p[9], csum = aiostack_get16(p + 10)
    cdef uint32_t src = aiostack_get32(p + 12), dst = aiostack_get32(p + 16)
    _rrelease(&view, &b)
    return vihl, tos, tlen, ident, ff, ttl, proto, csum, src, dst


# --- TCP (RFC 9293 §3.1) ----------------------------------------------------------------------------


def pack_tcp(buf, Py_ssize_t off, uint16_t src_port, uint16_t dst_port, uint32_t seq, uint32_t ack,
             int64_t header_len, int64_t flags, uint16_t window, uint16_t checksum, uint16_t urgent):
    """Write the fixed 20 bytes of a TCP header at ``buf[off:]``; returns 20.

    ``header_len`` is in bytes (20..60, a multiple of 4: the data offset times 4); ``flags`` are the 12
    bits after the data offset (reserved bits 0xF00, then CWR ECE URG ACK PSH RST SYN FIN).
    Options (``build_tcp_options``) go at ``off + 20``.
    """
    cdef Py_buffer view
    cdef bint held
    if header_len < 20 or header_len > 60 or header_len & 3:
        raise ValueError(f"TCP header length must be 20..60 and a multiple of 4, not {header_len}")
    if flags < 0 or flags > 0xFFF:
        raise ValueError(f"TCP flags are 12 bits, not {flags:#x}")
    cdef uint8_t *p = _wbuf(buf, off, TCP_LEN, &view, &held)
    aiostack_put16(p, src_port)
    aiostack_put16(p + 2, dst_port)
    aiostack_put32(p + 4, seq)
    aiostack_put32(p + 8, ack)
    aiostack_put16(p + 12, <uint32_t>(((header_len >> 2) << 12) | flags))
    aiostack_put16(p + 14, window)
    aiostack_put16(p + 16, checksum)
    aiostack_put16(p + 18, urgent)
    if held:
        PyBuffer_Release(&view)
    return TCP_LEN


def unpack_tcp(buf, Py_ssize_t off=0):
    """``(src_port, dst_port, seq, ack, header_len, flags, window, checksum, urgent)`` of ``buf[off:]``.

    ``header_len`` is the data offset in bytes (not checked against the buffer); ``flags`` are 12 bits
    (mask with 0xFF for the eight defined flags; RFC 9293 §3.1 says reserved bits are ignored).
    """
    cdef Py_buffer view
    cdef RBuf b
    _rbuf(buf, &view, &b)
    cdef const uint8_t *p = _at(&b, &view, off, TCP_LEN)
    cdef uint32_t sp = aiostack_get16(p), dp = aiostack_get16(p + 2)
    cdef uint32_t seq = aiostack_get32(p + 4), ack = aiostack_get32(p + 8)
    cdef uint32_t hlen = (p[12] >> 4) << 2, flags = aiostack_get16(p + 12) & 0xFFF
    cdef uint32_t window = aiostack_get16(p + 14), csum = aiostack_get16(p + 16), urg = aiostack_get16(p + 18)
    _rrelease(&view, &b)
    return sp, dp, seq, ack, hlen, flags, window, csum, urg


# --- UDP (RFC 768) ----------------------------------------------------------------------------------


def pack_udp(buf, Py_ssize_t off, uint16_t src_port, uint16_t dst_port, uint16_t length, uint16_t checksum):
    """Write an 8-byte UDP header at ``buf[off:]``; returns 8."""
    cdef Py_buffer view
    cdef bint held
    cdef uint8_t *p = _wbuf(buf, off, UDP_LEN, &view, &held)
    aiostack_put16(p, src_port)
    aiostack_put16(p + 2, dst_port)
    aiostack_put16(p + 4, length)
    aiostack_put16(p + 6, checksum)
    if held:
        PyBuffer_Release(&view)
    return UDP_LEN


def unpack_udp(buf, Py_ssize_t off=0):
    """``(src_port, dst_port, length, checksum)`` from the 8 bytes at ``buf[off:]``."""
    cdef Py_buffer view
    cdef RBuf b
    _rbuf(buf, &view, &b)
    cdef const uint8_t *p = _at(&b, &view, off, UDP_LEN)
    cdef uint32_t sp = aiostack_get16(p), dp = aiostack_get16(p + 2)
    cdef uint32_t length = aiostack_get16(p + 4), csum = aiostack_get16(p + 6)
    _rrelease(&view, &b)
    return sp, dp, length, csum


# --- TCP options (RFC 9293 §3.1-3.2, RFC 7323, RFC 2018) ---------------------------------------------

# RFC 9293 §3.2 option kinds.
cdef enum:
    OPT_EOL = 0
    OPT_NOP = 1
    OPT_MSS = 2        # RFC 9293 §3.7.1, length 4
    OPT_WS = 3         # RFC 7323 §2.2, length 3
    OPT_SACK_PERM = 4  # RFC 2018 §2, length 2
    OPT_SACK = 5       # RFC 2018 §3, length 2 + 8n
    OPT_TS = 8         # RFC 7323 §3.2, length 10


cdef struct Parsed:
    int32_t mss          # -1: absent
    int32_t ws           # -1: absent
    bint sack_perm
    bint ts
    uint32_t ts_val
    uint32_t ts_ecr
    Py_ssize_t nblocks
    uint32_t left[32]    # a SACK option's one-byte length allows at most 31 blocks
    uint32_t right[32]
    int bad_kind
    Py_ssize_t bad_len


cdef enum:
    OPTS_OK = 0
    OPTS_NO_LENGTH = 1
    OPTS_BAD_LENGTH = 2
    OPTS_MSS = 3
    OPTS_WS = 4
    OPTS_SACK_PERM = 5
    OPTS_SACK = 6
    OPTS_TS = 7


cdef int _parse_opts(const uint8_t *p, Py_ssize_t i, Py_ssize_t end, Parsed *o) noexcept nogil:
    """Walk the options in ``p[i:end]`` into ``o``; returns OPTS_OK or the kind of illegal length."""
    cdef Py_ssize_t ln, k
    cdef uint8_t kind
    o.mss = -1
    o.ws = -1
    o.sack_perm = False
    o.ts = False
    o.nblocks = 0
    while i < end:
        kind = p[i]
        if kind == OPT_EOL:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        o.bad_kind = kind
        if i + 1 >= end:
            return OPTS_NO_LENGTH
        ln = p[i + 1]
        o.bad_len = ln
        if ln < 2 or i + ln > end:
            return OPTS_BAD_LENGTH
        if kind == OPT_MSS:
            if ln != 4:
                return OPTS_MSS
            o.mss = aiostack_get16(p + i + 2)
        elif kind == OPT_WS:
            if ln != 3:
                return OPTS_WS
            o.ws = p[i + 2]
        elif kind == OPT_SACK_PERM:
            if ln != 2:
                return OPTS_SACK_PERM
            o.sack_perm = True
        elif kind == OPT_SACK:
            if ln < 10 or (ln - 2) & 7:
                return OPTS_SACK
            o.nblocks = (ln - 2) >> 3
            for k in range(o.nblocks):
                o.left[k] = aiostack_get32(p + i + 2 + 8 * k)
                o.right[k] = aiostack_get32(p + i + 6 + 8 * k)
        elif kind == OPT_TS:
            if ln != 10:
                return OPTS_TS
            o.ts = True
            o.ts_val = aiostack_get32(p + i + 2)
            o.ts_ecr = aiostack_get32(p + i + 6)
        i += ln
    return OPTS_OK


cdef object _opts_error(int code, const Parsed *o):
    cdef int kind = o.bad_kind
    cdef Py_ssize_t ln = o.bad_len
    if code == OPTS_NO_LENGTH:
        detail = f"option {kind} has no length byte"
    elif code == OPTS_BAD_LENGTH:
        detail = f"option {kind} length {ln}"
    elif code == OPTS_MSS:
        detail = f"MSS length {ln}"
    elif code == OPTS_WS:
        detail = f"window scale length {ln}"
    elif code == OPTS_SACK_PERM:
        detail = f"SACK-permitted length {ln}"
    elif code == OPTS_SACK:
        detail = f"SACK length {ln}"
    else:
        detail = f"timestamps length {ln}"
    return MalformedPacket("bad_tcp_option", detail)


cdef inline object _sack_tuple(const Parsed *o):
    if not o.nblocks:
        return ()
    return tuple([(o.left[k], o.right[k]) for k in range(o.nblocks)])


def parse_tcp_options(buf, Py_ssize_t start, Py_ssize_t end):
    """Parse the TCP options in ``buf[start:end]``.

    Returns ``(mss, wscale, sack_permitted, sack_blocks, ts_val, ts_ecr)``; absent options are None
    (``sack_permitted`` False, ``sack_blocks`` ``()``); ``sack_blocks`` is a tuple of ``(left, right)``.
    EOL ends the list, NOP is skipped, unknown kinds are skipped by their length, and a repeated option
    overrides the earlier one. RFC 9293 §3.2 (MUST-7): an illegal option length (a missing length byte,
    a length < 2, one running past ``end``, or a known kind with the wrong length) raises
    ``MalformedPacket("bad_tcp_option")``; ``end`` beyond the buffer raises ``MalformedPacket("truncated")``.
    """
    cdef Py_buffer view
    cdef RBuf b
    cdef Parsed o
    cdef int code
    if start < 0 or end < start:
        raise ValueError(f"bad option range [{start}, {end})")
    _rbuf(buf, &view, &b)
    if end > b.n:
        _rrelease(&view, &b)
        raise MalformedPacket("truncated", f"options end at {end}, buffer has {b.n}")
    code = _parse_opts(b.p, start, end, &o)
    # Python objects are made only after the buffer is no longer read.
    _rrelease(&view, &b)
    if code != OPTS_OK:
        raise _opts_error(code, &o)
    return (None if o.mss < 0 else o.mss, None if o.ws < 0 else o.ws, o.sack_perm, _sack_tuple(&o),
            o.ts_val if o.ts else None, o.ts_ecr if o.ts else None)


cpdef tuple parse_tcp_segment(buf, Py_ssize_t off=0, end=None):
    """Header fields and options of the TCP segment ``buf[off:end]`` (``end`` None: the buffer's end).

    Returns ``(src_port, dst_port, seq, ack, header_len, flags, window, mss, wscale, sack_permitted,
    sack_blocks, ts_val, ts_ecr)``; the payload is ``buf[off + header_len:end]``. Fewer than 20 bytes
    raise ``MalformedPacket("truncated")``; a data offset below 5 words or beyond ``end`` raises
    ``MalformedPacket("bad_data_offset")`` (RFC 9293 §3.1); options as ``parse_tcp_options``. The
    checksum is not looked at (verify it with ``tcp_checksum_ipv4``).
    """
    cdef Py_buffer view
    cdef RBuf b
    cdef Parsed o
    cdef int code = OPTS_OK
    cdef Py_ssize_t e, n, hl
    if off < 0:
        raise ValueError(f"negative offset {off}")
    _rbuf(buf, &view, &b)
    e = b.n if end is None else min(<Py_ssize_t>end, b.n)
    if end is not None and <Py_ssize_t>end > b.n:
        _rrelease(&view, &b)
        raise MalformedPacket("truncated", f"segment ends at {end}, buffer has {b.n}")
    n = e - off
    if n < TCP_LEN:
        _rrelease(&view, &b)
        raise MalformedPacket("truncated", f"tcp segment of {max(n, 0)} bytes")
    cdef const uint8_t *p = b.p + off
    hl = (p[12] >> 4) << 2
    if hl < TCP_LEN or hl > n:
        _rrelease(&view, &b)
        raise MalformedPacket("bad_data_offset", f"data offset {hl} in {n} bytes")
    cdef uint32_t sp = aiostack_get16(p), dp = aiostack_get16(p + 2)
    cdef uint32_t seq = aiostack_get32(p + 4), ack = aiostack_get32(p + 8)
    cdef uint32_t flags = aiostack_get16(p + 12) & 0xFFF, window = aiostack_get16(p + 14)
    if hl == 32 and p[20] == OPT_NOP and p[21] == OPT_NOP and p[22] == OPT_TS and p[23] == 10:
        # RFC 7323 Appendix A: the layout of nearly every segment with timestamps.
        o.mss = -1
        o.ws = -1
        o.sack_perm = False
        o.nblocks = 0
        o.ts = True
        o.ts_val = aiostack_get32(p + 24)
        o.ts_ecr = aiostack_get32(p + 28)
    else:
        code = _parse_opts(p, TCP_LEN, hl, &o)
    _rrelease(&view, &b)
    if code != OPTS_OK:
        raise _opts_error(code, &o)
    return (sp, dp, seq, ack, hl, flags, window, None if o.mss < 0 else o.mss, None if o.ws < 0 else o.ws,
            o.sack_perm, _sack_tuple(&o), o.ts_val if o.ts else None, o.ts_ecr if o.ts else None)


cpdef tcp_header_t tcp_header(buf):
    """The fixed header fields of the TCP segment ``buf`` (exactly the segment) and, when its options are
    the RFC 7323 Appendix A layout (NOP NOP TS, header 32 bytes), the timestamps: ``(src_port, dst_port,
    seq, ack, header_len, flags, window, ts_val, ts_ecr)``, ts_val and ts_ecr -1 otherwise (other options:
    ``parse_tcp_options(buf, 20, header_len)``). Errors as ``parse_tcp_segment``. A compiled caller gets
    the nine values as C integers (no int objects, no tuple).
    """
    cdef Py_buffer view
    cdef RBuf b
    cdef Py_ssize_t n, hl
    cdef int64_t ts_val = -1, ts_ecr = -1
    _rbuf(buf, &view, &b)
    n = b.n
    if n < TCP_LEN:
        _rrelease(&view, &b)
        raise MalformedPacket("truncated", f"tcp segment of {n} bytes")
    cdef const uint8_t *p = b.p
    hl = (p[12] >> 4) << 2
    if hl < TCP_LEN or hl > n:
        _rrelease(&view, &b)
        raise MalformedPacket("bad_data_offset", f"data offset {hl} in {n} bytes")
    if hl == 32 and p[20] == OPT_NOP and p[21] == OPT_NOP and p[22] == OPT_TS and p[23] == 10:
        ts_val = aiostack_get32(p + 24)
        ts_ecr = aiostack_get32(p + 28)
    cdef tcp_header_t h = (aiostack_get16(p), aiostack_get16(p + 2), aiostack_get32(p + 4), aiostack_get32(p + 8),
                           hl, aiostack_get16(p + 12) & 0xFFF, aiostack_get16(p + 14), ts_val, ts_ecr)
    _rrelease(&view, &b)
    return h


# --- the host's receive fast path: the IPv4 header checks of one frame in one call -------------------


cpdef tuple ipv4_fast_fields(buf, mac):
    """``(protocol, src, dst, total_length)`` when ``buf`` is an Ethernet frame to ``mac`` (6 bytes)
    carrying IPv4 without options (version 4, IHL 5), not a fragment (MF clear, offset 0), TCP (6) or
    UDP (17), a total length of at least 28 that fits in the frame, and a correct header checksum (RFC
    791 §3.1, RFC 1071); None for any other frame (the caller's general path takes it).
    """
    cdef Py_buffer view
    cdef RBuf b
    cdef const uint8_t *p
    cdef uint32_t total
    if type(mac) is not bytes or PyBytes_GET_SIZE(mac) != 6:
        raise TypeError("mac must be 6 bytes")
    _rbuf(buf, &view, &b)
    p = b.p
    result = None
    if (b.n >= 54 and memcmp(p, PyBytes_AS_STRING(mac), 6) == 0 and p[12] == 0x08 and p[13] == 0x00
            and p[14] == 0x45 and (p[23] == 6 or p[23] == 17) and (aiostack_get16(p + 20) & 0x3FFF) == 0):
        total = aiostack_get16(p + 16)
        if 28 <= total <= b.n - 14 and aiostack_fold64(<uint64_t>aiostack_sum16(p + 14, 20)) == 0xFFFF:
            result = (p[23], aiostack_get32(p + 26), aiostack_get32(p + 30), total)
    _rrelease(&view, &b)
    return result


cdef struct Opts:
    int32_t mss          # -1: absent
    int32_t ws           # -1: absent
    bint sack_perm
    bint ts
    uint32_t ts_val
    uint32_t ts_ecr
    Py_ssize_t nblocks
    uint32_t left[4]
    uint32_t right[4]
    Py_ssize_t total


cdef int _opts_prepare(Opts *o, object mss, object wscale, bint sack_permitted, object sack_blocks,
                       object ts_val, object ts_ecr) except -1:
    """Convert and check option values (all of them before the length, as the twin does)."""
    cdef uint32_t c_left, c_right
    o.total = 0
    o.mss = -1
    o.ws = -1
    o.sack_perm = sack_permitted
    o.ts = ts_val is not None
    o.ts_val = 0
    o.ts_ecr = 0
    if mss is not None:
        o.mss = <uint16_t>mss
        o.total += 4
    if o.ts:
        o.ts_val = <uint32_t>ts_val
        if ts_ecr is not None:
            o.ts_ecr = <uint32_t>ts_ecr
        o.total += 12
    elif sack_permitted:
        o.total += 4
    if wscale is not None:
        o.ws = <uint8_t>wscale
        o.total += 4
    o.nblocks = 0
    if sack_blocks is not None:
        for left, right in sack_blocks:
            c_left = <uint32_t>left
            c_right = <uint32_t>right
            if o.nblocks < 4:
                o.left[o.nblocks] = c_left
                o.right[o.nblocks] = c_right
            o.nblocks += 1
    if o.nblocks:
        o.total += 4 + 8 * o.nblocks
    if o.total > TCP_OPTIONS_MAX:
        raise ValueError(f"TCP options need {o.total} bytes, more than {TCP_OPTIONS_MAX}")
    return 0


cdef void _opts_write(const Opts *o, uint8_t *q) noexcept nogil:
    cdef Py_ssize_t k
    if o.mss >= 0:
        q[0] = OPT_MSS; q[1] = 4
        aiostack_put16(q + 2, <uint32_t>o.mss)
        q += 4
    if o.ts:
        if o.sack_perm:
            q[0] = OPT_SACK_PERM; q[1] = 2
        else:
            q[0] = OPT_NOP; q[1] = OPT_NOP
        q[2] = OPT_TS; q[3] = 10
        aiostack_put32(q + 4, o.ts_val)
        aiostack_put32(q + 8, o.ts_ecr)
        q += 12
    elif o.sack_perm:
        q[0] = OPT_NOP; q[1] = OPT_NOP; q[2] = OPT_SACK_PERM; q[3] = 2
        q += 4
    if o.ws >= 0:
        q[0] = OPT_NOP; q[1] = OPT_WS; q[2] = 3; q[3] = <uint8_t>o.ws
        q += 4
    if o.nblocks:
        q[0] = OPT_NOP; q[1] = OPT_NOP; q[2] = OPT_SACK; q[3] = <uint8_t>(2 + 8 * o.nblocks)
        q += 4
        for k in range(o.nblocks):
            aiostack_put32(q, o.left[k])
            aiostack_put32(q + 4, o.right[k])
            q += 8


def build_tcp_options(buf, Py_ssize_t off, mss, wscale, bint sack_permitted, sack_blocks, ts_val, ts_ecr):
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
    cdef Py_buffer view
    cdef bint held
    cdef Opts o
    _opts_prepare(&o, mss, wscale, sack_permitted, sack_blocks, ts_val, ts_ecr)
    cdef uint8_t *p = _wbuf(buf, off, o.total, &view, &held)
    _opts_write(&o, p)
    if held:
        PyBuffer_Release(&view)
    return o.total


# --- a whole Ethernet + IPv4 + TCP frame in one call (the egress hot path) ---------------------------


cpdef bytearray build_tcp_frame(eth, uint8_t tos, uint16_t ident, uint8_t ttl, uint32_t src, uint32_t dst,
                                uint16_t src_port, uint16_t dst_port, uint32_t seq, uint32_t ack, int64_t flags,
                                uint16_t window, mss, wscale, bint sack_permitted, sack_blocks, ts_val, ts_ecr,
                                payload, bint partial_checksum):
    """A new ``bytearray``: Ethernet header ``eth`` (14 bytes: dst, src, EtherType), IPv4 header (IHL 5,
    DF set as RFC 1191 §3 wants for TCP, header checksum filled), TCP header with the options of
    ``build_tcp_options`` and ``payload`` copied once.

    The TCP checksum field holds the full checksum (RFC 9293 §3.1), or with ``partial_checksum`` the
    folded pseudo-header sum only, for a device that completes it (virtio NEEDS_CSUM, csum_start 34,
    csum_offset 16). ``flags`` are the 12 bits after the data offset. A frame whose IPv4 total length
    would exceed 65,535 raises ValueError.
    """
    cdef Opts o
    cdef Py_buffer view
    cdef RBuf b
    if flags < 0 or flags > 0xFFF:
        raise ValueError(f"TCP flags are 12 bits, not {flags:#x}")
    if type(eth) is not bytes or PyBytes_GET_SIZE(eth) != ETH_LEN:
        eth = _eth_header(eth)
    _opts_prepare(&o, mss, wscale, sack_permitted, sack_blocks, ts_val, ts_ecr)
    cdef Py_ssize_t hl = TCP_LEN + o.total
    if payload is None:
        payload = b""
    _rbuf(payload, &view, &b)
    cdef Py_ssize_t tcp_len = hl + b.n
    if IPV4_LEN + tcp_len > 0xFFFF:
        _rrelease(&view, &b)
        raise ValueError(f"IPv4 total length {IPV4_LEN + tcp_len} exceeds 65535")
    frame = PyByteArray_FromStringAndSize(NULL, ETH_LEN + IPV4_LEN + tcp_len)
    cdef uint8_t *f = <uint8_t *>PyByteArray_AS_STRING(frame)
    cdef uint8_t *ip = f + ETH_LEN
    cdef uint8_t *th = ip + IPV4_LEN
    cdef uint32_t total_length = <uint32_t>(IPV4_LEN + tcp_len)
    memcpy(f, PyBytes_AS_STRING(eth), ETH_LEN)
    # RFC 791 §3.1 header with its checksum (as pack_ipv4).
    cdef uint64_t s = (0x4500 | tos) + total_length + ident + 0x4000 + ((<uint32_t>ttl << 8) | 6) \
        + (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
    ip[0] = 0x45
    ip[1] = tos
    aiostack_put16(ip + 2, total_length)
    aiostack_put16(ip + 4, ident)
    aiostack_put16(ip + 6, 0x4000)
    ip[8] = ttl
    ip[9] = 6
    aiostack_put16(ip + 10, (~aiostack_fold64(s)) & 0xFFFF)
    aiostack_put32(ip + 12, src)
    aiostack_put32(ip + 16, dst)
    aiostack_put16(th, src_port)
    aiostack_put16(th + 2, dst_port)
    aiostack_put32(th + 4, seq)
    aiostack_put32(th + 8, ack)
    aiostack_put16(th + 12, <uint32_t>(((hl >> 2) << 12) | flags))
    aiostack_put16(th + 14, window)
    aiostack_put16(th + 16, 0)
    aiostack_put16(th + 18, 0)
    _opts_write(&o, th + TCP_LEN)
    if b.n:
        memcpy(th + hl, b.p, b.n)
    _rrelease(&view, &b)
    cdef uint64_t phs = _pseudo(src, dst, 6, <uint64_t>tcp_len)
    if partial_checksum:
        aiostack_put16(th + 16, aiostack_fold64(phs))
    else:
        aiostack_put16(th + 16, (~aiostack_fold64(<uint64_t>aiostack_sum16(th, tcp_len) + phs)) & 0xFFFF)
    return frame


cdef bytes _eth_header(object eth):
    b = bytes(eth)
    if len(b) != ETH_LEN:
        raise ValueError(f"an Ethernet header is 14 bytes, not {len(b)}")
    return b


# --- out-of-order / SACK range bookkeeping (RFC 9293 §3.10.7.4, RFC 2018) -----------------------------


def range_insert(list ranges, uint32_t base, uint32_t start, uint32_t end):
    """Insert ``[start, end)`` into ``ranges`` and return how many bytes were not covered before.

    ``ranges`` is a list of ``(start, end)`` sequence-number pairs, sorted by their distance from
    ``base`` (modulo 2**32), non-overlapping and non-adjacent (touching ranges are merged); the list is
    updated in place. Every range must lie in ``[base, base + 2**32)``; an empty range (``start == end``)
    changes nothing. Used for the out-of-order queue (base = RCV.NXT) and the SACK scoreboard
    (base = SND.UNA); call ``range_trim`` when the base advances.
    """
    cdef uint64_t so = <uint32_t>(start - base)
    cdef uint64_t eo = so + <uint32_t>(end - start)
    cdef uint64_t rs, re, ns, ne, old = 0
    cdef Py_ssize_t n = len(ranges), i = 0, j
    cdef uint32_t r0, r1
    if eo == so:
        return 0
    # Skip ranges ending strictly before the new one starts (not even adjacent).
    while i < n:
        r0, r1 = ranges[i]
        rs = <uint32_t>(r0 - base)
        re = rs + <uint32_t>(r1 - r0)
        if re >= so:
            break
        i += 1
    ns = so
    ne = eo
    j = i
    while j < n:
        r0, r1 = ranges[j]
        rs = <uint32_t>(r0 - base)
        if rs > eo:
            break
        re = rs + <uint32_t>(r1 - r0)
        old += re - rs
        if rs < ns:
            ns = rs
        if re > ne:
            ne = re
        j += 1
    ranges[i:j] = [(<uint32_t>(base + ns), <uint32_t>(base + ne))]
    return ne - ns - old


def range_trim(list ranges, uint32_t base):
    """Drop the parts of ``ranges`` before ``base`` (RFC 9293 §3.4 comparison); return the bytes dropped.

    Ranges ending at or before ``base`` are removed; one straddling it starts at ``base`` afterwards.
    """
    cdef Py_ssize_t n = len(ranges), i = 0
    cdef uint64_t dropped = 0
    cdef uint32_t r0, r1
    while i < n:
        r0, r1 = ranges[i]
        if <int32_t>(r1 - base) <= 0:
            dropped += <uint32_t>(r1 - r0)
            i += 1
            continue
        if <int32_t>(r0 - base) < 0:
            dropped += <uint32_t>(base - r0)
            ranges[i] = (base, r1)
        break
    if i:
        del ranges[:i]
    return dropped
