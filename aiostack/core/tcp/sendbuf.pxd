# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

cdef class SendBuffer:
    cdef public object _chunks
    cdef public object _starts
    cdef public int64_t _head
    cdef public int64_t base
    cdef public int64_t end
    cdef public int64_t capacity

    @cython.locals(n=Py_ssize_t, room=int64_t)
    cpdef write(self, data)
    @cython.locals(pos=int64_t, newest=int64_t, a=int64_t, clen=Py_ssize_t, got=int64_t, take=int64_t, i=Py_ssize_t)
    cpdef view(self, int64_t offset, int64_t n)
    @cython.locals(base=int64_t, h=Py_ssize_t, last=Py_ssize_t)
    cpdef drop(self, int64_t n)
    cpdef clear(self)
