# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

from aiostack.stats cimport Counters

cdef class _Pending:
    cdef public object ifindex
    cdef public object src_ip
    cdef public object queue
    cdef public object tries
    cdef public object next_try_us

cdef class NeighborCache:
    cdef public object config
    cdef public Counters counters
    cdef public dict entries
    cdef public dict pending
    cdef public object _output
    cdef public object _unreachable
    cdef public object _ifaces
    cdef public dict _refresh
    cdef public int64_t _retry_us
    cdef public int64_t _refresh_window_us

    @cython.locals(expires=int64_t, now=int64_t)
    cpdef lookup(self, ip, now_us, iface=*)
    cpdef _learn(self, ip, mac, now_us)
    cpdef enqueue(self, ifindex, src_ip, next_hop, frame, owner, now_us)
    cpdef _request(self, ip, p, now_us)
    cpdef announce(self, iface)
    cpdef poll_at(self)
    cpdef handle_timer(self, now_us)
    cpdef forget_interface(self, ifindex)
    cpdef receive(self, iface, frame, now_us)
    cpdef table(self, now_us=*)
