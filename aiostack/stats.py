"""Counters: flat, dotted names (``"tcp.segments_sent"``, ``"ip.drops.bad_checksum"``).

Every engine owns a ``Counters`` and increments it on the hot path with ``c.inc(name)`` or by touching
the underlying dict directly; ``Stack.stats()`` merges them. Names are stable API.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]


@cython.no_gc
@cython.cclass
class Counters:
    """A dict of int counters with a name prefix; missing names read as 0."""

    __slots__ = ("prefix", "values")

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.values: dict[str, int] = {}

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
        return self.values.get(name, 0)

    def get(self, name: str, default: int = 0) -> int:
        return self.values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def items(self) -> Iterable[tuple[str, int]]:
        return self.values.items()

    def snapshot(self) -> dict[str, int]:
        """A copy with the prefix applied (``tcp.`` + name)."""
        p = self.prefix + "." if self.prefix else ""
        return {p + k: v for k, v in self.values.items()}

    def add_from(self, other: Counters | Mapping[str, int]) -> None:
        """Accumulate another counter set into this one (same names)."""
        src = other.values if isinstance(other, Counters) else other
        v = self.values
        for k, n in src.items():
            v[k] = v.get(k, 0) + n

    def __repr__(self) -> str:
        return f"Counters({self.prefix!r}, {self.values!r})"


def merge(*groups: Counters | Mapping[str, int]) -> dict[str, int]:
    """Merge counter groups into one flat dict, summing equal names."""
    out: dict[str, int] = {}
    for g in groups:
        items = g.snapshot().items() if isinstance(g, Counters) else g.items()
        for k, n in items:
            out[k] = out.get(k, 0) + n
    return out
