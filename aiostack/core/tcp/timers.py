"""The timers of one TCP connection, as absolute deadlines in µs (None = not armed).

Read first: RFC 6298 §5 (retransmission timer), RFC 8985 §7 (tail loss probe), RFC 9293 §3.8.6.1 (persist / zero-window probes),
RFC 9293 §3.8.6.3 and RFC 5681 §4.2 (delayed ACK), RFC 1122 §4.2.3.6 (keep-alive),
RFC 9293 §3.6.1 (TIME-WAIT, 2×MSL), Linux tcp_fin_timeout (orphaned FIN-WAIT-2).
"""

from __future__ import annotations

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]


def _earlier(a: int | None, b: int | None) -> int | None:
    """The earlier of two deadlines, None meaning not armed."""
    if a is None or (b is not None and b < a):
        return b
    return a


@cython.no_gc
@cython.cclass
class Timers:
    """Deadlines only; the connection decides what each one does when it fires."""

    __slots__ = ("rto", "tlp", "delack", "persist", "keepalive", "time_wait", "fin_wait2")

    def __init__(self) -> None:
        self.rto: int | None = None  # RFC 6298: retransmission (also SYN / SYN-ACK retransmission)
        self.tlp: int | None = None  # RFC 8985 §7: tail loss probe (PTO)
        self.delack: int | None = None  # RFC 5681 §4.2: delayed ACK
        self.persist: int | None = None  # RFC 9293 §3.8.6.1: zero-window probe
        self.keepalive: int | None = None  # RFC 1122 §4.2.3.6
        self.time_wait: int | None = None  # RFC 9293 §3.6.1: 2×MSL
        self.fin_wait2: int | None = None  # orphaned FIN-WAIT-2 (Linux tcp_fin_timeout)

    def earliest(self) -> int | None:
        # pairwise, without a tuple of the seven per call: this runs after every segment
        best = _earlier(self.rto, self.tlp)
        best = _earlier(best, self.delack)
        best = _earlier(best, self.persist)
        best = _earlier(_earlier(best, self.keepalive), self.time_wait)
        return _earlier(best, self.fin_wait2)

    def clear(self) -> None:
        self.rto = self.tlp = self.delack = self.persist = self.keepalive = self.time_wait = self.fin_wait2 = None

    def snapshot(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in self.__slots__}
