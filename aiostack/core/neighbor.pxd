# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cdef class _Pending:
    cdef public object ifindex
    cdef public object src_ip
    cdef public object queue
    cdef public object tries
    cdef public object next_try_us

cdef class NeighborCache:
    cdef public object config
    cdef public object counters
    cdef public object entries
    cdef public object pending
    cdef public object _output
    cdef public object _unreachable
    cdef public object _ifaces
    cdef public object _refresh
