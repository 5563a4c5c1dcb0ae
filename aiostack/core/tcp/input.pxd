# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

from aiostack._fastpath cimport seq_add, seq_diff, seq_ge, seq_gt, seq_in_window, seq_le, seq_lt
from aiostack.core.tcp.connection cimport TcpConnection
from aiostack.core.tcp.output cimport challenge_ack, queue_ack, recovery_pipe
from aiostack.core.tcp.scoreboard cimport SackScoreboard
from aiostack.core.tcp.segment cimport Segment
from aiostack.core.tcp.timeouts cimport arm_rto

# The control bits as C constants (the .py imports them; compiled, a flag test is one C operation)
cdef int64_t ACK, FIN, PSH, RST, SYN

cpdef _rst(TcpConnection c, seq)
# C integers for the header fields and sequence arithmetic of a segment (no int objects)
@cython.locals(flags=int64_t, seq=int64_t, ack=int64_t, plen=Py_ssize_t, una=int64_t, fin=int64_t, syn=int64_t,
               seg_len=int64_t, rcv_nxt=int64_t, wnd=int64_t, d=int64_t, dup=int64_t, room=int64_t)
cpdef segment_arrives(TcpConnection c, Segment seg, now_us)
cpdef _reset(TcpConnection c, st)
cpdef _syn_sent(TcpConnection c, Segment seg, now_us)
cpdef syn_text(TcpConnection c, Segment seg)
cpdef _filter_sack(TcpConnection c, blocks, ack, now_us)
cpdef _early_retransmit(TcpConnection c, mss)
cpdef _undo_rto(TcpConnection c, now_us)
cpdef _undo_recovery(TcpConnection c, now_us)
@cython.locals(board=SackScoreboard, una=int64_t, acked=int64_t, mss=int64_t, wl1=int64_t, wnd=int64_t,
               data_acked=int64_t, window_changed=bint, sack_ok=bint)
cpdef _process_ack(TcpConnection c, Segment seg, int64_t ack, int64_t plen, int64_t fin, now_us)
cpdef _lost_retransmission(TcpConnection c, now_us)
cpdef _enter_recovery(TcpConnection c, now_us)
@cython.locals(plen=Py_ssize_t, total=int64_t)
cpdef _receive_text(TcpConnection c, int64_t seq, payload, int64_t fin, now_us)
cpdef _receive_fin(TcpConnection c, now_us)
