# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py.

cdef class Interface:
    cdef public object ifindex
    cdef public object name
    cdef public object mac
    cdef public object ip
    cdef public object prefix_len
    cdef public object netmask
    cdef public object network
    cdef public object broadcast
    cdef public object mtu
    cdef public object caps
    cdef public object loopback
    cdef public object checksum_offload
    cdef public object gso_max_bytes
    cdef public dict _eth
    cdef public object _eth_src

    cpdef bytes eth_header(self, bytes dst)
