# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cdef class RttEstimator:
    cdef public object srtt_us
    cdef public object rttvar_us
    cdef public object rto_us
    cdef public object base_rto_us
    cdef public object backoff_shift
    cdef public object latest_rtt_us
    cdef public object min_rtt_us
    cdef public object samples
    cdef public object _min_us
    cdef public object _max_us

    cpdef _clamp(self, rto)
    cpdef on_sample(self, rtt_us, expected_samples=*)
    cpdef backoff(self)
    cpdef reset_backoff(self)
    cpdef on_handshake_retransmitted(self)
