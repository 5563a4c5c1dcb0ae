"""Event loops that remember their timers, so a test can fail on a timer left pending at teardown."""

from __future__ import annotations

import asyncio
from typing import Any


class _TimerTracking:
    """Mixin: records every TimerHandle made by ``call_at``/``call_later``."""

    def _track(self, handle: asyncio.TimerHandle) -> asyncio.TimerHandle:
        if not hasattr(handle, "when"):  # uvloop's call_later(0) returns a plain Handle
            return handle
        timers: list[asyncio.TimerHandle] = self.__dict__.setdefault("tracked_timers", [])
        timers.append(handle)
        if len(timers) > 4096:  # forget what already ran or was cancelled
            now = self.time()  # type: ignore[attr-defined]
            timers[:] = [t for t in timers if not t.cancelled() and t.when() > now]
        return handle

    def pending_timers(self) -> list[asyncio.TimerHandle]:
        now = self.time()  # type: ignore[attr-defined]
        return [t for t in self.__dict__.get("tracked_timers", []) if not t.cancelled() and t.when() > now]


class TrackingSelectorLoop(_TimerTracking, asyncio.SelectorEventLoop):
    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        return self._track(super().call_at(when, callback, *args, context=context))


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
            return self._track(super().call_at(when, callback, *args, context=context))

        def call_later(self, delay: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
            return self._track(super().call_later(delay, callback, *args, context=context))

    return TrackingUVLoop


TrackingUVLoop = _uvloop_class()


def loop_factories() -> dict[str, Any]:
    out: dict[str, Any] = {"asyncio": TrackingSelectorLoop}
    if TrackingUVLoop is not None:
        out["uvloop"] = TrackingUVLoop
    return out
