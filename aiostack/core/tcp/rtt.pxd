# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t


cdef class RttEstimator:
    cdef public object srtt_us
    cdef public int64_t rttvar_us
    cdef public int64_t rto_us
    cdef public int64_t base_rto_us
    cdef public int64_t backoff_shift
    cdef public object latest_rtt_us
    cdef public object min_rtt_us
    cdef public int64_t samples
    cdef public int64_t _min_us
    cdef public int64_t _max_us

    cpdef int64_t _clamp(self, int64_t rto) except? -1
    @cython.locals(r=int64_t, n=int64_t, srtt=int64_t, prev_var=int64_t, err=int64_t, bdiv=int64_t, adiv=int64_t,
                   rttvar=int64_t, var=int64_t, granularity=int64_t)
    cpdef on_sample(self, rtt_us, expected_samples=*)
    cpdef backoff(self)
    cpdef reset_backoff(self)
    cpdef on_handshake_retransmitted(self)
