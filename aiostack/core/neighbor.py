"""ARP: the neighbour cache, resolution with a bounded pending queue, replies and gratuitous ARP.

Read first: RFC 826 (packet format and the "merge" receive algorithm), RFC 1122 §2.3.2.1 (cache
timeout; at most one request per second per destination, "flooding" prevention) and §2.3.2.2 (queue of
packets waiting for resolution: keep at least one, drop the rest when full), RFC 5227 §2.3/§3
(announcements: gratuitous ARP requests with sender and target address both ours).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from aiostack.config import IpConfig
from aiostack.stats import Counters

ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV4 = 0x0800
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = bytes(6)
ARP_LEN = 28
OP_REQUEST = 1  # RFC 826 ar$op
OP_REPLY = 2
HTYPE_ETHERNET = 1
MAX_ENTRIES = 4096

# htype, ptype, hlen, plen, op, sha, spa, tha, tpa
_ARP = struct.Struct("!HHBBH6sI6sI")
_ETH = struct.Struct("!6s6sH")


def build_arp_frame(op: int, src_mac: bytes, sender_ip: int, target_mac: bytes, target_ip: int,
                    eth_dst: bytes) -> bytearray:
    frame = bytearray(14 + ARP_LEN)
    _ETH.pack_into(frame, 0, eth_dst, src_mac, ETHERTYPE_ARP)
    _ARP.pack_into(frame, 14, HTYPE_ETHERNET, ETHERTYPE_IPV4, 6, 4, op, src_mac, sender_ip, target_mac,
                   target_ip)
    return frame


class _Pending:
    __slots__ = ("ifindex", "src_ip", "queue", "tries", "next_try_us")

    def __init__(self, ifindex: int, src_ip: int) -> None:
        self.ifindex = ifindex
        self.src_ip = src_ip
        self.queue: list[tuple[Any, Any]] = []  # (frame with the destination MAC still to fill, owner)
        self.tries = 0
        self.next_try_us = 0


class NeighborCache:
    """The ARP engine for all interfaces of a host.

    ``output(ifindex, frame)`` is called for frames to transmit; ``unreachable(owner)`` for each distinct
    owner of packets dropped when resolution failed. Frames queued while resolving carry any destination
    MAC; it is written into bytes 0..5 (of the frame, or of ``OffloadFrame.data``) when the reply comes.
    """

    __slots__ = ("config", "counters", "entries", "pending", "_output", "_unreachable", "_ifaces", "_refresh",
                 "_retry_us", "_refresh_window_us")

    def __init__(self, config: IpConfig, counters: Counters, output: Callable[[int, Any], None],
                 unreachable: Callable[[Any, int, int], None], ifaces: dict[int, Any]) -> None:
        self.config = config
        self.counters = counters
        self.entries: dict[int, tuple[bytes, int]] = {}  # ip -> (mac, expires_us)
        self.pending: dict[int, _Pending] = {}
        self._output = output
        self._unreachable = unreachable
        self._ifaces = ifaces
        self._refresh: dict[int, int] = {}  # ip -> when the last refresh request went out
        # Refresh during the last (retries + 1) request intervals of an entry's life, once per interval.
        self._retry_us = config.arp_retry_interval_us
        self._refresh_window_us = config.arp_retry_interval_us * (config.arp_max_retries + 1)

    # --- lookups ------------------------------------------------------------------------------------

    def lookup(self, ip: int, now_us: int, iface: Any = None) -> bytes | None:
        """The MAC for ``ip``, or None. With ``iface`` (the interface traffic is leaving by), an entry in
        use near the end of its life is refreshed by a unicast request (RFC 1122 §2.3.2.1 "unicast
        poll"), so active flows never stall on expiry."""
        e = self.entries.get(ip)
        if e is None:
            return None
        mac, expires = e
        now = now_us  # (compiled: C integers for the two comparisons, see neighbor.pxd)
        if expires <= now:  # RFC 1122 §2.3.2.1: entries time out
            del self.entries[ip]
            self._refresh.pop(ip, None)
            self.counters.inc("cache_expired")
            return None
        if iface is not None and expires - now <= self._refresh_window_us:
            last = self._refresh.get(ip)
            if last is None or now_us - last >= self._retry_us:
                self._refresh[ip] = now_us
                self._output(iface.ifindex, build_arp_frame(OP_REQUEST, iface.mac, iface.ip, ZERO_MAC, ip, mac))
                self.counters.inc("requests_sent")
                self.counters.inc("refresh_requests")
        return mac

    def _learn(self, ip: int, mac: bytes, now_us: int) -> None:
        entries = self.entries
        if ip not in entries and len(entries) >= MAX_ENTRIES:
            old = next(iter(entries))
            del entries[old]
            self._refresh.pop(old, None)
            self.counters.inc("cache_evicted")
        entries[ip] = (mac, now_us + self.config.arp_cache_ttl_us)
        self._refresh.pop(ip, None)
        p = self.pending.pop(ip, None)
        if p is not None:
            self.counters.inc("resolved")
            for frame, _owner in p.queue:
                _set_dst_mac(frame, mac)
                self._output(p.ifindex, frame)

    # --- egress -------------------------------------------------------------------------------------

    def enqueue(self, ifindex: int, src_ip: int, next_hop: int, frame: Any, owner: Any, now_us: int) -> None:
        """Hold ``frame`` until ``next_hop`` resolves; send a request if none went out this second."""
        p = self.pending.get(next_hop)
        if p is None:
            p = _Pending(ifindex, src_ip)
            self.pending[next_hop] = p
        if len(p.queue) >= self.config.arp_pending_max_packets:
            # RFC 1122 §2.3.2.2: the queue is bounded; the oldest packet gives way.
            p.queue.pop(0)
            self.counters.drop("pending_queue_full")
        p.queue.append((frame, owner))
        if p.tries == 0:
            self._request(next_hop, p, now_us)

    def _request(self, ip: int, p: _Pending, now_us: int) -> None:
        iface = self._ifaces.get(p.ifindex)
        if iface is None:
            return
        p.tries += 1
        # RFC 1122 §2.3.2.1: at most one request per second (arp_retry_interval_us) per address.
        p.next_try_us = now_us + self.config.arp_retry_interval_us
        self._output(p.ifindex, build_arp_frame(OP_REQUEST, iface.mac, p.src_ip or iface.ip, ZERO_MAC, ip,
                                                BROADCAST_MAC))
        self.counters.inc("requests_sent")

    def announce(self, iface: Any) -> None:
        """RFC 5227 §3: gratuitous ARP (an announcement) when an interface comes up."""
        self._output(iface.ifindex, build_arp_frame(OP_REQUEST, iface.mac, iface.ip, ZERO_MAC, iface.ip,
                                                    BROADCAST_MAC))
        self.counters.inc("gratuitous_sent")

    # --- timers -------------------------------------------------------------------------------------

    def poll_at(self) -> int | None:
        best: int | None = None
        for p in self.pending.values():
            if best is None or p.next_try_us < best:
                best = p.next_try_us
        return best

    def handle_timer(self, now_us: int) -> None:
        maxr = self.config.arp_max_retries
        for ip in [ip for ip, p in self.pending.items() if p.next_try_us <= now_us]:
            p = self.pending[ip]
            if p.tries >= maxr:
                del self.pending[ip]
                self.counters.inc("resolution_failed")
                self.counters.drop("unresolved", len(p.queue))
                seen: set[int] = set()
                for _frame, owner in p.queue:
                    if owner is not None and id(owner) not in seen:
                        seen.add(id(owner))
                        self._unreachable(owner, ip, now_us)
            else:
                self._request(ip, p, now_us)

    def forget_interface(self, ifindex: int) -> None:
        for ip in [ip for ip, p in self.pending.items() if p.ifindex == ifindex]:
            del self.pending[ip]

    # --- ingress ------------------------------------------------------------------------------------

    def receive(self, iface: Any, frame: memoryview, now_us: int) -> None:
        """One received ARP frame (Ethernet header included). Bad input is dropped and counted."""
        c = self.counters
        if len(frame) < 14 + ARP_LEN:
            c.drop("truncated")
            return
        htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = _ARP.unpack_from(frame, 14)
        if htype != HTYPE_ETHERNET or ptype != ETHERTYPE_IPV4 or hlen != 6 or plen != 4:
            c.drop("bad_format")  # RFC 826: only Ethernet/IPv4 is spoken here
            return
        if op != OP_REQUEST and op != OP_REPLY:
            c.drop("bad_opcode")
            return
        if sha[0] & 1 or sha == ZERO_MAC:
            c.drop("bad_sender_mac")  # a broadcast/multicast or zero sender hardware address is bogus
            return
        if spa == iface.ip and sha != iface.mac:
            c.inc("address_conflicts")  # RFC 5227 §2.4: someone else claims our address
            return
        if spa == iface.ip:
            c.drop("own_packet")
            return
        if (spa >> 24) in (0, 127) and spa != 0 or spa >= 0xE0000000:
            c.drop("bad_sender_ip")
            return
        # RFC 826 merge: update an existing entry for the sender; add one when we are the target.
        merged = False
        if spa != 0 and (spa in self.entries or spa in self.pending):
            self._learn(spa, bytes(sha), now_us)
            merged = True
        if tpa != iface.ip:
            c.inc("not_for_us")
            return
        if spa != 0 and not merged:
            self._learn(spa, bytes(sha), now_us)
        if op == OP_REQUEST:
            c.inc("requests_received")
            self._output(iface.ifindex, build_arp_frame(OP_REPLY, iface.mac, iface.ip, bytes(sha), spa,
                                                        bytes(sha)))
            c.inc("replies_sent")
        else:
            c.inc("replies_received")

    def table(self, now_us: int | None = None) -> list[tuple[int, bytes, int]]:
        return [(ip, mac, exp) for ip, (mac, exp) in self.entries.items() if now_us is None or exp > now_us]


def _set_dst_mac(frame: Any, mac: bytes) -> None:
    buf = frame if isinstance(frame, bytearray) else getattr(frame, "data", None)
    if isinstance(buf, bytearray):
        buf[0:6] = mac
    elif isinstance(buf, memoryview) and not buf.readonly:
        buf[0:6] = mac
