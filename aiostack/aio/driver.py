"""The driver: runs a sans-I/O ``Host`` and its link devices on an asyncio event loop.

Shape (DESIGN §3.9-3.10):

* one readiness callback per fd device (``loop.add_reader``), at most
  ``DriverConfig.max_frames_per_callback`` frames per call, then it yields to the loop (the fd stays
  readable, so the loop calls again);
* in-memory devices (``fileno() is None``) wake the driver through ``set_wakeup`` (their readiness
  callback): an idle driver flushes at once, one already flushing comes back next iteration; frames are
  read in the flush, with the same cap;
* virtual-time devices (``Netsim`` ends) are advanced to the loop's time, and their ``poll_at()`` joins
  the host's in the one timer;
* one ``TimerHandle``, never later than the earliest deadline: re-armed only for an earlier one (a
  deadline that moved later lets the armed one fire early and re-arm);
* one coalesced flush per loop iteration (``call_soon``): ingress → timers → events to the transports →
  egress → timer; a transport write flushes at once unless a write already did since the last flush
  (autocorking, ``write_kick``): then it and the writes after it leave together at the end of the
  iteration; the blocked writers are refilled only while there are some;
* a device that reports its free transmit room (``tx_room()``, the in-memory ends) gets no more frames
  than fit: the rest wait in a bounded per-port backlog (``DriverConfig.tx_backlog_frames``, overflow
  counted in ``backlog_drops``) and go out oldest first in the next iterations, as a qdisc holds packets
  for a full NIC ring instead of the ring dropping them.

``now_us()`` here is the only place in aiostack that reads the loop's clock.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from collections.abc import Callable, Collection
from typing import Any

from aiostack.config import DriverConfig


class _Port:
    """One device attached to one host interface."""

    __slots__ = ("ifindex", "device", "fd", "virtual", "pending", "out", "tx_room", "backlog")

    def __init__(self, ifindex: int, device: Any) -> None:
        self.ifindex = ifindex
        self.device = device
        self.fd: int | None = device.fileno()
        self.virtual = hasattr(device, "advance") and hasattr(device, "poll_at")
        self.pending = False  # in-memory device signalled frames not read yet
        self.out: list[Any] = []  # egress frames collected in this flush
        # A device that says how many frames it takes now (in-memory ends): the rest wait in ``backlog``
        # (oldest first) until the receiver has drained its queue.
        self.tx_room: Callable[[], int] | None = getattr(device, "tx_room", None)
        self.backlog: collections.deque[Any] | None = None


class Driver:
    __slots__ = ("loop", "host", "config", "_cap", "_dispatch", "_after_ingress", "_waiting", "_ports", "_port_list", "_virtual",
                 "_scheduled", "_corked", "_flushing", "_timer_fired", "_timer", "_timer_at", "_closed",
                 "_time", "flushes", "backlog_drops", "_backlogged", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop, host: Any, config: DriverConfig,
                 dispatch: Callable[[list[Any]], None], after_ingress: Callable[[], None],
                 waiting: Collection[Any] | None = None) -> None:
        self.loop = loop
        self.host = host
        self.config = config
        self._cap = config.max_frames_per_callback  # read per flush: a field, not a look-up on the config
        self._dispatch = dispatch  # called with host.pop_ready() results
        self._after_ingress = after_ingress  # lets blocked writers refill the engines' send buffers
        # what after_ingress serves (the blocked writers): while it is empty the call is skipped
        self._waiting = waiting
        self._ports: dict[int, _Port] = {}
        self._port_list: list[_Port] = []  # the values of _ports, for the flush's ingress loop
        self._virtual: list[_Port] = []
        self._scheduled = False  # a _flush is queued with call_soon
        self._corked = False  # a write flushed at once since the last flush: the next ones coalesce
        self._flushing = False
        self._timer_fired = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._closed = False
        # The loop's clock. asyncio's own loops read time.monotonic() in a Python method: read it directly
        # (the same value, without a Python frame per flush); any other loop's time() is used as it is.
        clock = loop.time
        self._time = time.monotonic if getattr(clock, "__func__", None) is asyncio.BaseEventLoop.time else clock
        self.flushes = 0
        self.backlog_drops = 0  # frames lost because a device's transmit backlog was full
        self._backlogged: list[_Port] = []  # ports holding frames back

    # -- the clock ----------------------------------------------------------------------------------------
    def now_us(self) -> int:
        return int(self._time() * 1_000_000)

    # -- devices ------------------------------------------------------------------------------------------
    def attach(self, ifindex: int, device: Any) -> None:
        port = _Port(ifindex, device)
        self._ports[ifindex] = port
        self._port_list = list(self._ports.values())
        if port.virtual:
            self._virtual.append(port)
        if port.fd is not None:
            self.loop.add_reader(port.fd, self._on_readable, port)
        else:
            device.set_wakeup(functools.partial(self._on_wakeup, port))
            port.pending = True
        self.kick()

    def _on_wakeup(self, port: _Port) -> None:
        """An in-memory device got frames (the peer's egress is running). When this driver is idle it
        takes them at once - what an fd reader does when the kernel signals readiness - saving the peer a
        loop iteration per hop; inside its own flush it comes back in the next iteration."""
        port.pending = True
        if self._closed:
            return
        if not self._flushing:
            self._flush_now()  # an error never reaches the peer's egress
            return
        self._request()

    def _flush_now(self) -> None:
        """Flush from inside someone else's call (a peer's send, an application's write): an error is
        reported to the loop's exception handler, never raised into the caller."""
        try:
            self.flush()
        except Exception as exc:
            self.loop.call_exception_handler({"message": "aiostack driver flush failed", "exception": exc})

    def _on_readable(self, port: _Port) -> None:
        """The fd's readiness callback: at most the cap of frames, processed and answered at once (the fd
        stays readable if more wait, so the loop calls again after other callbacks had their turn)."""
        frames = port.device.receive_batch(self._cap)
        if frames and not self._closed:
            self.host.receive_frames(port.ifindex, frames, self.now_us())
            self.flush()

    # -- the flush ----------------------------------------------------------------------------------------
    def kick(self) -> None:
        """Ask for one flush in this loop iteration (coalesced). Inside a flush nothing is needed: its
        egress step still comes and polls whatever the callbacks changed."""
        if not self._flushing:
            self._request()

    def _request(self) -> None:
        """One flush in the next round of callbacks (coalesced)."""
        if self._closed or self._scheduled:
            return
        self._scheduled = True
        self.loop.call_soon(self._flush)

    def notify(self, conn: Any) -> None:
        """A user call changed ``conn`` (a read opened its window, a close queued a FIN): the host polls
        it in this iteration's flush."""
        self.host.notify(conn)
        self.kick()

    def notify_write(self, conn: Any) -> None:
        """A transport wrote to ``conn``: the host polls it, flushed as ``write_kick`` says."""
        self.host.notify(conn)
        self.write_kick()

    def write_kick(self) -> None:
        """A transport write. Autocorking, as Linux holds small writes back while an earlier segment is
        still queued: a write flushes at once (its segment leaves before ``write()`` returns, as a socket
        ``send()`` does, and the peer may answer in this same iteration) unless a write already did since
        the driver's last flush; then it joins one flush at the end of the loop iteration with the writes
        after it. Any other flush (the peer's answer arriving, a timer) ends the corked state, so a
        request/response exchange never waits for a scheduled callback."""
        if self._closed:
            return
        if self._flushing:
            return  # the running flush's egress step polls the connection
        if self._corked or self._scheduled:
            self._request()
            return
        self._flush_now()  # an error never reaches the application's write()
        self._corked = True

    def _flush(self) -> None:
        self._scheduled = False
        if not self._closed:
            self.flush()

    def flush(self) -> None:
        """Ingress from in-memory devices, timers, events, egress; then re-arm the timer."""
        self.flushes += 1
        self._corked = False
        host = self.host
        now = int(self._time() * 1_000_000)
        cap = self._cap
        more = False
        self._flushing = True
        try:
            if self._virtual:
                for port in self._virtual:
                    port.device.advance(now)
            for port in self._port_list:
                if port.pending:
                    port.pending = False
                    frames = port.device.receive_batch(cap)
                    if frames:
                        host.receive_frames(port.ifindex, frames, now)
                        if len(frames) >= cap:
                            port.pending = more = True  # more may be queued: come back next iteration
            # The armed deadline is never later than the host's earliest (``_arm`` re-arms only for an
            # earlier one; user calls in between only add later ones), so while it lies ahead nothing
            # is due. Once it passed (or fired), the host's real deadline decides; a timer that is due
            # runs now rather than one iteration later.
            at = self._timer_at
            if at is not None and (at <= now or self._timer_fired):
                due = host.poll_at()
                if due is not None and (due <= now or (self._timer_fired and due <= at)):
                    # the loop may run a timer up to its clock resolution early: it is due all the same
                    host.handle_timer(due if due > now else now)
            self._timer_fired = False
            waiting = self._waiting
            if waiting is None or waiting:
                self._after_ingress()
            ready = host.pop_ready()
            if ready:
                self._dispatch(ready)
            self._egress(now)
            ready = host.pop_ready()
            if ready:
                self._dispatch(ready)
                self._egress(now)
        finally:
            self._flushing = False
        if more:
            self.kick()
        self._arm()

    def _egress(self, now: int) -> None:
        out = self.host.poll_egress(now)
        if self._backlogged:
            self._send_backlog()
        if not out:
            return
        ports = self._ports
        if len(out) == 1:  # one frame (an echo, an ACK): no grouping
            ifindex, frame = out[0]
            port = ports.get(ifindex)
            if port is not None:
                # _send for one frame, inline: a ping-pong sends one frame per flush (the extra call cost
                # ~4 % of its round trips)
                room_of = port.tx_room
                if room_of is None or (not port.backlog and room_of()):
                    port.device.send_batch([frame])
                else:
                    self._send(port, [frame])
            return
        if len(ports) == 1:
            only = next(iter(ports.values()))
            self._send(only, [f for _, f in out])
            return
        used: list[_Port] = []
        for ifindex, frame in out:
            port = ports.get(ifindex)
            if port is None:
                continue
            if not port.out:
                used.append(port)
            port.out.append(frame)
        for port in used:
            frames, port.out = port.out, []
            self._send(port, frames)

    def _send(self, port: _Port, frames: list[Any]) -> None:
        room_of = port.tx_room
        if room_of is None:
            port.device.send_batch(frames)
            return
        backlog = port.backlog
        if backlog:  # older frames wait: keep the order
            self._hold(port, frames, 0)
            return
        room = room_of()
        if len(frames) <= room:
            port.device.send_batch(frames)
            return
        if room:
            port.device.send_batch(frames[:room])
        self._hold(port, frames, room)

    def _hold(self, port: _Port, frames: list[Any], start: int) -> None:
        """Keep ``frames[start:]`` for the device (bounded; the excess is dropped and counted)."""
        backlog = port.backlog
        if backlog is None:
            backlog = port.backlog = collections.deque()
        if not backlog:
            self._backlogged.append(port)
        limit = self.config.tx_backlog_frames
        for k in range(start, len(frames)):
            if len(backlog) >= limit:
                self.backlog_drops += len(frames) - k
                break
            backlog.append(frames[k])
        self._request()  # come back next iteration: the receiver drains its queue in between

    def _send_backlog(self) -> None:
        """Hand held frames to their devices as far as they have room (oldest first)."""
        still: list[_Port] = []
        for port in self._backlogged:
            backlog = port.backlog
            assert backlog is not None and port.tx_room is not None
            room = port.tx_room()
            n = len(backlog) if len(backlog) < room else room
            if n:
                popleft = backlog.popleft
                port.device.send_batch([popleft() for _ in range(n)])
            if backlog:
                still.append(port)
        self._backlogged = still
        if still:
            self._request()

    def _arm(self) -> None:
        """Keep one ``TimerHandle`` no later than the earliest deadline. Deadlines that move later (the
        delayed-ACK or retransmission timer pushed back by every segment) cost nothing: the armed handle
        stays, fires early, finds nothing due and is re-armed for the real deadline. Only an earlier
        deadline replaces the handle."""
        at = self.host.poll_at()
        for port in self._virtual:
            t = port.device.poll_at()
            if t is not None and (at is None or t < at):
                at = t
        if at is None or self._closed:
            if self._timer is not None:  # nothing pending: no timer stays scheduled
                self._timer.cancel()
                self._timer = None
            self._timer_at = None
            return
        timer = self._timer
        if timer is not None:
            armed = self._timer_at
            if armed is not None and armed <= at:
                return
            timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at / 1_000_000, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None  # _timer_at stays: the flush compares the host's deadline with it
        if not self._closed:
            self._timer_fired = True
            self.flush()

    # -- shutdown -----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop: no reader, no timer, nothing scheduled that does work (devices are closed by the owner)."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for port in self._ports.values():
            if port.fd is not None:
                self.loop.remove_reader(port.fd)
            else:
                port.device.set_wakeup(None)
