"""The drop-in: event loops whose networking goes through an aiostack ``Stack``.

``aiostack.run(main)`` is ``asyncio.run(main)`` on such a loop; ``loop_factory()`` makes loops for
``asyncio.Runner(loop_factory=...)`` and ``EventLoopPolicy`` is the policy form. On them, unmodified code
calling ``asyncio.open_connection``, ``asyncio.start_server``, ``loop.create_connection``,
``loop.create_server``, ``loop.create_datagram_endpoint``, ``loop.getaddrinfo`` and ``loop.start_tls``
talks over aiostack. Both the default asyncio loop and uvloop are supported (``use_uvloop=True``).
Everything else (subprocesses, signals, files, Unix sockets, ``sock_*`` calls) is the base loop's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiostack.aio.stack import Stack

T = TypeVar("T")


class _StackLoopMixin:
    """Routes the loop's network entry points to ``self.aiostack`` (a ``Stack``)."""

    aiostack: Stack

    async def create_connection(self, protocol_factory: Any, host: Any = None, port: Any = None,
                                **kw: Any) -> Any:
        return await self.aiostack.create_connection(protocol_factory, host, port, **kw)

    async def create_server(self, protocol_factory: Any, host: Any = None, port: Any = None, **kw: Any) -> Any:
        return await self.aiostack.create_server(protocol_factory, host, port, **kw)

    async def create_datagram_endpoint(self, protocol_factory: Any, local_addr: Any = None,
                                       remote_addr: Any = None, **kw: Any) -> Any:
        return await self.aiostack.create_datagram_endpoint(protocol_factory, local_addr, remote_addr, **kw)

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0,
                          flags: int = 0) -> Any:
        return await self.aiostack.getaddrinfo(host, port, family=family, type=type, proto=proto, flags=flags)

    async def shutdown_default_executor(self, *args: Any, **kw: Any) -> None:
        """``asyncio.run``/``Runner`` call this last: the stack is closed too (flush, then abort)."""
        await self.aiostack.close()
        await super().shutdown_default_executor(*args, **kw)  # type: ignore[misc]

    async def start_tls(self, transport: Any, protocol: Any, sslcontext: Any, *, server_side: bool = False,
                        server_hostname: str | None = None, ssl_handshake_timeout: float | None = None,
                        ssl_shutdown_timeout: float | None = None) -> Any:
        return await self.aiostack.start_tls(
            transport, protocol, sslcontext, server_side=server_side, server_hostname=server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout, ssl_shutdown_timeout=ssl_shutdown_timeout)


class AiostackEventLoop(_StackLoopMixin, asyncio.SelectorEventLoop):
    """asyncio's default (selector) loop with its networking on aiostack."""

    def __init__(self, stack: Stack | None = None) -> None:
        super().__init__()
        self.aiostack = stack if stack is not None else Stack()


def _uvloop_class() -> type:
    import uvloop

    class AiostackUVLoop(_StackLoopMixin, uvloop.Loop):  # type: ignore[misc]
        """uvloop with its networking on aiostack."""

        def __init__(self, stack: Stack | None = None) -> None:
            super().__init__()
            self.aiostack = stack if stack is not None else Stack()

    return AiostackUVLoop


_UV: list[type] = []


def new_event_loop(*, stack: Stack | None = None, use_uvloop: bool = False) -> asyncio.AbstractEventLoop:
    """A new loop whose networking goes through ``stack`` (a fresh ``Stack()`` when None)."""
    if use_uvloop:
        if not _UV:
            _UV.append(_uvloop_class())
        loop: asyncio.AbstractEventLoop = _UV[0](stack)
        return loop
    return AiostackEventLoop(stack)


def loop_factory(*, stack: Stack | None = None, use_uvloop: bool = False) -> Callable[[], asyncio.AbstractEventLoop]:
    """For ``asyncio.Runner(loop_factory=...)``/``asyncio.run(..., loop_factory=...)`` (3.12+)."""
    return lambda: new_event_loop(stack=stack, use_uvloop=use_uvloop)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """``asyncio.set_event_loop_policy(aiostack.EventLoopPolicy())``: every new loop gets its own stack."""

    def __init__(self, *, use_uvloop: bool = False, stack_factory: Callable[[], Stack] = Stack) -> None:
        super().__init__()
        self._use_uvloop = use_uvloop
        self._stack_factory = stack_factory

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return new_event_loop(stack=self._stack_factory(), use_uvloop=self._use_uvloop)


def run(main: Coroutine[Any, Any, T], *, stack: Stack | None = None, use_uvloop: bool = False,
        debug: bool | None = None) -> T:
    """Like ``asyncio.run(main)``, with the loop's networking on aiostack; the stack is closed at the end."""
    loop_stack = stack if stack is not None else Stack()
    with asyncio.Runner(debug=debug, loop_factory=loop_factory(stack=loop_stack, use_uvloop=use_uvloop)) as runner:
        try:
            return runner.run(main)
        finally:
            runner.run(loop_stack.close())
