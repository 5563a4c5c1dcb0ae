"""Ephemeral port selection.

Read first: RFC 6056 §3.3.3 (Algorithm 3: simple hash-based port selection), §3.3.1 (Algorithm 1:
simple port randomisation, used when there is no remote endpoint yet, as for an unconnected UDP bind).
The secret and the counters come from an injected RNG; nothing here reads a clock or an OS source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiostack.fastpath import siphash24_words


class PortAllocator:
    """Picks ephemeral ports in ``[low, high]`` for one protocol."""

    __slots__ = ("low", "high", "count", "_rng", "_k0", "_k1", "_next")

    def __init__(self, rng: Any, low: int, high: int) -> None:
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"bad ephemeral port range {low}..{high}")
        self.low = low
        self.high = high
        self.count = high - low + 1
        self._rng = rng
        # RFC 6056 §3.3.3: secret_key, "chosen at random at boot" — here drawn from the injected RNG.
        secret = rng.getrandbits(128)
        self._k0 = secret & 0xFFFFFFFFFFFFFFFF  # the SipHash key's two halves
        self._k1 = secret >> 64
        self._next = rng.getrandbits(16)  # next_ephemeral, "initialised to some random value"

    def _offset(self, local_ip: int, remote_ip: int, remote_port: int) -> int:
        # RFC 6056 §3.3.3: offset = F(local_addr, remote_addr, remote_port, secret_key), F a keyed hash
        # (SipHash-2-4, as Linux).
        return siphash24_words(self._k0, self._k1, (local_ip << 32) | remote_ip, remote_port)

    def connect_port(self, local_ip: int, remote_ip: int, remote_port: int,
                     suitable: Callable[[int], bool]) -> int | None:
        """RFC 6056 Algorithm 3 for a connection to ``remote_ip:remote_port``; None when all are in use."""
        offset = self._offset(local_ip, remote_ip, remote_port)
        low, num = self.low, self.count
        for _ in range(num):
            port = low + (self._next + offset) % num
            self._next += 1
            if suitable(port):
                return port
        return None

    def random_port(self, suitable: Callable[[int], bool]) -> int | None:
        """RFC 6056 Algorithm 1 (random start, linear probe) when no remote endpoint is known."""
        low, num = self.low, self.count
        start = self._rng.randrange(num)
        for i in range(num):
            port = low + (start + i) % num
            if suitable(port):
                return port
        return None
