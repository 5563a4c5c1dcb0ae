"""Congestion control algorithms by name (``TcpConfig.congestion_control``).

Read first: RFC 5681 (NewReno's growth and loss response), RFC 9438 (CUBIC), RFC 3465, RFC 6928.
``create(name, mss, config, now_us)`` builds one for a connection; ``register`` adds an algorithm;
``available()`` lists the names. CUBIC is the default, as on Linux.
"""

from __future__ import annotations

from aiostack.config import TcpConfig
from aiostack.core.tcp.congestion.base import SSTHRESH_INFINITE, CongestionControl
from aiostack.core.tcp.congestion.cubic import Cubic
from aiostack.core.tcp.congestion.newreno import NewReno

__all__ = ["SSTHRESH_INFINITE", "CongestionControl", "Cubic", "NewReno", "available", "create", "register"]

_REGISTRY: dict[str, type[CongestionControl]] = {}


def register(name: str, cls: type[CongestionControl]) -> None:
    """Make ``cls`` available under ``name`` (replacing an earlier registration of that name).

    Each connection holds its own instance; like everything a connection holds, it must not reference the
    connection, its stack or the application (the connection is out of the cyclic GC when compiled: a
    cycle through it would never be collected)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"congestion control name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, CongestionControl)):
        raise TypeError(f"{cls!r} is not a CongestionControl subclass")
    _REGISTRY[name] = cls


def available() -> list[str]:
    """Registered names, sorted."""
    return sorted(_REGISTRY)


def create(name: str, mss: int, config: TcpConfig, now_us: int) -> CongestionControl:
    """A new instance of the algorithm called ``name``; ValueError naming the choices if unknown."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"unknown congestion control {name!r}; available: {', '.join(available())}")
    return cls(mss, config, now_us)


register(NewReno.name, NewReno)
register(Cubic.name, Cubic)
