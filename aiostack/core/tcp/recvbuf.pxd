# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cdef class ReceiveBuffer:
    cdef public object _chunks
    cdef public object _skip
    cdef public object bytes
    cdef public object nxt
    cdef public object ooo
    cdef public object ooo_bytes
    cdef public object max_ranges
    cdef public object max_bytes
    cdef public object _recent

    cpdef append(self, data)
    cpdef take_contiguous(self)
    cpdef insert(self, start, data)
    cpdef sack_ranges(self, limit)
    cpdef _find(self, start)
    cpdef clear_ooo(self)
    cpdef _touch(self, start)
    cpdef _forget(self, start)
    cpdef peek(self)
    cpdef consume(self, n)
    cpdef read(self, max_bytes=*)
