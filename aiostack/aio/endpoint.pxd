# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py. The transport's state as C fields (flags
# as C ints, the connection and the driver by their C types): its per-segment methods are C calls.

cimport cython

from aiostack.aio.driver cimport Driver
from aiostack.core.tcp.connection cimport TcpConnection

cdef class TcpEndpoint:
    cdef public object transport
    cdef public object _stack
    cdef public Driver _driver
    cdef public object _loop
    cdef public TcpConnection _conn
    cdef public object _server
    cdef public object _waiter
    cdef public object _protocol
    cdef public bint _buffered
    cdef public bint _zero_copy
    cdef public bint _started
    cdef public bint _ended
    cdef public bint _made
    cdef public bint _lost_delivered
    cdef public object _lost_exc
    cdef public bint _closing
    cdef public bint _lost
    cdef public bint _eof_written
    cdef public bint _eof_pending
    cdef public bint _eof_done
    cdef public bint _reading
    cdef public bint _abort_on_close
    cdef public object _wbuf
    cdef public Py_ssize_t _wbuf_bytes
    cdef public bint _protocol_paused
    cdef public object _high
    cdef public object _low
    cdef public Py_ssize_t _conn_lost_writes
    cdef public object _socket

    cpdef _on_events(self)
    cpdef _deliver(self)
    cpdef write(self, data)
    cpdef _push(self)
    cpdef _maybe_pause_protocol(self)
    cpdef _maybe_resume_protocol(self)
