# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cdef class SendBuffer:
    cdef public object _chunks
    cdef public object _starts
    cdef public object _head
    cdef public object base
    cdef public object end
    cdef public object capacity

    cpdef write(self, data)
    cpdef view(self, offset, n)
    cpdef drop(self, n)
    cpdef clear(self)
