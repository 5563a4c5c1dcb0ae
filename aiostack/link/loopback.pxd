# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython

from aiostack.stats cimport LinkCounters

cdef class _Queue:
    cdef public object frames
    cdef public Py_ssize_t limit
    cdef public object wakeup
    cdef public LinkCounters counters

cdef class _End:
    cdef public object caps
    cdef public object mac
    cdef public LinkCounters counters
    cdef public _Queue _rx
    cdef public _Queue _tx
    cdef public bint _closed
    cdef public Py_ssize_t _max_plain
    cdef public Py_ssize_t _max_gso
    cdef object __weakref__

    # C integers for the per-frame counts and sizes (the in-memory link's per-batch work)
    @cython.locals(n=Py_ssize_t)
    cpdef receive_batch(self, Py_ssize_t max_frames)
    @cython.locals(tx=_Queue, mine=LinkCounters, limit=Py_ssize_t, queued=Py_ssize_t, nbytes=Py_ssize_t,
                   max_plain=Py_ssize_t, n=Py_ssize_t, over=bint)
    cpdef send_batch(self, frames)
