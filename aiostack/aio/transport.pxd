# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py. The transport itself stays a Python class
# (it subclasses asyncio.Transport); it types its endpoint with this cimport, so forwarding a write is a
# C call.

from aiostack.aio.endpoint cimport TcpEndpoint
