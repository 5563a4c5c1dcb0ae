# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py. The stack stays a Python class; its
# dispatch types the transports' endpoints with this cimport.

from aiostack.aio.endpoint cimport TcpEndpoint
