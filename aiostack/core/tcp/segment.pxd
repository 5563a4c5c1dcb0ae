# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython

from aiostack._fastpath cimport seq_add

cdef class Segment:
    cdef public object src_port
    cdef public object dst_port
    cdef public object seq
    cdef public object ack
    cdef public object flags
    cdef public object window
    cdef public object payload
    cdef public object mss
    cdef public object wscale
    cdef public object sack_permitted
    cdef public object sack_blocks
    cdef public object ts_val
    cdef public object ts_ecr


@cython.locals(seg=Segment)
cpdef Segment new_segment(src_port, dst_port, seq, ack, flags, window, payload)
