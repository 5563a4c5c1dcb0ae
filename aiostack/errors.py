"""Exceptions aiostack raises.

Two families, as in h11: what the *network* sends wrong never reaches the application as an exception
(core ingress drops and counts it; wire parsing signals it with MalformedPacket, which core catches), and
what the *application* does wrong raises a clear local error at the call site.
"""

from __future__ import annotations


class AiostackError(Exception):
    """Base class of aiostack's own exceptions."""


class MalformedPacket(AiostackError, ValueError):
    """Received bytes that do not form a valid header (wire parsing raises only this).

    ``reason`` is a short stable token usable as a counter name (``"truncated"``, ``"bad_checksum"``...).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class LocalProtocolError(AiostackError, RuntimeError):
    """The application used an API in a way the current state does not allow."""


class AddressInUse(AiostackError, OSError):
    """The requested local address and port are already bound."""

    def __init__(self, msg: str = "address already in use") -> None:
        import errno

        super().__init__(errno.EADDRINUSE, msg)
