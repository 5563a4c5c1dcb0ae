# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

cdef class ReceiveBuffer:
    cdef public object _chunks
    cdef public int64_t _skip
    cdef public int64_t bytes
    cdef public int64_t nxt
    cdef public object ooo
    cdef public int64_t ooo_bytes
    cdef public int64_t max_ranges
    cdef public int64_t max_bytes
    cdef public object _recent

    @cython.locals(n=Py_ssize_t)
    cpdef append(self, data)
    cpdef take_contiguous(self)
    cpdef insert(self, start, data)
    cpdef sack_ranges(self, limit)
    cpdef _find(self, start)
    cpdef clear_ooo(self)
    cpdef _touch(self, start)
    cpdef _forget(self, start)
    cpdef peek(self)
    @cython.locals(left=int64_t, avail=int64_t)
    cpdef consume(self, int64_t n)
    cpdef read(self, max_bytes=*)
