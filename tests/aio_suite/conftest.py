"""Fixtures of the behavioural suite: the backend, the event loop kinds, and the leak guard.

Each test runs once per (backend, loop) pair: backends ``kernel`` (the oracle), ``pair`` and ``loopback``
(aiostack, skipped with a reason until its layers are present); loops ``asyncio`` and ``uvloop``. A test
fails when, at teardown, a transport is still open, a timer is still pending, or the loop's exception
handler was called without the test taking the call (``exception_calls.take(...)``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from .backends import BACKENDS, Backend, aiostack_available
from .loops import loop_factories


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    return loop_factories()


class ExceptionCalls:
    """Records calls to the loop's exception handler."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.calls.append(context)

    def take(self, predicate: Any = None) -> dict[str, Any]:
        """Remove and return the first recorded call matching ``predicate`` (fails if none)."""
        for i, c in enumerate(self.calls):
            if predicate is None or predicate(c):
                return self.calls.pop(i)
        raise AssertionError(f"no exception handler call matched; recorded: {self.calls!r}")


@pytest_asyncio.fixture
async def exception_calls() -> AsyncIterator[ExceptionCalls]:
    loop = asyncio.get_running_loop()
    calls = ExceptionCalls()
    loop.set_exception_handler(calls)
    yield calls
    # teardown runs after the backend's (which depends on this fixture): nothing may be left.
    for _ in range(3):
        await asyncio.sleep(0)
    pending = getattr(loop, "pending_timers", lambda: [])()
    loop.set_exception_handler(None)
    assert not calls.calls, f"unexpected exception handler calls: {calls.calls!r}"
    assert not pending, f"timers left pending: {pending!r}"


@pytest.fixture(params=list(BACKENDS))
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name != "kernel":
        why = aiostack_available()
        if why:
            pytest.skip(why)
    if name.startswith("tap") and not (os.geteuid() == 0 and os.path.exists("/dev/net/tun")):
        pytest.skip("needs root and /dev/net/tun to create a network namespace and a TAP device")
    return name


@pytest_asyncio.fixture
async def backend(backend_name: str, exception_calls: ExceptionCalls) -> AsyncIterator[Backend]:
    b = BACKENDS[backend_name]()
    await b.start()
    try:
        yield b
        left = await b.leftovers()
        assert not left, f"leaked transports: {left}"
    finally:
        await b.stop()
