# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

from aiostack._fastpath cimport seq_add

cdef class Segment:
    cdef public int64_t src_port
    cdef public int64_t dst_port
    cdef public int64_t seq
    cdef public int64_t ack
    cdef public int64_t flags
    cdef public int64_t window
    cdef public object payload
    cdef public object mss
    cdef public object wscale
    cdef public object sack_permitted
    cdef public object sack_blocks
    cdef public object ts_val
    cdef public object ts_ecr


@cython.locals(seg=Segment)
cpdef Segment new_segment(int64_t src_port, int64_t dst_port, int64_t seq, int64_t ack, int64_t flags,
                          int64_t window, payload)
