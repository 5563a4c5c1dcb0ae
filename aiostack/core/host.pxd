# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

from aiostack._fastpath cimport checksum_partial, pseudo_header_sum
from aiostack.core.tcpio cimport TcpIo

cdef class Host(TcpIo):
    pass
