# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython

from aiostack._fastpath cimport checksum_partial, ipv4_fast_fields, pseudo_header_sum
from aiostack.core.interface cimport Interface
from aiostack.core.tcp.connection cimport TcpConnection
from aiostack.core.tcpio cimport TcpIo

cdef class Host(TcpIo):
    @cython.locals(conn=TcpConnection)
    cpdef pop_ready(self)
    cpdef poll_egress(self, now_us)
    @cython.locals(iface=Interface)
    cpdef receive_frames(self, ifindex, frames, now_us)
    cpdef poll_at(self)
    cpdef handle_timer(self, now_us)
