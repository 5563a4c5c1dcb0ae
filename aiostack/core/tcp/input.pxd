# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython

from aiostack._fastpath cimport seq_add, seq_diff, seq_ge, seq_gt, seq_in_window, seq_le, seq_lt
from aiostack.core.tcp.connection cimport TcpConnection
from aiostack.core.tcp.output cimport challenge_ack, queue_ack, recovery_pipe
from aiostack.core.tcp.scoreboard cimport SackScoreboard
from aiostack.core.tcp.segment cimport Segment
from aiostack.core.tcp.timeouts cimport arm_rto

cpdef _rst(TcpConnection c, seq)
cpdef segment_arrives(TcpConnection c, Segment seg, now_us)
cpdef _reset(TcpConnection c, st)
cpdef _syn_sent(TcpConnection c, Segment seg, now_us)
cpdef syn_text(TcpConnection c, Segment seg)
cpdef _filter_sack(TcpConnection c, blocks, ack, now_us)
cpdef _early_retransmit(TcpConnection c, mss)
cpdef _undo_rto(TcpConnection c, now_us)
cpdef _undo_recovery(TcpConnection c, now_us)
@cython.locals(board=SackScoreboard)
cpdef _process_ack(TcpConnection c, Segment seg, ack, plen, fin, now_us)
cpdef _lost_retransmission(TcpConnection c, now_us)
cpdef _enter_recovery(TcpConnection c, now_us)
cpdef _receive_text(TcpConnection c, seq, payload, fin, now_us)
cpdef _receive_fin(TcpConnection c, now_us)
