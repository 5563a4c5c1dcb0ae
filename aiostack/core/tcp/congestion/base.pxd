# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython

from aiostack.core.tcp.congestion.hystart cimport HyStartPlusPlus

@cython.no_gc
cdef class CongestionControl:
    cdef public HyStartPlusPlus hystart
    cdef public object mss
    cdef public object cwnd
    cdef public object ssthresh
    cdef public object initial_window
    cdef public object in_recovery
    cdef public object _ca_acked
    cdef public object _abc_limit
    cdef public object _rto_streak
    cdef public object _iw_segments
    cdef public object _undo
