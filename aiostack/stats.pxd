# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cdef class Counters:
    cdef public object prefix
    cdef public dict values

    cpdef inc(self, name, n=*)
    cpdef drop(self, reason, n=*)
    cpdef get(self, name, default=*)
    cpdef items(self)
    cpdef snapshot(self)
    cpdef add_from(self, other)
