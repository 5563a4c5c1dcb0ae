# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py. The stack stays a Python class; its
# dispatch function types the tables and the transports' endpoints.

cimport cython

from aiostack.aio.endpoint cimport TcpEndpoint

@cython.locals(ep=TcpEndpoint)
cpdef _dispatch_ready(dict objs, dict listeners, list ready)
