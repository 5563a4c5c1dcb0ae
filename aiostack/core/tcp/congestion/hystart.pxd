# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cdef class HyStartPlusPlus:
    cdef public object acked_total
    cdef public object window_end
    cdef public object last_round_min_rtt
    cdef public object current_round_min_rtt
    cdef public object rtt_sample_count
    cdef public object css_baseline_min_rtt
    cdef public object in_css
    cdef public object css_rounds
    cdef public object rounds

    cpdef on_ack(self, acked_bytes, bytes_in_flight, rtt_us)
