"""The host's TCP tables and the TCP per-packet path (demux in, headers and GSO frames out).

Read first: RFC 9293 §3.1 (header), §3.10.7.1 (a segment for no connection gets a RST), §3.8.5
(the 4-tuple identifies a connection), RFC 1191 §6.3 (path MTU for TCP), RFC 5927 §4.1 (check an ICMP
error's quoted sequence number), virtio 1.2 §5.1.6.2 (GSO_TCPV4 / NEEDS_CSUM transmit offload).

Hot path habits: one ``bytearray`` per frame, headers packed straight into it, the payload copied in once
from the engine's memoryview, no frozen header objects per data segment. The engine's entry points
(``segment_arrives``, ``poll_egress``, ``poll_at``, ``handle_timer``) are called as functions, not as the
connection's bound methods: compiled, that is a C call.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import struct
from typing import TYPE_CHECKING, Any

from aiostack.config import IpConfig, TcpConfig
from aiostack.core import icmp as icmpmod
from aiostack.core.interface import Interface, format_ipv4, to_ip
from aiostack.core.ipv4 import ETH_LEN
from aiostack.core.neighbor import BROADCAST_MAC, ZERO_MAC
from aiostack.core.ports import PortAllocator
from aiostack.core.tcp.connection import TcpConnection
from aiostack.core.tcp.input import segment_arrives
from aiostack.core.tcp.listener import TcpListener
from aiostack.core.tcp.output import poll_egress as conn_poll_egress
from aiostack.core.tcp.segment import Segment, make_rst_for, new_segment
from aiostack.core.tcp.state import ESTABLISHED, SYN_RECEIVED
from aiostack.core.tcp.timeouts import handle_timer as conn_handle_timer
from aiostack.core.tcp.timeouts import poll_at as conn_poll_at
from aiostack.errors import AddressInUse, MalformedPacket
from aiostack.fastpath import (
    build_tcp_frame,
    checksum_partial,
    parse_tcp_options,
    pseudo_header_sum,
    seq_le,
    seq_lt,
    tcp_header,
)
from aiostack.stats import Counters, IpCounters, TcpCounters
from aiostack.wire.vnet import GSO_NONE, GSO_TCPV4, NEEDS_CSUM, OffloadFrame

PROTO_TCP = 6
IP_TCP_HEADERS = 40  # RFC 9293 §3.7.1: MSS = MTU - 20 (IP) - 20 (TCP)
TCP_CSUM_OFFSET = 16
GRO_MAX_BYTES = 65535 - 20 - 60  # a coalesced segment stays within what one IPv4 datagram could carry
# Only ordinary-sized segments are coalesced: super-frames from an offload device are big already, and
# joining them would cost a copy for no saving.
GRO_PIECE_MAX = 9000 + 60
FIN = 0x01  # RFC 9293 §3.1 control bits
PSH = 0x08
ACK = 0x10
CWR = 0x80
SOFT_GSO_BYTES = 65535 - 20 - 60  # super-segments asked from the engine when the device has no GSO

_TCP = struct.Struct("!HHIIBBHHH")


def parse_segment(payload: memoryview) -> Segment:
    """A received TCP segment (exactly the IP payload) as a ``Segment``; MalformedPacket on bad input
    (RFC 9293 §3.1: fewer than 20 bytes, or a data offset below 5 words or beyond the segment)."""
    # One compiled call for the header fields and the NOP NOP TS layout of RFC 7323 Appendix A (compiled:
    # C integers, see tcpio.pxd); any other options are parsed apart.
    sport, dport, seq, ack, hl, flags, window, ts_val, ts_ecr = tcp_header(payload)
    seg = new_segment(sport, dport, seq, ack, flags & 0xFF, window, payload[hl:])
    if ts_val >= 0:
        seg.ts_val = ts_val
        seg.ts_ecr = ts_ecr
    elif hl > 20:
        mss, wscale, sack_perm, sack, tv, te = parse_tcp_options(payload, 20, hl)
        seg.mss = mss
        seg.wscale = wscale
        seg.sack_permitted = sack_perm
        if sack:
            seg.sack_blocks = sack
        seg.ts_val = tv
        seg.ts_ecr = te
    return seg


class _ConnRec:
    """The host's bookkeeping for one connection: its key, route and timer entry."""

    __slots__ = ("conn", "key", "iface", "next_hop", "parent", "deadline", "armed", "alive", "dirty")

    def __init__(self, conn: Any, key: tuple[int, int, int, int], iface: Interface, next_hop: int,
                 parent: Any) -> None:
        self.conn = conn
        self.key = key
        self.iface = iface
        self.next_hop = next_hop
        self.parent = parent
        self.deadline: int | None = None  # the connection's earliest timer (conn.poll_at())
        self.armed: int | None = None  # the time of its live entry in the host's timer heap
        self.alive = True
        self.dirty = False  # in TcpIo._tcp_dirty


