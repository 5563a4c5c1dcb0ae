# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython
from libc.stdint cimport int64_t

from aiostack._fastpath cimport seq_add, seq_diff
from aiostack.core.tcp.segment cimport Segment
from aiostack.stats cimport TcpCounters
from aiostack.core.tcp.congestion.base cimport CongestionControl
from aiostack.core.tcp.recvbuf cimport ReceiveBuffer
from aiostack.core.tcp.rtt cimport RttEstimator
from aiostack.core.tcp.scoreboard cimport SackScoreboard
from aiostack.core.tcp.sendbuf cimport SendBuffer
from aiostack.core.tcp.timers cimport Timers

cpdef list _appended(items, item)
@cython.locals(shift=int)
cpdef int choose_wscale(int64_t recv_buffer_bytes) except -1

# Out of the cyclic GC (its ~125 fields made each connection the costliest object of a full collection:
# 10,000 open connections, a third of it). It references no object that can lead back to it: the
# listener only weakly, errors it made and never raised (the application gets copies), events, segments
# and the no_gc helpers.
@cython.no_gc
cdef class TcpConnection:
    cdef public bint ack_now
    cdef public int64_t buf_seq
    cdef public CongestionControl cc
    cdef public int64_t chack_count
    cdef public int64_t chack_window_us
    cdef public bint close_after_open
    cdef public bint closed_reported
    cdef public object _config
    cdef public int64_t cfg_recv_buffer
    cdef public int64_t cfg_delack_us
    cdef public int64_t cfg_delack_segments
    cdef public bint cfg_tlp
    cdef public bint cork
    cdef public TcpCounters counters
    cdef public int64_t created_us
    cdef public object dsack
    cdef public int64_t dupacks
    cdef public int64_t dupthresh
    cdef public object eifel_ts
    cdef public object error
    cdef public bint fin_queued
    cdef public bint fin_rcvd
    cdef public object fin_seq
    cdef public bint first_partial
    cdef public int64_t head_sent_us
    cdef public int64_t high_rxt
    cdef public bint in_recovery
    cdef public int64_t inflation
    cdef public int64_t irs
    cdef public object isn_secret
    cdef public int64_t iss
    cdef public int64_t ka_probes
    cdef public bint karn_blocked
    cdef public object keepalive
    cdef public object keepalive_count
    cdef public object keepalive_idle_us
    cdef public object keepalive_interval_us
    cdef public int64_t last_ack_sent
    cdef public int64_t last_rx_us
    cdef public object last_send_us
    cdef public object local_ip
    cdef public int64_t local_mss
    cdef public int64_t local_port
    cdef public int64_t max_snd_wnd
    cdef public bint nagle
    cdef public bint need_syn
    cdef public object ooo_fin
    cdef public object out
    cdef public bint passive
    cdef public int64_t peer_mss
    cdef public int64_t persist_backoff
    cdef public object persist_start_us
    cdef public int64_t prior_cwnd
    cdef public int64_t prior_ssthresh
    cdef public int64_t probes_out
    cdef public int64_t prr_delivered
    cdef public int64_t prr_last_delivered
    cdef public int64_t prr_out
    cdef public int64_t rack_scan_us
    cdef public int64_t rcv_adv
    cdef public int64_t rcv_mss
    cdef public int64_t rcv_nxt
    cdef public int64_t rcv_unacked
    cdef public int64_t rcv_wscale
    cdef public bint read_closed
    cdef public int64_t recover
    cdef public int64_t recover_fs
    cdef public int64_t recovery_us
    cdef public ReceiveBuffer recvbuf
    cdef public int64_t reduction_us
    cdef public object remote_ip
    cdef public int64_t remote_port
    cdef public int64_t retries
    cdef public bint rto_eifel_pending
    cdef public object rto_eifel_ts
    cdef public object rto_prior
    cdef public RttEstimator rtt
    cdef public object rtt_seq
    cdef public int64_t rtt_time
    cdef public int64_t rtx_again_bytes
    cdef public bint rtx_head
    cdef public bint rtx_tail
    cdef public int64_t rtx_ts
    cdef public bint sack_ok
    cdef public SackScoreboard _scoreboard
    cdef public SendBuffer sendbuf
    cdef public bint shutdown_after_open
    cdef public int64_t snd_max
    cdef public int64_t snd_mss
    cdef public int64_t snd_nxt
    cdef public int64_t snd_una
    cdef public int64_t snd_wl1
    cdef public int64_t snd_wl2
    cdef public int64_t snd_wnd
    cdef public int64_t snd_wscale
    cdef public object soft_error
    cdef public object state
    cdef public bint syn_reuse
    cdef public int64_t syn_sent_us
    cdef public int64_t tail_end
    cdef public bint tail_lost
    cdef public Timers timers
    cdef public bint tlp_new
    cdef public bint tlp_out
    cdef public int64_t ts_offset
    cdef public bint ts_ok
    cdef public int64_t ts_recent
    cdef public int64_t ts_recent_us
    cdef public int64_t undo_bytes
    cdef public int64_t undo_end
    cdef public int64_t undo_start
    cdef public object user_timeout_us
    cdef public bint writable_armed
    cdef public object write_low_water
    cdef public bint ws_ok
    cdef public object listener_ref
    cdef public object events
    cdef public object _rtx_list
    cdef public object _rtx_again
    cdef object __weakref__

    cpdef push_out(self, Segment seg)
    cpdef list take_out(self)
    cpdef push_event(self, event)
    cpdef connect(self, now_us)
    cpdef accept_syn(self, Segment seg, now_us)
    cpdef negotiate(self, Segment seg, now_us)
    cpdef update_mss(self)
    cpdef establish(self, now_us)
    cpdef send(self, data)
    cpdef set_write_low_water(self, low_bytes)
    cpdef writable(self)
    cpdef peek(self)
    cpdef consume(self, n)
    # C integers for the window arithmetic (byte counts and a 32-bit sequence space: no int objects)
    @cython.locals(buf=int64_t, cur=int64_t, free=int64_t, step=int64_t)
    cpdef maybe_window_update(self)
    cpdef read(self, max_bytes=*)
    cpdef shutdown_write(self)
    cpdef close(self)
    cpdef abort(self)
    cpdef set_nodelay(self, enabled)
    cpdef set_cork(self, enabled)
    cpdef set_user_timeout(self, timeout_us)
    cpdef rcv_window(self)
    cpdef is_finished(self)
    cpdef info(self)
    cpdef next_event(self)
    cpdef has_events(self)
    cpdef data_event(self, n)
    cpdef report_closed(self, error)
    cpdef enter_closed(self, error)
    cpdef enter_time_wait(self, now_us)
    cpdef fail(self, error)
    @cython.locals(now=int64_t, offset=int64_t)
    cpdef ts_now(self, now_us)
    cpdef on_icmp_error(self, kind, mtu=*, now_us=*)
