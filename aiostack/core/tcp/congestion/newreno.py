"""NewReno congestion control: RFC 5681 slow start / congestion avoidance with RFC 3465 byte counting.

Read first: RFC 5681 §3.1-3.2, RFC 3465, RFC 6582 (the recovery procedure itself lives in the engine;
this class supplies ssthresh = max(FlightSize / 2, 2*SMSS) on loss and cwnd growth per ACK).
All of it is the base class's common behaviour; NewReno is the base with a registry name.
"""

from __future__ import annotations

from aiostack.core.tcp.congestion.base import CongestionControl

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]


@cython.no_gc
@cython.cclass
class NewReno(CongestionControl):
    name = "newreno"

    __slots__ = ()
