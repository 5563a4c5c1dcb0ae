# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

from aiostack._fastpath cimport seq_diff

cdef class SackScoreboard:
    cdef public object _starts
    cdef public object _ends
    cdef public object _ref_seq
    cdef public object _ref_abs
    cdef public object sacked_bytes
    cdef public object _prefix
    cdef public object blocks_ignored

    cpdef _abs(self, seq)
    cpdef _seq(self, a)
    cpdef _advance(self, snd_una)
    cpdef update(self, snd_una, blocks, snd_nxt=*)
    cpdef clear(self)
    cpdef is_sacked(self, seq)
    cpdef _lost_boundary(self, mss, dupthresh)
    cpdef is_lost(self, seq, mss, dupthresh=*)
    cpdef _first_hole(self, a)
    cpdef next_seg(self, snd_una, snd_nxt, high_rxt, mss, can_send_new=*)
    cpdef _sacked_below(self, a)
    cpdef pipe(self, snd_una, snd_nxt, high_rxt, mss)
    cpdef lost_bytes(self, snd_una, mss)
