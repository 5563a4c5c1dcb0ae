"""aiostack.aio: the asyncio layer (the only package that imports asyncio).

``Stack`` (stack.py) owns a sans-I/O ``Host`` and its devices; ``Driver`` (driver.py) runs them on a loop;
``TcpTransport`` (transport.py), ``Server`` (server.py), ``UdpTransport`` (datagram.py) are what asyncio
programs see; ``streams.py`` has ``open_connection``/``start_server``; ``resolver.py`` a DNS stub resolver;
``loop.py`` the drop-in loops and ``aiostack.run``; ``netstat.py`` the socket table.
"""
