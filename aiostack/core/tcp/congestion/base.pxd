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

    cpdef is_cwnd_limited(self, flight_before_ack)
    cpdef on_ack(self, acked_bytes, bytes_in_flight, rtt_us, now_us)
    cpdef on_enter_recovery(self, bytes_in_flight, now_us)
    cpdef on_exit_recovery(self, now_us)
    cpdef on_rto(self, bytes_in_flight, now_us)
    cpdef on_spurious_congestion(self, now_us)
    cpdef on_idle_restart(self, now_us)
    cpdef set_mss(self, mss)
    cpdef _ssthresh_on_loss(self, bytes_in_flight, now_us)
    cpdef _congestion_avoidance(self, acked_bytes, now_us)
    cpdef _on_rtt(self, rtt_us, now_us)
    cpdef _on_enter_ca(self, now_us)
    cpdef _on_app_limited(self, now_us)
    cpdef _on_mss_changed(self, old, new)
    cpdef _on_congestion_event(self, now_us)
    cpdef _save_state(self)
    cpdef _restore_state(self, state, now_us)
