# C-level declarations of aiostack._fastpath (src/_fastpath.pyx) for the compiled engine modules: their
# .pxd files cimport the sequence arithmetic, so a compiled caller calls these as C functions (no Python
# call, no int boxing). Python callers see ordinary functions, as before. Results are int64_t so that C
# arithmetic a compiled caller does on two results (seq_diff(a, b) - seq_diff(c, d), seq_add(...) - x)
# cannot wrap where Python's would not.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

cpdef int64_t seq_add(uint32_t a, int64_t n) noexcept
cpdef int64_t seq_diff(uint32_t a, uint32_t b) noexcept
cpdef bint seq_lt(uint32_t a, uint32_t b) noexcept
cpdef bint seq_le(uint32_t a, uint32_t b) noexcept
cpdef bint seq_gt(uint32_t a, uint32_t b) noexcept
cpdef bint seq_ge(uint32_t a, uint32_t b) noexcept
cpdef bint seq_in_window(uint32_t seq, uint32_t start, uint64_t size) noexcept
cpdef int64_t seq_max(uint32_t a, uint32_t b) noexcept
cpdef int64_t seq_min(uint32_t a, uint32_t b) noexcept
cpdef uint64_t siphash24_words(uint64_t k0, uint64_t k1, uint64_t m0, uint64_t m1) noexcept

# The per-frame helpers of the TCP path (checksums, header parse and build): C calls from the engine,
# without a Python call's argument tuple and parsing (build_tcp_frame takes twenty arguments).
cpdef uint32_t checksum_partial(data, initial=*) except? 0xFFFFFFFF
cpdef uint32_t pseudo_header_sum(uint32_t src, uint32_t dst, uint32_t protocol, uint32_t length) noexcept
cpdef int pack_ipv4(buf, Py_ssize_t off, uint8_t tos, uint16_t total_length, uint16_t ident,
                    uint16_t flags_fragment, uint8_t ttl, uint8_t protocol, uint32_t src, uint32_t dst) except -1
cpdef tuple parse_tcp_segment(buf, Py_ssize_t off=*, end=*)
# (src_port, dst_port, seq, ack, header_len, flags, window, ts_val, ts_ecr): a C struct for compiled callers
ctypedef (int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) tcp_header_t
cpdef tcp_header_t tcp_header(buf)
cpdef tuple ipv4_fast_fields(buf, mac)
cpdef bytearray build_tcp_frame(eth, uint8_t tos, uint16_t ident, uint8_t ttl, uint32_t src, uint32_t dst,
                                uint16_t src_port, uint16_t dst_port, uint32_t seq, uint32_t ack, int64_t flags,
                                uint16_t window, mss, wscale, bint sack_permitted, sack_blocks, ts_val, ts_ecr,
                                payload, bint partial_checksum)
