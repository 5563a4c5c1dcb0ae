# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

from aiostack.core.tcp.congestion.base cimport CongestionControl

cdef class Cubic(CongestionControl):
    cdef public object w_max
    cdef public object cwnd_prior
    cdef public object k_s
    cdef public object epoch_start_us
    cdef public object w_est
    cdef public object alpha
    cdef public object srtt_us
    cdef public object _origin
    cdef public object _frac
    cdef public object _after_rto
    cdef public object _app_limited_since