class _Held:
    """A data segment being coalesced with the ones that follow it in the same receive batch."""

    __slots__ = ("rec", "first", "parts", "next_seq", "nbytes", "flags", "merged", "src", "dst", "sport",
                 "dport", "ack", "window", "hl", "opts")

    def __init__(self, rec: _ConnRec, first: Segment, src: int, dst: int, hl: int, opts: bytes) -> None:
        plen = len(first.payload)
        self.rec = rec
        self.first = first
        self.parts: list[Any] = [first.payload]
        self.next_seq = (first.seq + plen) & 0xFFFFFFFF
        self.nbytes = plen
        self.flags = first.flags
        self.merged = 0
        self.src = src
        self.dst = dst
        self.sport = first.src_port
        self.dport = first.dst_port
        self.ack = first.ack
        self.window = first.window
        self.hl = hl
        self.opts = opts


class TcpIo:
    """Mixed into ``Host``: the TCP 4-tuple and listener tables and the TCP frame path."""

    # As tcpio.pxd declares them: compiled, the host has no instance dict (see there).
    __slots__ = ("c_tcp", "_tcp_retired", "_tcp_ports", "c_ip", "_tcp", "_tcp_by_conn", "_tcp_dirty", "_rx_rec",
                 "_listeners", "_ready", "_tcp_heap", "_egress", "_tcp_tick", "_gro", "_arp", "_ident",
                 "ip_config", "tcp_config", "isn_secret", "_addrs", "_ifaces", "c_eth", "_reasm")

    # Provided by Host.
    ip_config: IpConfig
    tcp_config: TcpConfig
    isn_secret: bytes
    _egress: list[tuple[int, Any]]
    _ident: int
    c_ip: IpCounters
    _ready: dict[Any, Any]
    _arp: Any
    _addrs: dict[int, Interface]
    _ifaces: dict[int, Interface]

    if TYPE_CHECKING:

        def route(self, dst: int) -> tuple[Interface, int, int] | None: ...
        def path_mtu(self, dst: int, iface: Interface, now_us: int | None = None) -> int: ...
        def _next_ident(self) -> int: ...

    def _init_tcp(self, rng: Any) -> None:
        cfg = self.ip_config
        self.c_tcp = TcpCounters("tcp")
        self._tcp_retired = Counters("tcp")  # counters of connections no longer in the table
        self._tcp_ports = PortAllocator(rng, cfg.ephemeral_low, cfg.ephemeral_high)
        self._tcp: dict[tuple[int, int, int, int], _ConnRec] = {}
        # by the connection object itself (identity hash: no int made per look-up, as id() would)
        self._tcp_by_conn: dict[Any, _ConnRec] = {}
        self._listeners: dict[tuple[int, int], Any] = {}
        # connections to poll for segments at the next flush, each once (its record's ``dirty`` flag)
        self._tcp_dirty: list[_ConnRec] = []
        self._rx_rec: _ConnRec | None = None  # the connection of the last segment received (a live one)
        self._tcp_heap: list[tuple[int, int, _ConnRec]] = []
        self._tcp_tick = itertools.count()
        self._gro: _Held | None = None

    # --- user API -----------------------------------------------------------------------------------

    def _port_in_use(self, ip: int, port: int) -> bool:
        ls = self._listeners
        if (ip, port) in ls or (0, port) in ls:
            return True
        if ip == 0 and any(p == port for (_i, p) in ls):
            return True
        return False

    def tcp_connect(self, remote_ip: int | str, remote_port: int, *, local_ip: int | str | None = None,
                    local_port: int = 0, now_us: int) -> Any:
        """Active open (RFC 9293 §3.10.1); the SYN leaves on the next ``poll_egress``."""
        rip = to_ip(remote_ip)
        if not 0 < remote_port <= 65535:
            raise ValueError(f"bad port {remote_port}")
        rt = self.route(rip)
        if rt is None:
            raise OSError(errno.ENETUNREACH, f"no route to {format_ipv4(rip)}")
        iface, next_hop, src = rt
        if local_ip:
            src = to_ip(local_ip)
            if src not in self._addrs and not (iface.loopback and src >> 24 == 127):
                raise OSError(errno.EADDRNOTAVAIL, f"{format_ipv4(src)} is not a local address")
        table = self._tcp
        if local_port:
            if (src, local_port, rip, remote_port) in table:
                raise AddressInUse(f"TCP {format_ipv4(src)}:{local_port} -> {format_ipv4(rip)}:{remote_port} exists")
            port = local_port
        else:
            def free(p: int) -> bool:
                return (src, p, rip, remote_port) not in table and not self._port_in_use(src, p)

            # RFC 6056 §3.3.3 (Algorithm 3): hash of the 4-tuple's fixed part plus a counter.
            found = self._tcp_ports.connect_port(src, rip, remote_port, free)
            if found is None:
                raise OSError(errno.EADDRNOTAVAIL, "no free ephemeral TCP port")
            port = found
        mss = self.path_mtu(rip, iface, now_us) - IP_TCP_HEADERS
        conn = TcpConnection(src, port, rip, remote_port, config=self.tcp_config, isn_secret=self.isn_secret,
                             mss=mss, now_us=now_us)
        rec = self._register(conn, iface, next_hop, None)
        conn.connect(now_us)
        self.c_tcp.inc("active_opens")
        self._touch(rec)
        return conn

    def tcp_listen(self, local_ip: int | str = 0, local_port: int = 0, backlog: int = 128) -> Any:
        """Passive open (RFC 9293 §3.10.1); ``local_ip`` 0 listens on every address."""
        lip = to_ip(local_ip)
        if lip and lip not in self._addrs and lip >> 24 != 127:
            raise OSError(errno.EADDRNOTAVAIL, f"{format_ipv4(lip)} is not a local address")
        if local_port == 0:
            found = self._tcp_ports.random_port(lambda p: not self._port_in_use(lip, p))
            if found is None:
                raise OSError(errno.EADDRINUSE, "no free ephemeral TCP port")
            local_port = found
        elif self._port_in_use(lip, local_port):
            raise AddressInUse(f"TCP port {local_port} is already listening")
        if lip:
            iface = self._addrs.get(lip)
            mtu = iface.mtu if iface is not None else 65535
        else:
            mtu = max((i.mtu for i in self._ifaces.values()), default=1500)
        listener = TcpListener(lip, local_port, config=self.tcp_config, isn_secret=self.isn_secret,
                               mss=mtu - IP_TCP_HEADERS, backlog=backlog)
        self._listeners[(lip, local_port)] = listener
        self.c_tcp.inc("listeners_opened")
        return listener

    def notify(self, obj: Any) -> None:
        """Tell the host a connection changed through a user call (send, consume, shutdown_write, close,
        abort): it is polled for segments on the next ``poll_egress`` and its timer is re-read."""
        rec = self._tcp_by_conn.get(obj)
        if rec is not None:
            self._mark_dirty(rec)

    def _mark_dirty(self, rec: _ConnRec) -> None:
        if not rec.dirty:
            rec.dirty = True
            self._tcp_dirty.append(rec)

    def tcp_connections(self) -> list[Any]:
        return [rec.conn for rec in self._tcp.values()]

    def tcp_listeners(self) -> list[Any]:
        return list(self._listeners.values())

    def _tcp_release(self, obj: Any) -> None:
        rec = self._tcp_by_conn.get(obj)
        if rec is not None:
            # A connection stays in the table until it is CLOSED (FIN handshake, TIME-WAIT): the host
            # owns orphans; releasing only makes sure it is polled.
            self._mark_dirty(rec)
            return
        for key, listener in list(self._listeners.items()):
            if listener is obj:
                del self._listeners[key]
                self.c_tcp.inc("listeners_closed")
                self._tcp_retired.add_from({"listen." + k: v for k, v in listener.counters.items()})
                # Children not accepted yet are reset (as Linux does when a listening socket closes).
                for child in listener.close():
                    child.abort()
                    crec = self._tcp_by_conn.get(child)
                    if crec is not None:
                        self._touch(crec)
                return

    # --- bookkeeping --------------------------------------------------------------------------------

    def _register(self, conn: Any, iface: Interface, next_hop: int, parent: Any) -> _ConnRec:
        key = (conn.local_ip, conn.local_port, conn.remote_ip, conn.remote_port)
        rec = _ConnRec(conn, key, iface, next_hop, parent)
        self._tcp[key] = rec
        self._tcp_by_conn[conn] = rec
        return rec

    def _unregister(self, rec: _ConnRec) -> None:
        if not rec.alive:
            return
        rec.alive = False
        if self._tcp.get(rec.key) is rec:
            del self._tcp[rec.key]
        self._tcp_by_conn.pop(rec.conn, None)  # (left in _tcp_dirty if there: the flush skips dead records)
        if self._rx_rec is rec:
            self._rx_rec = None
        counters = getattr(rec.conn, "counters", None)
        if counters is not None:
            self._tcp_retired.add_from(counters)

    def _touch(self, rec: _ConnRec) -> None:
        conn = rec.conn
        self._mark_dirty(rec)
        self._ready[conn] = conn
        parent = rec.parent
        if parent is not None:
            self._ready[parent] = parent  # a child finishing its handshake fills the accept queue

    def _after(self, rec: _ConnRec) -> None:
        """Re-read a connection's timer and retire it once CLOSED (after its events are queued)."""
        conn = rec.conn
        if conn.is_finished():  # CLOSED: the host forgets it (its events stay with the owner)
            self._unregister(rec)
            return
        if rec.parent is not None and conn.state is not SYN_RECEIVED:
            self._ready[rec.parent] = rec.parent
            rec.parent = None
        d = conn_poll_at(conn)
        rec.deadline = d
        if d is not None:
            armed = rec.armed
            # Lazy timer entries (as the driver's one TimerHandle): a deadline that moved later (the RTO
            # restarted by every ACK) keeps its earlier heap entry, which wakes the host early and is
            # pushed again for the real deadline then; only an earlier deadline costs a heap push.
            if armed is None or d < armed:
                rec.armed = d
                heap = self._tcp_heap
                heapq.heappush(heap, (d, next(self._tcp_tick), rec))
                if len(heap) > 4 * len(self._tcp) + 64:
                    # Drop superseded entries so the heap stays proportional to the table.
                    heap[:] = [e for e in heap if e[2].alive and e[2].armed == e[0]]
                    heapq.heapify(heap)

    def _tcp_poll_at(self) -> int | None:
        """The earliest heap entry: never later than the earliest connection deadline (it may be earlier:
        a lazy entry whose deadline moved later; handling it just re-arms it)."""
        heap = self._tcp_heap
        while heap:
            d, _t, rec = heap[0]
            if rec.alive and rec.armed == d:
                return d
            heapq.heappop(heap)
        return None

    def _tcp_handle_timer(self, now_us: int) -> None:
        heap = self._tcp_heap
        while heap and heap[0][0] <= now_us:
            d, _t, rec = heapq.heappop(heap)
            if not rec.alive or rec.armed != d:
                continue  # superseded by an earlier entry, or the connection is gone
            rec.armed = None
            due = rec.deadline
            if due is None:
                continue
            if due > now_us:
                rec.armed = due  # a lazy entry: the deadline moved later; wait for it
                heapq.heappush(heap, (due, next(self._tcp_tick), rec))
                continue
            rec.deadline = None
            conn_handle_timer(rec.conn, now_us)
            self._touch(rec)
        self._flush_tcp(now_us)

    # --- ingress ------------------------------------------------------------------------------------

    def _receive_tcp(self, iface: Interface, src: int, dst: int, payload: memoryview, offload: bool,
                     trusted: bool, now_us: int, gro: bool = False) -> None:
        c = self.c_tcp
        n = len(payload)
        if n < 20:
            c.drop("truncated")
            return
        # RFC 9293 §3.1: the checksum covers the pseudo-header, header and data.
        if not trusted and checksum_partial(payload, pseudo_header_sum(src, dst, PROTO_TCP, n)) != 0xFFFF:
            c.drop("bad_checksum")
            return
        held = self._gro
        if held is not None and gro:
            # The common case of a bulk receive: the next piece of the held segment. Checked on the raw
            # header (no Segment, no option parsing): same 4-tuple, next sequence number, plain ACK(+PSH),
            # same ACK, window and option bytes.
            sport, dport, seq, ack, off, flags, window, _csum, _urg = _TCP.unpack_from(payload, 0)
            hl = (off >> 4) << 2
            if (seq == held.next_seq and sport == held.sport and dport == held.dport and src == held.src
                    and dst == held.dst and flags & ~PSH == ACK and ack == held.ack and window == held.window
                    and hl == held.hl and hl < n <= GRO_PIECE_MAX and held.nbytes + n - hl <= GRO_MAX_BYTES
                    and (hl == 20 or payload[20:hl] == held.opts)):
                plen = n - hl
                held.parts.append(payload[hl:])
                held.next_seq = (seq + plen) & 0xFFFFFFFF
                held.nbytes += plen
                held.flags |= flags
                held.merged += 1
                return
        try:
            seg = parse_segment(payload)
        except MalformedPacket as exc:
            c.drop(exc.reason)
            return
        c.segments_received += 1
        # The previous segment's connection first (consecutive segments mostly share one: no key tuple,
        # no hash), else the table.
        rec = self._rx_rec
        if rec is not None:
            conn = rec.conn
            if not (conn.local_port == seg.dst_port and conn.remote_port == seg.src_port and conn.remote_ip == src
                    and conn.local_ip == dst):
                rec = None
        if rec is None:
            rec = self._tcp.get((dst, seg.dst_port, src, seg.src_port))
            self._rx_rec = rec
        if held is not None:
            self._gro_flush(now_us)
        if gro and rec is not None and seg.flags & ~PSH == ACK and 0 < n <= GRO_PIECE_MAX and seg.payload \
                and seg.mss is None \
                and seg.wscale is None and not seg.sack_permitted and not seg.sack_blocks \
                and rec.conn.state is ESTABLISHED:
            # Receive coalescing (as Linux GRO): consecutive in-order data segments of one connection in
            # one batch, with identical ACK, window and options, reach the engine as one segment.
            hl = n - len(seg.payload)
            self._gro = _Held(rec, seg, src, dst, hl, bytes(payload[20:hl]))
            return
        if rec is not None:
            conn = rec.conn
            segment_arrives(conn, seg, now_us)
            self._touch(rec)
            if not conn.syn_reuse:
                return
            # RFC 9293 §3.10.7.4 / RFC 6191: a new SYN ended TIME-WAIT; the listener takes it.
            self._flush_one(rec, now_us)
            self._unregister(rec)
        ls = self._listeners
        listener = ls.get((dst, seg.dst_port)) or ls.get((0, seg.dst_port))
        if listener is not None:
            child = listener.on_segment(seg, dst, src, now_us)
            if child is not None:
                rt = self.route(src)
                if rt is None:
                    c.drop("no_route")
                    child.abort()
                    return
                # RFC 9293 §3.7.1 / RFC 1191: the MSS we offer follows the route back to the peer (a
                # listener on every address cannot know it in advance).
                mss = self.path_mtu(src, rt[0], now_us) - IP_TCP_HEADERS
                if child.local_mss > mss:
                    child.local_mss = mss
                    child.update_mss()
                child_rec = self._register(child, rt[0], rt[1], listener)
                c.inc("passive_opens")
                self._touch(child_rec)
            else:
                # RFC 9293 §3.10.7.2: an ACK to a listener is answered with a RST; nothing else is.
                reply = listener.reply_for(seg)
                if reply is not None:
                    self._reply(reply, dst, src, now_us)
            return
        c.inc("segments_to_closed_port")
        self._send_rst_for(seg, dst, src, now_us)

    def _gro_flush(self, now_us: int) -> None:
        """Hand the coalesced segment held back by ``_receive_tcp`` to its connection."""
        held = self._gro
        if held is None:
            return
        self._gro = None
        seg = held.first
        if held.merged:
            seg.payload = b"".join(held.parts)
            seg.flags = held.flags
            ct = self.c_tcp
            ct.inc("gro_merged", held.merged)
            ct.segments_received += held.merged
        rec = held.rec
        if rec.alive:
            segment_arrives(rec.conn, seg, now_us)
            self._touch(rec)

    def _send_rst_for(self, seg: Segment, local_ip: int, remote_ip: int, now_us: int) -> None:
        """RFC 9293 §3.10.7.1: a segment for no connection gets a RST (never a RST for a RST)."""
        rst = make_rst_for(seg)
        if rst is not None:
            self._reply(rst, local_ip, remote_ip, now_us)

    def _reply(self, seg: Segment, local_ip: int, remote_ip: int, now_us: int) -> None:
        rt = self.route(remote_ip)
        if rt is None:
            return
        self._send_segments(rt[0], rt[1], local_ip, remote_ip, [seg], None, 0, now_us)
        self.c_tcp.inc("segments_sent")
        if seg.flags & 0x04:
            self.c_tcp.inc("rst_sent")

    def _tcp_icmp_error(self, q: icmpmod.QuotedError, now_us: int) -> bool:
        rec = self._tcp.get((q.src, q.src_port, q.dst, q.dst_port))
        if rec is None:
            return False
        conn = rec.conn
        # RFC 5927 §4.1: act only when the quoted sequence number is one we sent and is unacknowledged
        # (SND.UNA <= SEG.SEQ < SND.MAX); otherwise it is stale or forged.
        una = conn.snd_una
        if not (seq_le(una, q.seq) and seq_lt(q.seq, conn.snd_max)):
            self.c_tcp.drop("icmp_bad_seq")
            return True
        conn.on_icmp_error(q.kind, q.mtu, now_us)
        self._touch(rec)
        return True

    def _redirected(self, dst: int, gateway: int) -> None:
        """Connections to ``dst`` now go through ``gateway`` (an accepted ICMP redirect)."""
        for rec in self._tcp.values():
            if rec.key[2] == dst and not rec.iface.loopback:
                rec.next_hop = gateway

    def _tcp_unreachable(self, owner: Any, now_us: int) -> None:
        """ARP failed for the next hop of ``owner``'s packets: RFC 1122 §2.3.2.2 / Linux EHOSTUNREACH."""
        rec = self._tcp_by_conn.get(owner)
        if rec is None:
            return
        rec.conn.on_icmp_error(icmpmod.KIND_HOST_UNREACHABLE, None, now_us)
        self._touch(rec)

    # --- egress -------------------------------------------------------------------------------------

    def _flush_tcp(self, now_us: int) -> None:
        recs = self._tcp_dirty
        if not recs:
            return
        self._tcp_dirty = []  # a connection touched while these flush waits for the next flush
        for rec in recs:
            rec.dirty = False
            if rec.alive:
                self._flush_one(rec, now_us)
                self._after(rec)

    def _flush_one(self, rec: _ConnRec, now_us: int) -> None:
        conn = rec.conn
        iface = rec.iface
        gso = iface.gso_max_bytes
        if gso > IP_TCP_HEADERS + 40:
            # GSO: payload up to the device's largest IP packet minus IP and (worst case) TCP headers.
            segs = conn_poll_egress(conn, now_us, gso - 20 - 60)
        else:
            # Software GSO: the engine builds super-segments, the host cuts them (cheaper per segment).
            segs = conn_poll_egress(conn, now_us, SOFT_GSO_BYTES)
        if segs:
            sent = self._send_segments(iface, rec.next_hop, conn.local_ip, conn.remote_ip, segs, conn,
                                       conn.snd_mss, now_us)
            self.c_tcp.segments_sent += sent

    def _send_segments(self, iface: Interface, next_hop: int, src: int, dst: int, segs: list[Segment],
                       owner: Any, mss: int, now_us: int) -> int:
        """Frame and hand out segments. Returns how many wire segments they make (GSO counts each)."""
        if iface.loopback:
            mac: bytes | None = iface.mac
        elif next_hop == 0xFFFFFFFF or next_hop == iface.broadcast:
            mac = BROADCAST_MAC
        else:
            mac = self._arp.lookup(next_hop, now_us, iface)
        eth = iface.eth_header(mac or ZERO_MAC)  # (zero: filled in when ARP resolves)
        ttl = self.ip_config.default_ttl
        offload = iface.checksum_offload
        out = self._egress
        ifindex = iface.ifindex
        count = 0
        ident = self._ident
        for seg in segs:
            payload = seg.payload
            plen = len(payload)
            # one frame (with offload, a GSO super-segment the device cuts), else software GSO's pieces
            chunks: Any = None if (offload or plen <= mss or not mss) else _soft_gso(
                seg.seq, seg.flags, payload, plen, mss)
            k = 0
            while True:
                if chunks is None:
                    cseq = seg.seq
                    cflags = seg.flags
                    cpay = payload
                    clen = plen
                elif k < len(chunks):
                    cseq, cflags, cpay, clen = chunks[k]
                    k += 1
                else:
                    break
                # One compiled call per frame: Ethernet, IPv4 (RFC 1191 §3: DF set so that path MTU
                # discovery works), TCP header and options, the payload copied once, and the full checksum,
                # or with offload the folded pseudo-header sum (virtio NEEDS_CSUM: the device completes it).
                frame = build_tcp_frame(eth, 0, ident, ttl, src, dst, seg.src_port, seg.dst_port, cseq, seg.ack,
                                        cflags, seg.window, seg.mss, seg.wscale, seg.sack_permitted,
                                        seg.sack_blocks, seg.ts_val, seg.ts_ecr, cpay if clen else None, offload)
                ident = (ident + 1) & 0xFFFF
                item: Any = frame
                if offload:
                    gso_size = mss if (mss and clen > mss) else 0
                    item = _offload_frame(frame, gso_size)
                    count += (clen + gso_size - 1) // gso_size if gso_size else 1
                else:
                    count += 1
                if mac is None:
                    self._arp.enqueue(ifindex, iface.ip, next_hop, item, owner, now_us)
                else:
                    out.append((ifindex, item))
                if chunks is None:
                    break
        self._ident = ident
        self.c_ip.packets_sent += count  # IP datagrams carrying TCP, counted once per batch
        return count

    # --- counters -----------------------------------------------------------------------------------

    def _tcp_counter_groups(self) -> list[Any]:
        groups: list[Any] = [self.c_tcp, self._tcp_retired]
        groups.extend(rec.conn.counters for rec in self._tcp.values())
        groups.extend(listener.counters for listener in self._listeners.values())
        return groups


