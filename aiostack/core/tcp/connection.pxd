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
    cdef public object ack_now
    cdef public object buf_seq
    cdef public CongestionControl cc
    cdef public object chack_count
    cdef public object chack_window_us
    cdef public object close_after_open
    cdef public object closed_reported
    cdef public object _config
    cdef public object cfg_recv_buffer
    cdef public object cfg_delack_us
    cdef public object cfg_delack_segments
    cdef public bint cfg_tlp
    cdef public object cork
    cdef public TcpCounters counters
    cdef public object created_us
    cdef public object dsack
    cdef public object dupacks
    cdef public object dupthresh
    cdef public object eifel_ts
    cdef public object error
    cdef public object fin_queued
    cdef public object fin_rcvd
    cdef public object fin_seq
    cdef public object first_partial
    cdef public object head_sent_us
    cdef public object high_rxt
    cdef public object in_recovery
    cdef public object inflation
    cdef public object irs
    cdef public object isn_secret
    cdef public object iss
    cdef public object ka_probes
    cdef public object karn_blocked
    cdef public object keepalive
    cdef public object keepalive_count
    cdef public object keepalive_idle_us
    cdef public object keepalive_interval_us
    cdef public object last_ack_sent
    cdef public object last_rx_us
    cdef public object last_send_us
    cdef public object local_ip
    cdef public object local_mss
    cdef public object local_port
    cdef public object max_snd_wnd
    cdef public object nagle
    cdef public object need_syn
    cdef public object ooo_fin
    cdef public object out
    cdef public object passive
    cdef public object peer_mss
    cdef public object persist_backoff
    cdef public object persist_start_us
    cdef public object prior_cwnd
    cdef public object prior_ssthresh
    cdef public object probes_out
    cdef public object prr_delivered
    cdef public object prr_last_delivered
    cdef public object prr_out
    cdef public object rack_scan_us
    cdef public object rcv_adv
    cdef public object rcv_mss
    cdef public object rcv_nxt
    cdef public object rcv_unacked
    cdef public object rcv_wscale
    cdef public object read_closed
    cdef public object recover
    cdef public object recover_fs
    cdef public object recovery_us
    cdef public ReceiveBuffer recvbuf
    cdef public object reduction_us
    cdef public object remote_ip
    cdef public object remote_port
    cdef public object retries
    cdef public object rto_eifel_pending
    cdef public object rto_eifel_ts
    cdef public object rto_prior
    cdef public RttEstimator rtt
    cdef public object rtt_seq
    cdef public object rtt_time
    cdef public object rtx_again_bytes
    cdef public object rtx_head
    cdef public object rtx_tail
    cdef public object rtx_ts
    cdef public object sack_ok
    cdef public SackScoreboard _scoreboard
    cdef public SendBuffer sendbuf
    cdef public object shutdown_after_open
    cdef public object snd_max
    cdef public object snd_mss
    cdef public object snd_nxt
    cdef public object snd_una
    cdef public object snd_wl1
    cdef public object snd_wl2
    cdef public object snd_wnd
    cdef public object snd_wscale
    cdef public object soft_error
    cdef public object state
    cdef public object syn_reuse
    cdef public object syn_sent_us
    cdef public object tail_end
    cdef public object tail_lost
    cdef public Timers timers
    cdef public object tlp_new
    cdef public object tlp_out
    cdef public object ts_offset
    cdef public object ts_ok
    cdef public object ts_recent
    cdef public object ts_recent_us
    cdef public object undo_bytes
    cdef public object undo_end
    cdef public object undo_start
    cdef public object user_timeout_us
    cdef public object writable_armed
    cdef public object write_low_water
    cdef public object ws_ok
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
