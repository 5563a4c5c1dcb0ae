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