def _soft_gso(seq: int, flags: int, payload: Any, plen: int, mss: int) -> list[tuple[int, int, Any, int]]:
    """Cut a super-segment into MSS-sized segments, as Linux tcp_gso_segment does in software: FIN and PSH
    only on the last piece, CWR only on the first (RFC 3168 §6.1.2)."""
    mv = memoryview(payload)
    out = []
    off = 0
    while off < plen:
        n = plen - off if plen - off < mss else mss
        f = flags
        if off:
            f &= ~CWR
        if off + n < plen:
            f &= ~(FIN | PSH)
        out.append(((seq + off) & 0xFFFFFFFF, f, mv[off:off + n], n))
        off += n
    return out


def _offload_frame(frame: bytearray, gso_size: int) -> OffloadFrame:
    """virtio 1.2 §5.1.6.2: NEEDS_CSUM from the TCP header on; GSO_TCPV4 cut into ``gso_size`` payloads
    after the headers (the TCP header's length is its data offset, RFC 9293 §3.1)."""
    csum_start = ETH_LEN + 20
    if gso_size:
        tcp_header_len = (frame[csum_start + 12] >> 4) << 2
        return OffloadFrame(frame, NEEDS_CSUM, GSO_TCPV4, gso_size, csum_start + tcp_header_len, csum_start,
                            TCP_CSUM_OFFSET)
    return OffloadFrame(frame, NEEDS_CSUM, GSO_NONE, 0, 0, csum_start, TCP_CSUM_OFFSET)
