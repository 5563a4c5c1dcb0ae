"""``open_connection`` and ``start_server`` on a ``Stack``: asyncio's stream helpers, same signatures.

They build asyncio's own ``StreamReader``/``StreamReaderProtocol``/``StreamWriter`` on top of an aiostack
transport, so stream code behaves exactly as over the kernel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiostack.aio.server import Server
    from aiostack.aio.stack import Stack

_DEFAULT_LIMIT = 2**16  # asyncio.streams._DEFAULT_LIMIT


async def open_connection(stack: Stack, host: Any = None, port: Any = None, *, limit: int = _DEFAULT_LIMIT,
                          **kwds: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await stack.create_connection(lambda: protocol, host, port, **kwds)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def start_server(stack: Stack, client_connected_cb: Callable[..., Any], host: Any = None,
                       port: Any = None, *, limit: int = _DEFAULT_LIMIT, **kwds: Any) -> Server:
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    return await stack.create_server(factory, host, port, **kwds)
