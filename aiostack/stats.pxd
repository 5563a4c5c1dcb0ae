# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py. The subclasses' fields are C integers:
# the per-packet path adds to them in C.

from libc.stdint cimport int64_t

cdef class Counters:
    cdef public object prefix
    cdef public dict values

    cpdef inc(self, name, n=*)
    cpdef drop(self, reason, n=*)
    cpdef get(self, name, default=*)
    cpdef items(self)
    cpdef dict _merged(self)
    cpdef snapshot(self)
    cpdef add_from(self, other)

cdef class TcpCounters(Counters):
    cdef public int64_t segments_in
    cdef public int64_t segments_out
    cdef public int64_t bytes_in
    cdef public int64_t bytes_out
    cdef public int64_t segments_received
    cdef public int64_t segments_sent

cdef class IpCounters(Counters):
    cdef public int64_t packets_received
    cdef public int64_t packets_sent
    cdef public int64_t frames_received

cdef class LinkCounters(Counters):
    cdef public int64_t rx_frames
    cdef public int64_t tx_frames
    cdef public int64_t tx_bytes
