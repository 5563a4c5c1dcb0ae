# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

from aiostack._fastpath cimport seq_add, seq_diff
from aiostack.core.tcp.connection cimport TcpConnection
from aiostack.core.tcp.segment cimport Segment

cpdef poll_at(TcpConnection self)
cpdef arm_rto(TcpConnection self, now_us)
@cython.locals(srtt=int64_t, now=int64_t, rto=int64_t, mss=int64_t, delack=int64_t, pto=int64_t, at=int64_t)
cpdef arm_tlp(TcpConnection self, now_us)
cpdef on_tlp(TcpConnection self, now_us)
cpdef arm_persist(TcpConnection self, now_us)
cpdef handle_timer(TcpConnection self, now_us)
cpdef on_rto(TcpConnection self, now_us)
cpdef on_persist(TcpConnection self, now_us)
cpdef on_keepalive(TcpConnection self, now_us)
