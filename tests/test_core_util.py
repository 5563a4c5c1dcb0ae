"""Helpers for the core tests: hosts on a virtual clock wired by an in-test frame shuttle.

No link devices (core must not depend on link): ``Net`` moves frames from ``poll_egress`` of one host
to ``receive_frames`` of the peer, optionally through a filter that can drop or record frames.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from aiostack.config import IpConfig, TcpConfig
from aiostack.core.host import Host
from aiostack.wire.vnet import OffloadFrame

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
MAC_C = bytes.fromhex("020000000003")
IP_A = 0xC6120001  # 198.18.0.1
IP_B = 0xC6120002  # 198.18.0.2
IP_C = 0xC6120003


def make_host(seed: int = 1, ip_config: IpConfig | None = None, tcp_config: TcpConfig | None = None) -> Host:
    rng = random.Random(seed)
    return Host(rng=rng, isn_secret=bytes(range(16)), ip_config=ip_config, tcp_config=tcp_config)


class Net:
    """Links between (host, ifindex) ports; ``run`` shuttles frames and fires timers on a virtual clock."""

    def __init__(self) -> None:
        self.now = 0
        self.links: dict[tuple[int, int], tuple[Host, int] | None] = {}
        self.hosts: list[Host] = []
        self.sent: list[tuple[Host, int, Any]] = []  # every frame that left any host
        self.filter: Callable[[Host, int, Any], bool] | None = None  # False: drop the frame
        self.batch = False  # True: each host's egress reaches each peer in one receive_frames call

    def add(self, host: Host) -> Host:
        if host not in self.hosts:
            self.hosts.append(host)
        return host

    def wire(self, a: Host, ia: int, b: Host, ib: int) -> None:
        self.add(a)
        self.add(b)
        self.links[(id(a), ia)] = (b, ib)
        self.links[(id(b), ib)] = (a, ia)

    def loop(self, h: Host, ifindex: int) -> None:
        self.add(h)
        self.links[(id(h), ifindex)] = (h, ifindex)

    def step(self) -> int:
        moved = 0
        for h in list(self.hosts):
            batches: dict[tuple[int, int], tuple[Host, int, list[Any]]] = {}
            for ifindex, frame in h.poll_egress(self.now):
                self.sent.append((h, ifindex, frame))
                moved += 1
                if self.filter is not None and not self.filter(h, ifindex, frame):
                    continue
                peer = self.links.get((id(h), ifindex))
                if peer is None:
                    continue
                if self.batch:
                    batches.setdefault((id(peer[0]), peer[1]), (peer[0], peer[1], []))[2].append(frame)
                else:
                    peer[0].receive_frames(peer[1], [frame], self.now)
            for host, ifindex, frames in batches.values():
                host.receive_frames(ifindex, frames, self.now)
        return moved

    def settle(self, max_steps: int = 1000) -> None:
        for _ in range(max_steps):
            if not self.step():
                return
        raise AssertionError("frames still moving after max_steps")

    def advance(self, us: int) -> None:
        """Move the clock forward by ``us``, firing every timer on the way, settling after each."""
        end = self.now + us
        self.settle()
        while True:
            due = [t for t in (h.poll_at() for h in self.hosts) if t is not None]
            nxt = min(due) if due else None
            if nxt is None or nxt > end:
                break
            self.now = max(self.now, nxt)
            for h in self.hosts:
                t = h.poll_at()
                if t is not None and t <= self.now:
                    h.handle_timer(self.now)
            self.settle()
        self.now = end
        self.settle()


def two_hosts(mtu: int = 1500, caps: Any = None, ip_config: IpConfig | None = None,
              tcp_config: TcpConfig | None = None) -> tuple[Net, Host, Host]:
    net = Net()
    a = make_host(1, ip_config, tcp_config)
    b = make_host(2, ip_config, tcp_config)
    ia = a.add_interface("eth0", MAC_A, "198.18.0.1/24", mtu=mtu, caps=caps)
    ib = b.add_interface("eth0", MAC_B, "198.18.0.2/24", mtu=mtu, caps=caps)
    net.wire(a, ia, b, ib)
    return net, a, b


def frame_bytes(frame: Any) -> bytes:
    """The Ethernet bytes of a frame item (``OffloadFrame.data`` for offload frames)."""
    return bytes(frame.data) if isinstance(frame, OffloadFrame) else bytes(frame)
