# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

from aiostack._fastpath cimport checksum_partial, ipv4_fast_fields, pseudo_header_sum
from aiostack.core.interface cimport Interface
from aiostack.core.tcp.connection cimport TcpConnection
from aiostack.core.tcpio cimport TcpIo
from aiostack.stats cimport Counters, IpCounters

# (set in the .py: C constants for the receive path's header arithmetic)
cdef int64_t ETH_LEN, PROTO_TCP

cdef class Host(TcpIo):
    cdef public object rng
    cdef public object _loopback
    cdef public object _routes
    cdef public Counters c_arp
    cdef public Counters c_icmp
    cdef public Counters c_udp
    cdef public object _icmp_bucket
    cdef public object _udp_ports
    cdef public dict _udp
    cdef public dict _udp_used
    cdef public dict _pings
    cdef public dict _pmtu
    @cython.locals(conn=TcpConnection)
    cpdef pop_ready(self)
    cpdef poll_egress(self, now_us)
    @cython.locals(iface=Interface, c_eth=IpCounters, fast=Py_ssize_t, gro=bint, offload=bint, trusted=bint, lo=bint,
                   proto=int64_t, total=int64_t, mtu=int64_t)
    cpdef receive_frames(self, ifindex, frames, now_us)
    cpdef poll_at(self)
    cpdef handle_timer(self, now_us)
