# Augmenting declarations for the compiled build (Cython reads them beside the .py of the same name;
# the pure-Python run ignores them). See aiostack/_compiled.py. The transport itself stays a Python class
# (it subclasses asyncio.Transport); its per-segment methods type the connection and the driver with these
# cimports.

from aiostack.aio.driver cimport Driver
from aiostack.core.tcp.connection cimport TcpConnection
