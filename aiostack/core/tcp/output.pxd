# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

from aiostack._fastpath cimport seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from aiostack.core.tcp.connection cimport TcpConnection
from aiostack.core.tcp.segment cimport Segment, new_segment
from aiostack.core.tcp.sendbuf cimport SendBuffer
from aiostack.core.tcp.timeouts cimport arm_persist, arm_rto, arm_tlp

# The control bits as C constants (the .py imports them; compiled, a flag test is one C operation)
cdef int64_t ACK, FIN, PSH, SYN

# C integers for the window arithmetic (byte counts and a 32-bit sequence space: no int objects)
@cython.locals(buf=int64_t, rcv_nxt=int64_t, free=int64_t, cur=int64_t, win=int64_t, step=int64_t, ws=int64_t,
               raw=int64_t)
cpdef int64_t window_field(TcpConnection self) except? -1
cpdef make_segment(TcpConnection self, int64_t seq, int64_t flags, payload, now_us)
cpdef sack_blocks(TcpConnection self, limit)
cpdef queue_ack(TcpConnection self, now_us)
cpdef challenge_ack(TcpConnection self, now_us)
cpdef poll_egress(TcpConnection self, now_us, max_segment_bytes=*)
cpdef syn_segment(TcpConnection self, now_us)
@cython.locals(sb=SendBuffer)
cpdef bint nothing_to_send(TcpConnection self) except -1
@cython.locals(n0=Py_ssize_t, n1=Py_ssize_t, room=int64_t, max0=int64_t, end=int64_t, cwnd=int64_t)
cpdef output(TcpConnection self, now_us, out, max_segment_bytes)
cpdef prr_room(TcpConnection self, pipe)
cpdef tail_start(TcpConnection self)
cpdef tail_span(TcpConnection self)
cpdef recovery_pipe(TcpConnection self)
cpdef sack_recovery(TcpConnection self, now_us, out)
cpdef retransmit_at(TcpConnection self, seq, maxlen, now_us)
@cython.locals(before=Py_ssize_t)
cpdef send_new(TcpConnection self, now_us, out, max_segment_bytes, int64_t room)
@cython.locals(sb=SendBuffer, tmpl=Segment, seg=Segment, mss=int64_t, seg_max=int64_t, new_bytes=int64_t,
               total=int64_t, nxt=int64_t, off=int64_t, avail=int64_t, snd_max=int64_t, skip=int64_t,
               rwnd_room=int64_t, usable=int64_t, n=int64_t, flags=int64_t, idle=bint)
cpdef segmentize(TcpConnection self, now_us, out, max_segment_bytes, int64_t room)
@cython.locals(seg=Segment, end=int64_t, snd_max=int64_t)
cpdef emit_data(TcpConnection self, now_us, out, int64_t nxt, int64_t off, int64_t n, int64_t flags, Segment tmpl)
cpdef sacked_run(TcpConnection self, seq)
