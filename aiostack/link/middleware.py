"""``Middleware``: a device that wraps another and forwards what it does not change.

Wrappers stack (``PcapWriter(FaultInjector(Tap(...)))``); each forwards ``caps``, ``mac``, ``fileno``,
``set_wakeup``, ``close`` and, for virtual-time devices, ``poll_at``/``advance``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiostack.link.base import Device, DeviceCaps, Frame


class Middleware:
    """Forwards the ``Device`` protocol to ``inner``; subclasses override the verbs they change."""

    def __init__(self, inner: Device) -> None:
        self.inner = inner

    @property
    def caps(self) -> DeviceCaps:
        return self.inner.caps

    @property
    def mac(self) -> bytes:
        return self.inner.mac

    def receive_batch(self, max_frames: int) -> list[Frame]:
        return self.inner.receive_batch(max_frames)

    def send_batch(self, frames: Sequence[Frame]) -> None:
        self.inner.send_batch(frames)

    def fileno(self) -> int | None:
        return self.inner.fileno()

    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        self.inner.set_wakeup(callback)

    def close(self) -> None:
        self.inner.close()

    def poll_at(self) -> int | None:
        f = getattr(self.inner, "poll_at", None)
        return f() if f is not None else None

    def advance(self, now_us: int) -> None:
        f = getattr(self.inner, "advance", None)
        if f is not None:
            f(now_us)
