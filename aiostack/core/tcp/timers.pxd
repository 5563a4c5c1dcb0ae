# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cpdef _earlier(a, b)


cdef class Timers:
    cdef public object rto
    cdef public object tlp
    cdef public object delack
    cdef public object persist
    cdef public object keepalive
    cdef public object time_wait
    cdef public object fin_wait2

    cpdef earliest(self)
    cpdef clear(self)
    cpdef snapshot(self)
