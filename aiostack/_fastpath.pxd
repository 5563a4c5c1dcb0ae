# C-level declarations of aiostack._fastpath (src/_fastpath.pyx) for the compiled engine modules: their
# .pxd files cimport the sequence arithmetic, so a compiled caller calls these as C functions (no Python
# call, no int boxing). Python callers see ordinary functions, as before. Results are int64_t so that C
# arithmetic a compiled caller does on two results (seq_diff(a, b) - seq_diff(c, d), seq_add(...) - x)
# cannot wrap where Python's would not.

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

cpdef int64_t seq_add(uint32_t a, int64_t n) noexcept
cpdef int64_t seq_diff(uint32_t a, uint32_t b) noexcept
cpdef bint seq_lt(uint32_t a, uint32_t b) noexcept
cpdef bint seq_le(uint32_t a, uint32_t b) noexcept
cpdef bint seq_gt(uint32_t a, uint32_t b) noexcept
cpdef bint seq_ge(uint32_t a, uint32_t b) noexcept
cpdef bint seq_in_window(uint32_t seq, uint32_t start, uint64_t size) noexcept
cpdef int64_t seq_max(uint32_t a, uint32_t b) noexcept
cpdef int64_t seq_min(uint32_t a, uint32_t b) noexcept
