# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cdef class Reassembler:
    cdef public object config
    cdef public object counters
    cdef public dict _parts
    cdef public object bytes_buffered

    cpdef poll_at(self)
