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

    cpdef w_cubic(self, t_us)
    cpdef _start_epoch(self, now_us)
    cpdef _on_rtt(self, rtt_us, now_us)
    cpdef _on_enter_ca(self, now_us)
    cpdef _on_app_limited(self, now_us)
    cpdef _ssthresh_on_loss(self, bytes_in_flight, now_us)
    cpdef _remember_w_max(self)
    cpdef _on_congestion_event(self, now_us)
    cpdef on_enter_recovery(self, bytes_in_flight, now_us)
    cpdef on_rto(self, bytes_in_flight, now_us)
    cpdef _on_mss_changed(self, old, new)
    cpdef _save_state(self)
    cpdef _restore_state(self, state, now_us)
    cpdef _congestion_avoidance(self, acked_bytes, now_us)
