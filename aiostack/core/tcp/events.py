"""Events a TCP connection reports through ``next_event()`` (DESIGN §3: pulled, never called back).

Order for one connection: ``Connected`` → ``DataReceived``* → ``EofReceived``? → ``Closed`` (exactly once).
``WritableAgain`` may appear any time after ``Connected`` when the send buffer drained to the caller's
low-water mark.
"""

from __future__ import annotations


class TcpEvent:
    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class Connected(TcpEvent):
    """The three-way handshake completed (ESTABLISHED reached)."""

    __slots__ = ()


class DataReceived(TcpEvent):
    """``nbytes`` more in-order bytes are readable (``peek``/``read``). Consecutive ones are merged."""

    __slots__ = ("nbytes",)

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes

    def __repr__(self) -> str:
        return f"DataReceived({self.nbytes})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataReceived) and other.nbytes == self.nbytes

    def __hash__(self) -> int:
        return hash(("DataReceived", self.nbytes))


class EofReceived(TcpEvent):
    """The peer's FIN arrived after all its data (RFC 9293 §3.10.7.4, eighth step)."""

    __slots__ = ()


class WritableAgain(TcpEvent):
    """The send buffer drained to (or below) the low-water mark set with ``set_write_low_water``."""

    __slots__ = ()


class Closed(TcpEvent):
    """The connection is over for the application. ``error`` is None for an orderly end, else one of
    ConnectionResetError, ConnectionRefusedError, TimeoutError, ConnectionAbortedError or OSError."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"Closed({self.error!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Closed) and type(other.error) is type(self.error)

    def __hash__(self) -> int:
        return hash(("Closed", type(self.error)))
