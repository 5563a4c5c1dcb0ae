"""TCP connection states (RFC 9293 §3.3.2, figure 5).

Read first: RFC 9293 §3.3.2 (state machine), §3.10 (event processing).
"""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
    CLOSED = 0
    LISTEN = 1
    SYN_SENT = 2
    SYN_RECEIVED = 3
    ESTABLISHED = 4
    FIN_WAIT_1 = 5
    FIN_WAIT_2 = 6
    CLOSE_WAIT = 7
    CLOSING = 8
    LAST_ACK = 9
    TIME_WAIT = 10

    def __str__(self) -> str:
        return self.name.replace("_", "-")


CLOSED = State.CLOSED
LISTEN = State.LISTEN
SYN_SENT = State.SYN_SENT
SYN_RECEIVED = State.SYN_RECEIVED
ESTABLISHED = State.ESTABLISHED
FIN_WAIT_1 = State.FIN_WAIT_1
FIN_WAIT_2 = State.FIN_WAIT_2
CLOSE_WAIT = State.CLOSE_WAIT
CLOSING = State.CLOSING
LAST_ACK = State.LAST_ACK
TIME_WAIT = State.TIME_WAIT

# RFC 9293 §3.3.2: the synchronized states (a SYN was sent and received).
SYNCHRONIZED = frozenset(
    {ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT}
)
# States in which new data from the peer is accepted (RFC 9293 §3.10.7.4, seventh step).
RECEIVES_DATA = frozenset({SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2})
# States in which our side may still transmit data or a FIN (first time or retransmitted).
SENDS_DATA = frozenset({ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, CLOSING, LAST_ACK})
# States after our FIN was queued.
FIN_QUEUED_STATES = frozenset({FIN_WAIT_1, FIN_WAIT_2, CLOSING, LAST_ACK, TIME_WAIT})
