"""Event loops that remember their timers, so a test can fail on a timer left pending at teardown.

A timer counts as pending when it was neither cancelled nor run. Whether it ran is recorded by wrapping
its callback: comparing ``when()`` with ``loop.time()`` is not enough on uvloop, whose millisecond timers
may run just before ``when()`` and whose clock advances once per iteration, so a timer that already ran
could look pending for up to a millisecond.
"""

from __future__ import annotations

import asyncio
from typing import Any


class _Ran:
    __slots__ = ("callback", "ran")

    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.ran = False

    def __call__(self, *args: Any) -> Any:
        self.ran = True
        return self.callback(*args)


class _TimerTracking:
    """Mixin: records every TimerHandle made by ``call_at``/``call_later`` and whether it ran."""

    def _track(self, handle: asyncio.TimerHandle, ran: _Ran) -> asyncio.TimerHandle:
        if not hasattr(handle, "when"):  # uvloop's call_later(0) returns a plain Handle
            return handle
        timers: list[tuple[asyncio.TimerHandle, _Ran]] = self.__dict__.setdefault("tracked_timers", [])
        timers.append((handle, ran))
        if len(timers) > 4096:  # forget what already ran or was cancelled
            timers[:] = [(t, r) for t, r in timers if not t.cancelled() and not r.ran]
        return handle

    def pending_timers(self) -> list[asyncio.TimerHandle]:
        return [t for t, r in self.__dict__.get("tracked_timers", []) if not t.cancelled() and not r.ran]


class TrackingSelectorLoop(_TimerTracking, asyncio.SelectorEventLoop):
    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        ran = _Ran(callback)
        return self._track(super().call_at(when, ran, *args, context=context), ran)


def _uvloop_class() -> type | None:
    try:
        import uvloop
    except ImportError:
        return None

    class TrackingUVLoop(_TimerTracking, uvloop.Loop):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.__dict__["tracked_timers"] = []

        def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
            ran = _Ran(callback)
            return self._track(super().call_at(when, ran, *args, context=context), ran)

        def call_later(self, delay: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
            ran = _Ran(callback)
            return self._track(super().call_later(delay, ran, *args, context=context), ran)

    return TrackingUVLoop


TrackingUVLoop = _uvloop_class()


def loop_factories() -> dict[str, Any]:
    out: dict[str, Any] = {"asyncio": TrackingSelectorLoop}
    if TrackingUVLoop is not None:
        out["uvloop"] = TrackingUVLoop
    return out
