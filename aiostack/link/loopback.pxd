# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

from aiostack.stats cimport LinkCounters

cdef class _Queue:
    cdef public object frames
    cdef public object limit
    cdef public object wakeup
    cdef public LinkCounters counters

cdef class _End:
    cdef public object caps
    cdef public object mac
    cdef public LinkCounters counters
    cdef public _Queue _rx
    cdef public _Queue _tx
    cdef public object _closed
    cdef public object _max_plain
    cdef public object _max_gso
    cdef object __weakref__
