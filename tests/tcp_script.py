"""Packet-level scripting for the TCP engine (packetdrill / smoltcp style).

A ``Script`` holds one ``TcpConnection`` (our side) and plays the remote peer by hand:

    s = Script.client()                       # reached by a real handshake
    s.inject("P.", seq=s.r(1), ack=s.l(1), payload=b"hi")
    s.expect_nothing()                        # the ACK is delayed
    s.advance(40_000)
    s.expect(".", seq=s.l(1), ack=s.r(3))    # ... until the delayed-ACK timer fires

``inject`` delivers a segment from the peer; ``expect`` polls the engine and asserts *exactly* the given
segments came out (each given as flags plus the fields to check); ``advance`` moves the virtual clock and
runs the timers. Sequence numbers are written relative to our ISS (``s.l(n)``) or the peer's (``s.r(n)``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiostack.config import TcpConfig
from aiostack.core.tcp.connection import TcpConnection
from aiostack.core.tcp.events import TcpEvent
from aiostack.core.tcp.listener import TcpListener
from aiostack.core.tcp.segment import Segment
from aiostack.wire.tcp import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG

LOCAL_IP = 0xC6120001  # 198.18.0.1
REMOTE_IP = 0xC6120002  # 198.18.0.2
LOCAL_PORT = 40000
REMOTE_PORT = 80
SECRET = b"scripted-test-secret"
PEER_ISS = 1_000_000

_LETTERS = {"S": SYN, "F": FIN, "R": RST, "P": PSH, ".": ACK, "U": URG, "E": ECE, "W": CWR}


def flags_of(spec: str | int) -> int:
    if isinstance(spec, int):
        return spec
    f = 0
    for ch in spec:
        f |= _LETTERS[ch]
    return f


def cfg(**kw: Any) -> TcpConfig:
    return dataclasses.replace(TcpConfig(), **kw)


class Script:
    def __init__(self, conn: TcpConnection, now_us: int = 0, peer_iss: int = PEER_ISS) -> None:
        self.conn = conn
        self.now = now_us
        self.peer_iss = peer_iss
        self.sent: list[Segment] = []  # everything the engine emitted, in order
        self.pending: list[Segment] = []  # emitted while ``advance`` ran timers, not yet expected

    # --- construction ----------------------------------------------------------------------------
    @classmethod
    def new(cls, config: TcpConfig | None = None, *, mss: int = 1460, now_us: int = 0,
            local_port: int = LOCAL_PORT, peer_iss: int = PEER_ISS) -> Script:
        conn = TcpConnection(LOCAL_IP, local_port, REMOTE_IP, REMOTE_PORT, config=config or TcpConfig(),
                             isn_secret=SECRET, mss=mss, now_us=now_us)
        return cls(conn, now_us, peer_iss)

    @classmethod
    def client(cls, config: TcpConfig | None = None, *, mss: int = 1460, peer_mss: int = 1460,
               peer_wscale: int | None = 7, peer_window: int = 65535, ts: bool = True, sack: bool = True,
               peer_iss: int = PEER_ISS, now_us: int = 0) -> Script:
        """An ESTABLISHED active opener, reached by SYN / SYN-ACK / ACK."""
        s = cls.new(config, mss=mss, now_us=now_us, peer_iss=peer_iss)
        s.conn.connect(s.now)
        syn = s.expect("S", seq=s.l(0))[0]
        s.inject("S.", seq=s.r(0), ack=s.l(1), window=peer_window, mss=peer_mss, wscale=peer_wscale,
                 sack_permitted=sack, ts_val=(5000 if ts else None), ts_ecr=(syn.ts_val if ts else None))
        s.expect(".", seq=s.l(1), ack=s.r(1))
        assert s.conn.state.name == "ESTABLISHED"
        s.events()
        return s

    @classmethod
    def server(cls, config: TcpConfig | None = None, *, mss: int = 1460, peer_mss: int = 1460,
               peer_wscale: int | None = 7, peer_window: int = 65535, ts: bool = True, sack: bool = True,
               peer_iss: int = PEER_ISS, now_us: int = 0) -> Script:
        """An ESTABLISHED passive opener, reached through a listener by SYN / SYN-ACK / ACK."""
        lst = TcpListener(LOCAL_IP, LOCAL_PORT, config=config or TcpConfig(), isn_secret=SECRET, mss=mss,
                          backlog=8)
        syn = Segment(REMOTE_PORT, LOCAL_PORT, peer_iss, 0, SYN, peer_window, b"", peer_mss, peer_wscale,
                      sack, (), 4000 if ts else None, 0 if ts else None)
        conn = lst.on_segment(syn, LOCAL_IP, REMOTE_IP, now_us)
        assert conn is not None
        s = cls(conn, now_us, peer_iss)
        s.listener = lst
        synack = s.expect("S.", seq=s.l(0), ack=s.r(1))[0]
        s.inject(".", seq=s.r(1), ack=s.l(1), window=peer_window >> (peer_wscale or 0) if peer_wscale else
                 peer_window, ts_val=(4001 if ts else None), ts_ecr=(synack.ts_val if ts else None))
        assert conn.state.name == "ESTABLISHED"
        assert lst.accept() is conn
        s.events()
        return s

    listener: TcpListener | None = None

    # --- sequence helpers ------------------------------------------------------------------------
    def l(self, n: int) -> int:  # noqa: E743 - short on purpose, it is used in every line
        return (self.conn.iss + n) & 0xFFFFFFFF

    def r(self, n: int) -> int:
        return (self.peer_iss + n) & 0xFFFFFFFF

    # --- driving ---------------------------------------------------------------------------------
    def seg(self, flags: str | int, *, seq: int, ack: int = 0, window: int = 65535, payload: bytes = b"",
            **opts: Any) -> Segment:
        s = Segment(REMOTE_PORT, self.conn.local_port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags_of(flags),
                    window, payload)
        for k, v in opts.items():
            setattr(s, k, v)
        return s

    def inject(self, flags: str | int, *, seq: int, ack: int = 0, window: int = 65535, payload: bytes = b"",
               **opts: Any) -> None:
        if "ts_val" not in opts and self.conn.ts_ok:
            opts["ts_val"] = self.peer_ts()
            opts.setdefault("ts_ecr", self.conn.ts_now(self.now))
        self.conn.receive_segment(self.seg(flags, seq=seq, ack=ack, window=window, payload=payload, **opts),
                                  self.now)

    def inject_seg(self, seg: Segment) -> None:
        self.conn.receive_segment(seg, self.now)

    _peer_ts = 6000

    def peer_ts(self) -> int:
        """A peer timestamp clock that ticks with the virtual clock (1 ms)."""
        return (self._peer_ts + self.now // 1000) & 0xFFFFFFFF

    def poll(self, max_segment_bytes: int | None = None) -> list[Segment]:
        out = self.pending + self.conn.poll_egress(self.now, max_segment_bytes)
        self.pending = []
        self.sent.extend(out)
        return out

    def expect(self, *specs: Any, max_segment_bytes: int | None = None, **one: Any) -> list[Segment]:
        """Assert exactly these segments come out now. ``expect("P.", seq=.., len=..)`` checks one
        segment; ``expect(("S", {...}), (".", {...}))`` checks several."""
        if one or (len(specs) == 1 and isinstance(specs[0], (str, int))):
            specs = ((specs[0], one),)
        out = self.poll(max_segment_bytes)
        assert len(out) == len(specs), f"expected {len(specs)} segment(s), got {out}"
        for seg, (flags, fields) in zip(out, specs, strict=True):
            check(seg, flags, **fields)
        return out

    def expect_nothing(self) -> None:
        out = self.poll()
        assert out == [], f"expected no segment, got {out}"

    def advance(self, us: int) -> None:
        """Move the clock by ``us`` as a driver would: at each timer deadline on the way run the timers and
        poll the output (kept for the next ``expect``)."""
        end = self.now + us
        conn = self.conn
        for _ in range(100_000):
            at = conn.timers.earliest()
            if at is None or at > end:
                break
            if at > self.now:
                self.now = at
            conn.handle_timer(self.now)
            self.pending.extend(conn.poll_egress(self.now))
        else:  # pragma: no cover - a timer that re-arms in the past
            raise AssertionError("timers do not advance")
        self.now = end

    def advance_to_timer(self) -> int:
        """Jump to the next timer deadline and run it; returns the time jumped."""
        at = self.conn.timers.earliest()
        assert at is not None, "no timer armed"
        dt = max(0, at - self.now)
        self.now = max(self.now, at)
        self.conn.handle_timer(self.now)
        return dt

    def events(self) -> list[TcpEvent]:
        out = []
        while (ev := self.conn.next_event()) is not None:
            out.append(ev)
        return out


def check(seg: Segment, flags: str | int, **fields: Any) -> None:
    want = flags_of(flags)
    assert seg.flags == want, f"flags {seg.flag_str()} != {flags!r} in {seg}"
    for k, v in fields.items():
        if k == "len":
            got: Any = len(seg.payload)
        elif k == "payload":
            got = bytes(seg.payload)
        else:
            got = getattr(seg, k)
        if k in ("seq", "ack") and isinstance(v, int):
            v &= 0xFFFFFFFF
        assert got == v, f"{k}: {got!r} != {v!r} in {seg}"
