"""A connection's timers: deadlines in µs, None when not armed."""

from __future__ import annotations

import itertools

from aiostack.core.tcp.timers import Timers


def test_timers_earliest_is_the_minimum_of_the_armed_deadlines() -> None:
    """``Timers.earliest`` (run after every segment): the smallest armed deadline, None when none is."""
    names = ("rto", "tlp", "delack", "persist", "keepalive", "time_wait", "fin_wait2")
    t = Timers()
    assert t.earliest() is None
    for picks in itertools.product((None, 5, 9), repeat=len(names)):
        for name, value in zip(names, picks, strict=True):
            setattr(t, name, value)
        armed = [v for v in picks if v is not None]
        assert t.earliest() == (min(armed) if armed else None), picks
    t.clear()
    assert t.earliest() is None
