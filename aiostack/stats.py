"""Counters: flat, dotted names (``"tcp.segments_sent"``, ``"ip.drops.bad_checksum"``).

Every engine owns a ``Counters`` and increments it with ``c.inc(name)`` or by touching the underlying dict
directly; the per-packet counts are fields of the ``TcpCounters`` / ``IpCounters`` / ``LinkCounters``
subclasses (``c.bytes_in += n``: compiled, a C add). ``Stack.stats()`` merges them. Names are stable API.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import cast

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]


@cython.no_gc
@cython.cclass
class Counters:
    """A dict of int counters with a name prefix; missing names read as 0.

    A subclass may keep its hottest names in fields of their own (``HOT``; compiled, C integers the
    per-packet path adds to without a dictionary look-up or an int object per increment). Every read
    (``get``, ``[]``, ``items``, ``snapshot``, iteration) counts a name's field and its dictionary entry
    together, so ``inc`` stays correct for any name.
    """

    __slots__ = ("prefix", "values")

    HOT = cast("tuple[str, ...]", ())  # names kept in fields (a subclass's __slots__)

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.values: dict[str, int] = {}
        for name in self.HOT:
            setattr(self, name, 0)

    def inc(self, name: str, n: int = 1) -> None:
        v = self.values
        v[name] = v.get(name, 0) + n

    def drop(self, reason: str, n: int = 1) -> None:
        """Count a dropped input under ``drops.<reason>`` and ``drops`` (the total)."""
        v = self.values
        key = "drops." + reason
        v[key] = v.get(key, 0) + n
        v["drops"] = v.get("drops", 0) + n

    def __getitem__(self, name: str) -> int:
        return self.get(name, 0)

    def get(self, name: str, default: int = 0) -> int:
        v = self.values.get(name)
        if name in self.HOT:
            h = getattr(self, name)
            if h:
                return h + (v or 0)
        return default if v is None else v

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def items(self) -> Iterable[tuple[str, int]]:
        return self._merged().items()

    def _merged(self) -> dict[str, int]:
        hot = self.HOT
        if not hot:
            return self.values
        out = dict(self.values)
        for name in hot:
            h = getattr(self, name)
            if h:
                out[name] = out.get(name, 0) + h
        return out

    def snapshot(self) -> dict[str, int]:
        """A copy with the prefix applied (``tcp.`` + name)."""
        p = self.prefix + "." if self.prefix else ""
        return {p + k: v for k, v in self.items()}

    def add_from(self, other: Counters | Mapping[str, int]) -> None:
        """Accumulate another counter set into this one (same names)."""
        v = self.values
        for k, n in other.items():
            v[k] = v.get(k, 0) + n

    def __repr__(self) -> str:
        return f"Counters({self.prefix!r}, {dict(self.items())!r})"


@cython.no_gc
@cython.cclass
class TcpCounters(Counters):
    """TCP's counters: a connection's (segments and bytes in and out) and the host's (segments received
    and sent), with those six in fields."""

    __slots__ = ("segments_in", "segments_out", "bytes_in", "bytes_out", "segments_received", "segments_sent")
    HOT = __slots__

    def __init__(self, prefix: str = "tcp") -> None:
        # Counters.__init__ without its generic loop: one of these is made per connection
        self.prefix = prefix
        self.values = {}
        self.segments_in = 0
        self.segments_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.segments_received = 0
        self.segments_sent = 0


@cython.no_gc
@cython.cclass
class IpCounters(Counters):
    """The host's IP and Ethernet counters, with the per-packet ones in fields."""

    __slots__ = ("packets_received", "packets_sent", "frames_received")
    HOT = __slots__
    packets_received: int  # set to 0 by Counters.__init__ (as every name in HOT)
    packets_sent: int
    frames_received: int


@cython.no_gc
@cython.cclass
class LinkCounters(Counters):
    """A link's counters, with the per-frame ones in fields."""

    __slots__ = ("rx_frames", "tx_frames", "tx_bytes")
    HOT = __slots__
    rx_frames: int  # set to 0 by Counters.__init__ (as every name in HOT)
    tx_frames: int
    tx_bytes: int


def merge(*groups: Counters | Mapping[str, int]) -> dict[str, int]:
    """Merge counter groups into one flat dict, summing equal names."""
    out: dict[str, int] = {}
    for g in groups:
        items = g.snapshot().items() if isinstance(g, Counters) else g.items()
        for k, n in items:
            out[k] = out.get(k, 0) + n
    return out
