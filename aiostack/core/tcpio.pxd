# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

from aiostack._fastpath cimport (build_tcp_frame, checksum_partial, pseudo_header_sum, seq_le, seq_lt,
                                 tcp_header)
from aiostack.core.interface cimport Interface
from aiostack.core.ipv4 cimport Reassembler
from aiostack.core.neighbor cimport NeighborCache
from aiostack.core.tcp.connection cimport TcpConnection
from aiostack.core.tcp.input cimport segment_arrives
from aiostack.core.tcp.output cimport poll_egress as conn_poll_egress
from aiostack.core.tcp.segment cimport Segment, new_segment
from aiostack.core.tcp.timeouts cimport handle_timer as conn_handle_timer
from aiostack.core.tcp.timeouts cimport poll_at as conn_poll_at
from aiostack.stats cimport Counters, IpCounters, TcpCounters

# The control bits as C constants (set in the .py; compiled, a flag test is one C operation)
cdef int64_t ACK, FIN, PSH

@cython.locals(seg=Segment, sport=int64_t, dport=int64_t, seq=int64_t, ack=int64_t, hl=int64_t, flags=int64_t,
               window=int64_t, ts_val=int64_t, ts_ecr=int64_t)
cpdef Segment parse_segment(payload)

cdef class _ConnRec:
    cdef public TcpConnection conn
    cdef public object key
    cdef public Interface iface
    cdef public object next_hop
    cdef public object parent
    cdef public object deadline
    cdef public object armed
    cdef public object alive
    cdef public bint dirty

cdef class _Held:
    cdef public _ConnRec rec
    cdef public Segment first
    cdef public object parts
    cdef public object next_seq
    cdef public object nbytes
    cdef public object flags
    cdef public object merged
    cdef public object src
    cdef public object dst
    cdef public object sport
    cdef public object dport
    cdef public object ack
    cdef public object window
    cdef public object hl
    cdef public object opts

cdef class TcpIo:
    # Every attribute is declared (here and in host.pxd): no instance dict, so a cpdef method's
    # "overridden in Python?" check is one type test instead of a dict-version guard that misses
    # whenever two hosts alternate (an attribute look-up per call).
    cdef public TcpCounters c_tcp
    cdef public Counters _tcp_retired
    cdef public object _tcp_ports
    cdef public IpCounters c_ip
    cdef public dict _tcp
    cdef public dict _tcp_by_conn
    cdef public list _tcp_dirty
    cdef public _ConnRec _rx_rec
    cdef public dict _listeners
    cdef public dict _ready
    cdef public list _tcp_heap
    cdef public list _egress
    cdef public object _tcp_tick
    cdef public _Held _gro
    cdef public NeighborCache _arp
    cdef public object _ident
    cdef public object ip_config
    cdef public object tcp_config
    cdef public object isn_secret
    cdef public dict _addrs
    cdef public dict _ifaces
    cdef public IpCounters c_eth
    cdef public Reassembler _reasm

    cpdef notify(self, obj)
    cpdef _touch(self, _ConnRec rec)
    cpdef _mark_dirty(self, _ConnRec rec)
    @cython.locals(conn=TcpConnection)
    cpdef _after(self, _ConnRec rec)
    @cython.locals(rec=_ConnRec)
    cpdef _tcp_poll_at(self)
    @cython.locals(rec=_ConnRec)
    cpdef _tcp_handle_timer(self, now_us)
    @cython.locals(c=TcpCounters, held=_Held, seg=Segment, rec=_ConnRec, conn=TcpConnection, n=Py_ssize_t)
    cpdef _receive_tcp(self, Interface iface, src, dst, payload, offload, trusted, now_us, gro=*)
    @cython.locals(held=_Held, seg=Segment, rec=_ConnRec)
    cpdef _gro_flush(self, now_us)
    @cython.locals(rec=_ConnRec)
    cpdef _flush_tcp(self, now_us)
    @cython.locals(conn=TcpConnection, iface=Interface)
    cpdef _flush_one(self, _ConnRec rec, now_us)
    @cython.locals(seg=Segment, plen=Py_ssize_t, k=Py_ssize_t, cseq=int64_t, cflags=int64_t, clen=Py_ssize_t,
                   ident=int64_t, ttl=int64_t, count=int64_t, gso_size=int64_t)
    cpdef int64_t _send_segments(self, Interface iface, next_hop, src, dst, segs, owner, int64_t mss,
                                 now_us) except -1
