# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cimport cython

from aiostack.core.host cimport Host

cdef class _Port:
    cdef public object ifindex
    cdef public object device
    cdef public object fd
    cdef public bint virtual
    cdef public bint pending
    cdef public object out
    cdef public object tx_room
    cdef public object backlog

cdef class Driver:
    cdef public object loop
    cdef public Host host
    cdef public object config
    cdef public Py_ssize_t _cap
    cdef public object _dispatch
    cdef public object _after_ingress
    cdef public object _waiting
    cdef public dict _ports
    cdef public list _port_list
    cdef public list _virtual
    cdef public bint _scheduled
    cdef public bint _corked
    cdef public bint _flushing
    cdef public bint _timer_fired
    cdef public object _timer
    cdef public object _timer_at
    cdef public bint _closed
    cdef public object _time
    cdef public Py_ssize_t flushes
    cdef public object backlog_drops
    cdef public list _backlogged
    cdef object __weakref__

    cpdef notify(self, conn)
    cpdef notify_write(self, conn)
    cpdef write_kick(self)
    cpdef _flush_now(self)
    cpdef kick(self)
    cpdef _request(self)
    @cython.locals(port=_Port, host=Host, more=bint)
    cpdef flush(self)
    @cython.locals(port=_Port)
    cpdef _egress(self, now)
    cpdef _send(self, _Port port, frames)
    cpdef _hold(self, _Port port, frames, start)
    @cython.locals(port=_Port)
    cpdef _send_backlog(self)
    @cython.locals(port=_Port)
    cpdef _arm(self)
