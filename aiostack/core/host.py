"""The sans-I/O host: interfaces, routes, ARP, IPv4, ICMP, UDP and the TCP tables, driven by frames.

Read first: RFC 1122 (host requirements: §3.2.1 IP receive checks, §3.3.1 routing outbound datagrams,
§3.3.4 local multihoming, §3.2.1.3 address classes), RFC 894 (IPv4 over Ethernet), RFC 9293 §3.10.7.1
(segments for no connection get a RST), RFC 1122 §4.1.3.1 (ICMP port unreachable for closed UDP ports),
virtio 1.2 §5.1.6 (virtio_net_hdr: NEEDS_CSUM, DATA_VALID, GSO_TCPV4) for offload frames.

Inputs: ``receive_frames(ifindex, frames, now_us)``, user calls (``tcp_connect``, ``udp_bind``, ... and the
objects they return) and ``handle_timer(now_us)``. Outputs are pulled: ``poll_egress(now_us)`` returns
``(ifindex, frame)`` pairs, ``poll_at()`` the next deadline, ``pop_ready()`` the connections, listeners and
endpoints that may have events. Nothing here reads a clock, touches a socket or draws randomness of
its own.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterable
from typing import Any

from aiostack.config import IpConfig, TcpConfig
from aiostack.core import icmp as icmpmod
from aiostack.core.interface import LOOPBACK_MASK, LOOPBACK_NET, Interface, format_ipv4, to_ip
from aiostack.core.ipv4 import ETH_LEN, Reassembler, build_ipv4_frames
from aiostack.core.neighbor import BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, ZERO_MAC, NeighborCache
from aiostack.core.ports import PortAllocator
from aiostack.core.route import Route, RouteTable
from aiostack.core.tcp.connection import TcpConnection
from aiostack.core.tcpio import TcpIo
from aiostack.core.udp import PROTO_UDP, UdpEndpoint, UdpError, build_udp
from aiostack.errors import AddressInUse
from aiostack.fastpath import checksum_partial, internet_checksum, ipv4_fast_fields, pseudo_header_sum
from aiostack.stats import Counters, IpCounters, merge
from aiostack.wire.vnet import DATA_VALID, NEEDS_CSUM, OffloadFrame

PROTO_ICMP = 1
PROTO_TCP = 6
FLAGS_MF_OFFSET = 0x3FFF  # MF flag and fragment offset (RFC 791 §3.1)
ICMP_ERROR_BURST = 50  # Linux icmp_msgs_burst
PMTU_EXPIRY_US = 600 * 1_000_000  # RFC 1191 §6.3: forget a reduced PMTU after about 10 minutes
PMTU_MAX_ENTRIES = 1024

_IP = struct.Struct("!BBHHHBBHII")
_UDP = struct.Struct("!HHHH")


class Host(TcpIo):
    """A host with any number of interfaces. See docs/ARCHITECTURE.md ("Host")."""

    __slots__ = ("rng", "_loopback", "_routes", "c_arp", "c_icmp", "c_udp", "_icmp_bucket", "_udp_ports",
                 "_udp", "_udp_used", "_pings", "_pmtu")

    def __init__(self, *, rng: Any, isn_secret: bytes, ip_config: IpConfig | None = None,
                 tcp_config: TcpConfig | None = None) -> None:
        self.rng = rng
        self.isn_secret = isn_secret
        self.ip_config = ip_config = ip_config or IpConfig()
        self.tcp_config = tcp_config or TcpConfig()
        self._ifaces: dict[int, Interface] = {}
        self._addrs: dict[int, Interface] = {}  # our unicast addresses
        self._loopback: Interface | None = None
        self._routes = RouteTable()
        self.c_eth = IpCounters("eth")
        self.c_ip = IpCounters("ip")
        self.c_arp = Counters("arp")
        self.c_icmp = Counters("icmp")
        self.c_udp = Counters("udp")
        self._egress: list[tuple[int, Any]] = []
        self._arp = NeighborCache(ip_config, self.c_arp, self._output, self._unreachable, self._ifaces)
        self._reasm = Reassembler(ip_config, self.c_ip)
        self._icmp_bucket = icmpmod.TokenBucket(ip_config.icmp_rate_per_s, ICMP_ERROR_BURST)
        self._ident = rng.getrandbits(16)  # RFC 6864: Identification only needs to be unique for fragments
        self._udp_ports = PortAllocator(rng, ip_config.ephemeral_low, ip_config.ephemeral_high)
        self._udp: dict[tuple[int, int], UdpEndpoint] = {}
        self._udp_used: dict[int, int] = {}  # port -> endpoints bound to it (any address)
        self._pings: dict[int, icmpmod.PingEndpoint] = {}
        self._pmtu: dict[int, tuple[int, int]] = {}  # dst -> (path MTU, expires_us), RFC 1191
        self._ready: dict[Any, Any] = {}  # objects that may have events, by identity (insertion ordered)
        self._init_tcp(rng)

    # --- configuration ------------------------------------------------------------------------------

    def add_interface(self, name: str, mac: bytes, address_cidr: str, *, mtu: int, caps: Any = None,
                      loopback: bool = False, now_us: int = 0) -> int:
        """Add an interface, its connected route and (not on loopback) send a gratuitous ARP.

        ``now_us`` is accepted for symmetry with the other verbs; bringing an interface up starts no timer.
        """
        ifindex = max(self._ifaces, default=0) + 1
        iface = Interface(ifindex, name, mac, address_cidr, mtu=mtu, caps=caps, loopback=loopback)
        if iface.ip in self._addrs:
            raise AddressInUse(f"address {format_ipv4(iface.ip)} is already on {self._addrs[iface.ip].name}")
        if loopback and (iface.ip & LOOPBACK_MASK) != LOOPBACK_NET:
            raise ValueError("a loopback interface takes an address in 127.0.0.0/8")
        self._ifaces[ifindex] = iface
        self._addrs[iface.ip] = iface
        if loopback and self._loopback is None:
            self._loopback = iface
        self._routes.add((iface.network, iface.prefix_len), None, ifindex)
        if not loopback:
            self._arp.announce(iface)  # RFC 5227 §3: announce our address when the interface comes up
        return ifindex

    def remove_interface(self, ifindex: int) -> None:
        iface = self._ifaces.pop(ifindex)
        self._addrs.pop(iface.ip, None)
        if self._loopback is iface:
            self._loopback = next((i for i in self._ifaces.values() if i.loopback), None)
        self._routes.remove_interface(ifindex)
        self._arp.forget_interface(ifindex)

    def interface(self, ifindex: int) -> Interface:
        return self._ifaces[ifindex]

    def interfaces(self) -> list[Interface]:
        return list(self._ifaces.values())

    def add_route(self, prefix_cidr: str, gateway: int | str | None = None, ifindex: int | None = None) -> Route:
        """Add a route; ``"0.0.0.0/0"`` with a gateway is the default route. Without ``ifindex`` the
        interface whose subnet holds the gateway is used (RFC 1122 §3.3.1.1: gateways are on-link)."""
        gw = to_ip(gateway) if gateway is not None else None
        if ifindex is None:
            if gw is None:
                raise ValueError("a route needs a gateway or an interface")
            for iface in self._ifaces.values():
                if (gw & iface.netmask) == iface.network:
                    ifindex = iface.ifindex
                    break
            else:
                raise OSError(errno.ENETUNREACH, f"gateway {format_ipv4(gw)} is not on any interface")
        elif ifindex not in self._ifaces:
            raise ValueError(f"no interface {ifindex}")
        return self._routes.add(prefix_cidr, gw, ifindex)

    def remove_route(self, prefix_cidr: str) -> bool:
        return self._routes.remove(prefix_cidr)

    def routes(self) -> list[Route]:
        return self._routes.routes()

    def route(self, dst: int) -> tuple[Interface, int, int] | None:
        """(interface, next hop, source address) for ``dst``, or None (RFC 1122 §3.3.1)."""
        local = self._addrs.get(dst)
        if local is not None:
            # RFC 1122 §3.3.4.2 / Linux "local" table: our own addresses go through the loopback device.
            lo = self._loopback
            if lo is None:
                return None
            return lo, dst, dst
        if dst == 0xFFFFFFFF:
            # RFC 1122 §3.3.6: the limited broadcast goes out of the first (non-loopback) interface.
            for iface in self._ifaces.values():
                if not iface.loopback:
                    return iface, dst, iface.ip
            return None
        r = self._routes.lookup(dst)
        if r is None:
            return None
        iface = self._ifaces[r.ifindex]
        return iface, (r.gateway if r.gateway is not None else dst), iface.ip

    def is_local_address(self, ip: int) -> bool:
        return ip in self._addrs

    def path_mtu(self, dst: int, iface: Interface, now_us: int | None = None) -> int:
        p = self._pmtu.get(dst)
        if p is None:
            return iface.mtu
        if now_us is not None and p[1] <= now_us:
            del self._pmtu[dst]
            return iface.mtu
        return min(p[0], iface.mtu)

    def neighbors(self, now_us: int | None = None) -> list[tuple[int, bytes, int]]:
        """ARP cache entries (ip, mac, expires_us) for tools."""
        return self._arp.table(now_us)

    # --- readiness ----------------------------------------------------------------------------------

    def _mark_ready(self, obj: Any) -> None:
        self._ready[obj] = obj

    def pop_ready(self) -> list[Any]:
        """Connections, listeners, UDP and ping endpoints with something to pick up since the last call.

        Only objects touched since the last call are looked at (never a scan of every socket), and of
        those only the ones with queued events (``next_event()``) or, for listeners, connections to
        ``accept()`` are returned — a pure ACK that queued nothing wakes nobody.
        """
        ready = self._ready
        if not ready:
            return []
        out = []
        for obj in ready.values():
            if type(obj) is TcpConnection:  # the common case, read directly
                conn = obj
                if conn.events:
                    out.append(conn)
                continue
            q = getattr(obj, "events", None)
            if q is None:
                q = getattr(obj, "accept_queue", None)
                if q is None:
                    out.append(obj)  # unknown kind: let the owner look
                    continue
            if q:
                out.append(obj)
        ready.clear()
        return out

    # --- egress -------------------------------------------------------------------------------------

    def _output(self, ifindex: int, frame: Any) -> None:
        self._egress.append((ifindex, frame))

    def poll_egress(self, now_us: int) -> list[tuple[int, Any]]:
        """Frames to transmit, as (ifindex, frame) pairs (bytes-like or ``OffloadFrame``)."""
        self._flush_tcp(now_us)
        out = self._egress
        if out:
            self._egress = []
        return out

    def _next_ident(self) -> int:
        ident = self._ident
        self._ident = (ident + 1) & 0xFFFF
        return ident

    def _resolve_and_send(self, iface: Interface, next_hop: int, frame: bytearray, owner: Any,
                          now_us: int) -> None:
        """Fill the destination MAC and hand the frame out, or hold it for ARP (RFC 1122 §2.3.2.2)."""
        if iface.loopback:
            frame[0:6] = iface.mac
            self._egress.append((iface.ifindex, frame))
            return
        if next_hop == 0xFFFFFFFF or next_hop == iface.broadcast:
            frame[0:6] = BROADCAST_MAC
            self._egress.append((iface.ifindex, frame))
            return
        mac = self._arp.lookup(next_hop, now_us, iface)
        if mac is not None:
            frame[0:6] = mac
            self._egress.append((iface.ifindex, frame))
        else:
            self._arp.enqueue(iface.ifindex, iface.ip, next_hop, frame, owner, now_us)

    def _output_ip(self, dst: int, proto: int, payload: bytes | bytearray | memoryview, *, src: int = 0,
                   df: bool = False, owner: Any = None, now_us: int) -> int:
        """Send one transport packet in IPv4; returns 0 or an errno (no route, too big with DF)."""
        rt = self.route(dst)
        if rt is None:
            self.c_ip.drop("no_route")
            return errno.ENETUNREACH
        iface, next_hop, rsrc = rt
        if not src:
            src = rsrc
        mtu = self.path_mtu(dst, iface, now_us)
        frames = build_ipv4_frames(iface.eth_header(ZERO_MAC), src, dst, proto, self._next_ident(),
                                   self.ip_config.default_ttl, df, payload, mtu)
        if frames is None:
            self.c_ip.drop("too_big")
            return errno.EMSGSIZE
        if len(frames) > 1:
            self.c_ip.inc("fragments_created", len(frames))
        self.c_ip.packets_sent += 1
        for f in frames:
            self._resolve_and_send(iface, next_hop, f, owner, now_us)
        return 0

    def _unreachable(self, owner: Any, ip: int, now_us: int) -> None:
        """ARP gave up on ``ip``: tell the endpoints whose packets waited (RFC 1122 §2.3.2.2)."""
        if isinstance(owner, UdpEndpoint):
            if not owner.closed:
                owner._error(UdpError(errno.EHOSTUNREACH, icmpmod.KIND_HOST_UNREACHABLE, ip, 0))
                self._mark_ready(owner)
        else:
            self._tcp_unreachable(owner, now_us)

    # --- ingress ------------------------------------------------------------------------------------

    def receive_frames(self, ifindex: int, frames: Iterable[Any], now_us: int) -> None:
        """Process received frames. Bad input is dropped and counted, never raised."""
        iface = self._ifaces.get(ifindex)
        if iface is None:
            raise ValueError(f"no interface {ifindex}")
        c_eth = self.c_eth
        fast = 0
        mac = iface.mac
        mtu = iface.mtu
        lo = iface.loopback
        addrs = self._addrs
        if not isinstance(frames, (list, tuple)):
            frames = list(frames)
        # Receive coalescing needs a following frame to join: a lone frame goes straight to its engine.
        gro = len(frames) > 1
        for item in frames:
            offload = False
            trusted = False
            frame: Any
            cls = type(item)
            if cls is bytes or cls is bytearray or cls is memoryview:
                frame = item
            elif isinstance(item, (bytes, bytearray, memoryview)):
                frame = item
            else:
                if cls is OffloadFrame:  # (data, flags, ...): read by position, as a tuple
                    frame = item[0]
                    flags = item[1]
                else:
                    frame = getattr(item, "data", None)
                    if frame is None:
                        c_eth.drop("bad_item")
                        continue
                    flags = item.flags
                offload = True
                # virtio 1.2 §5.1.6.2.1: DATA_VALID (checksums verified) or NEEDS_CSUM (a local sender
                # left a partial checksum): either way the transport checksum is not checked here.
                trusted = bool(flags & (NEEDS_CSUM | DATA_VALID))
            try:
                mv = memoryview(frame)
                # Fast path: unicast IPv4 without options or fragmentation carrying TCP or UDP to one of our
                # addresses. Every check of the general path below applies (the header's in one compiled
                # call); anything else takes the general path.
                hdr = ipv4_fast_fields(mv, mac)
                if hdr is not None:
                    proto, src, dst, total = hdr
                    if ((total <= mtu or offload) and dst in addrs and src < 0xE0000000
                            and (lo or (src >> 24 != 127 and dst >> 24 != 127))):
                        fast += 1
                        if proto == PROTO_TCP:
                            self._receive_tcp(iface, src, dst, mv[34:ETH_LEN + total], offload, trusted, now_us,
                                              gro)
                        else:
                            if self._gro is not None:
                                self._gro_flush(now_us)
                            self._receive_udp(src, dst, mv[34:ETH_LEN + total], mv[ETH_LEN:34], False, trusted,
                                              now_us)
                        continue
                if self._gro is not None:
                    self._gro_flush(now_us)  # keep the arrival order across the two paths
                self._receive_frame(iface, mv, offload, trusted, now_us)
            except Exception as exc:  # noqa: BLE001 - ingress must never raise on peer input
                # Any MalformedPacket escaping a parser, or a bug on a corner of peer input: count it.
                reason = getattr(exc, "reason", None) or "internal_error"
                c_eth.drop(reason)
        if self._gro is not None:
            try:
                self._gro_flush(now_us)
            except Exception as exc:  # noqa: BLE001 - as above
                c_eth.drop(getattr(exc, "reason", None) or "internal_error")
        if fast:
            c_eth.frames_received += fast
            self.c_ip.packets_received += fast

    def _receive_frame(self, iface: Interface, mv: memoryview, offload: bool, trusted: bool,
                       now_us: int) -> None:
        n = len(mv)
        if n < ETH_LEN:
            self.c_eth.drop("truncated")
            return
        if mv[0] & 1:
            if mv[0:6] != BROADCAST_MAC:
                self.c_eth.drop("multicast")  # no multicast groups joined
                return
        elif not iface.loopback and mv[0:6] != iface.mac:
            self.c_eth.drop("not_our_mac")
            return
        etype = (mv[12] << 8) | mv[13]
        if etype == ETHERTYPE_IPV4:
            self.c_eth.inc("frames_received")
            self._receive_ipv4(iface, mv, offload, trusted, now_us)
        elif etype == ETHERTYPE_ARP:
            self.c_eth.inc("frames_received")
            if iface.loopback:
                self.c_arp.drop("on_loopback")
            else:
                self._arp.receive(iface, mv, now_us)
        else:
            self.c_eth.drop("unknown_ethertype")

    def _receive_ipv4(self, iface: Interface, mv: memoryview, offload: bool, trusted: bool,
                      now_us: int) -> None:
        c = self.c_ip
        n = len(mv)
        if n < ETH_LEN + 20:
            c.drop("truncated")
            return
        vi, _tos, total, ident, ff, _ttl, proto, _csum, src, dst = _IP.unpack_from(mv, ETH_LEN)
        if vi != 0x45:
            if vi >> 4 != 4:
                c.drop("bad_version")  # RFC 1122 §3.2.1.1
            elif vi & 0x0F < 5:
                c.drop("bad_ihl")
            else:
                c.drop("options")  # IP options are not supported: dropped and counted
            return
        if total < 20 or total > n - ETH_LEN:
            c.drop("bad_total_length")  # RFC 1122 §3.2.1.2 (truncated or inconsistent length)
            return
        if total > iface.mtu and not offload:
            c.drop("oversize")  # larger than the MTU and not a super-frame from an offload device
            return
        # RFC 1122 §3.2.1.2: verify the header checksum (cheap: 20 bytes; also for offload frames).
        if internet_checksum(mv[ETH_LEN:ETH_LEN + 20]) != 0:
            c.drop("bad_checksum")
            return
        # RFC 1122 §3.2.1.3: discard datagrams from broadcast/multicast or, off loopback, from 127/8.
        if src >= 0xE0000000 or src == iface.broadcast:
            c.drop("bad_source")
            return
        if not iface.loopback and ((src & LOOPBACK_MASK) == LOOPBACK_NET or (dst & LOOPBACK_MASK) == LOOPBACK_NET):
            c.drop("martian")
            return
        local = self._addrs.get(dst)
        broadcast = False
        if local is None:
            if dst == 0xFFFFFFFF or dst == iface.broadcast:
                broadcast = True
            elif iface.loopback and (dst & LOOPBACK_MASK) == LOOPBACK_NET:
                pass  # RFC 1122 §3.2.1.3 (g): all of 127/8 is this host
            else:
                c.drop("not_for_us")  # a host does not forward (RFC 1122 §3.3.1.1)
                return
        c.inc("packets_received")
        ip_hdr = mv[ETH_LEN:ETH_LEN + 20]
        payload: memoryview = mv[ETH_LEN + 20:ETH_LEN + total]
        if ff & FLAGS_MF_OFFSET:
            data = self._reasm.add(src, dst, proto, ident, (ff & 0x1FFF) << 3, bool(ff & 0x2000), payload,
                                   ip_hdr, now_us)
            if data is None:
                return
            payload = memoryview(data)
            trusted = False
            # Quote the datagram as a whole in any ICMP error: first-fragment header, full length.
            whole = bytearray(ip_hdr)
            whole[2:4] = (20 + len(data)).to_bytes(2, "big") if len(data) <= 0xFFFF - 20 else b"\xff\xff"
            whole[6:8] = b"\x00\x00"
            ip_hdr = memoryview(whole)
        if proto == PROTO_TCP:
            if broadcast:
                c.drop("tcp_broadcast")
                return
            self._receive_tcp(iface, src, dst, payload, offload, trusted, now_us)
        elif proto == PROTO_UDP:
            self._receive_udp(src, dst, payload, ip_hdr, broadcast, trusted, now_us)
        elif proto == PROTO_ICMP:
            self._receive_icmp(src, dst, payload, broadcast, now_us)
        else:
            c.drop("unknown_protocol")
            if not broadcast:
                # RFC 1122 §3.2.2.1: protocol unreachable for a transport we do not implement.
                self._send_icmp_error(icmpmod.DEST_UNREACH, icmpmod.UNREACH_PROTOCOL, 0, ip_hdr, payload,
                                      src, dst, now_us)

    # --- UDP ----------------------------------------------------------------------------------------

    def udp_bind(self, local_ip: int | str = 0, local_port: int = 0) -> UdpEndpoint:
        """Bind a UDP endpoint; ``local_port`` 0 picks an ephemeral port (RFC 6056 Algorithm 1)."""
        lip = to_ip(local_ip)
        if lip and lip not in self._addrs and (lip & LOOPBACK_MASK) != LOOPBACK_NET:
            raise OSError(errno.EADDRNOTAVAIL, f"{format_ipv4(lip)} is not a local address")
        if not 0 <= local_port <= 65535:
            raise ValueError(f"bad port {local_port}")
        table = self._udp

        used = self._udp_used

        def free(port: int) -> bool:
            if lip:
                return (lip, port) not in table and (0, port) not in table
            return port not in used

        if local_port == 0:
            port = self._udp_ports.random_port(free)
            if port is None:
                raise OSError(errno.EADDRINUSE, "no free ephemeral UDP port")
        elif not free(local_port):
            raise AddressInUse(f"UDP port {local_port} is in use")
        else:
            port = local_port
        ep = UdpEndpoint(self, lip, port, self.ip_config.udp_queue_bytes)
        table[(lip, port)] = ep
        used[port] = used.get(port, 0) + 1
        self.c_udp.inc("endpoints_opened")
        return ep

    def udp_endpoints(self) -> list[UdpEndpoint]:
        return list(self._udp.values())

    def _udp_output(self, ep: UdpEndpoint, data: bytes | bytearray | memoryview, dst: int, dport: int,
                    now_us: int) -> None:
        rt = self.route(dst)
        if rt is None:
            self.c_udp.drop("no_route")
            raise OSError(errno.ENETUNREACH, f"no route to {format_ipv4(dst)}")
        src = ep.local_ip or rt[2]
        pkt = build_udp(src, dst, ep.local_port, dport, data)
        err = self._output_ip(dst, PROTO_UDP, pkt, src=src, owner=ep, now_us=now_us)
        if err:
            raise OSError(err, "UDP send failed")
        self.c_udp.inc("datagrams_sent")

    def _receive_udp(self, src: int, dst: int, payload: memoryview, ip_hdr: memoryview, broadcast: bool,
                     trusted: bool, now_us: int) -> None:
        c = self.c_udp
        n = len(payload)
        if n < 8:
            c.drop("truncated")
            return
        sport, dport, ulen, csum = _UDP.unpack_from(payload, 0)
        if ulen < 8 or ulen > n:
            c.drop("bad_length")  # RFC 768: length covers header and data, within the IP payload
            return
        if ulen < n:
            payload = payload[:ulen]
        # RFC 768 / RFC 1122 §4.1.3.4: a zero checksum means none was computed.
        if csum and not trusted and checksum_partial(payload, pseudo_header_sum(src, dst, PROTO_UDP, ulen)) != 0xFFFF:
            c.drop("bad_checksum")
            return
        if dport == 0:
            c.drop("bad_port")
            return
        table = self._udp
        ep = table.get((dst, dport))
        if ep is None:
            ep = table.get((0, dport))
        if ep is not None and ep.remote_port and (ep.remote_ip != src or ep.remote_port != sport):
            ep = None  # a connected endpoint takes datagrams only from its peer
        if ep is None:
            c.drop("no_port")
            if not broadcast:
                # RFC 1122 §4.1.3.1: port unreachable for a datagram to a closed port (rate-limited).
                self._send_icmp_error(icmpmod.DEST_UNREACH, icmpmod.UNREACH_PORT, 0, ip_hdr, payload, src, dst,
                                      now_us)
            return
        if not ep._deliver(bytes(payload[8:]), src, sport):
            c.drop("queue_full")  # RFC 8085 §3.1: the endpoint's byte limit is reached
            return
        c.inc("datagrams_received")
        self._mark_ready(ep)

    # --- ICMP ---------------------------------------------------------------------------------------

    @property
    def _counters_icmp(self) -> Counters:
        return self.c_icmp

    def _send_icmp(self, dst: int, msg: bytearray, now_us: int, owner: Any = None, src: int = 0) -> int:
        err = self._output_ip(dst, PROTO_ICMP, msg, src=src, owner=owner, now_us=now_us)
        if not err:
            self.c_icmp.inc("messages_sent")
        return err

    def ping_endpoint(self, ident: int | None = None) -> icmpmod.PingEndpoint:
        """An ICMP echo endpoint for tools (``ping``): send requests, read ``EchoReply`` events."""
        if ident is None:
            ident = self.rng.randrange(1, 0x10000)
            while ident in self._pings:
                ident = ident % 0xFFFF + 1
        if ident in self._pings:
            raise AddressInUse(f"ICMP identifier {ident} is in use")
        ep = icmpmod.PingEndpoint(self, ident & 0xFFFF)
        self._pings[ep.ident] = ep
        return ep

    def ping(self, dst: int | str, *, seq: int = 0, payload: bytes = b"", ident: int | None = None,
             now_us: int) -> icmpmod.PingEndpoint:
        """Send one echo request; the reply arrives as an ``EchoReply`` on the returned endpoint."""
        ep = self._pings.get(ident) if ident is not None else None
        if ep is None:
            ep = self.ping_endpoint(ident)
        ep.send(to_ip(dst), seq, payload, now_us=now_us)
        return ep

    def _release_ping(self, ep: icmpmod.PingEndpoint) -> None:
        if self._pings.get(ep.ident) is ep:
            del self._pings[ep.ident]

    def _send_icmp_error(self, icmp_type: int, code: int, rest: int, ip_hdr: memoryview, payload: memoryview,
                         orig_src: int, orig_dst: int, now_us: int) -> None:
        """RFC 1122 §3.2.2: generate an ICMP error, never about an ICMP error, a non-first fragment or a
        datagram from a non-unicast source; rate-limited by a token bucket (RFC 1812 §4.3.2.8)."""
        c = self.c_icmp
        if orig_src == 0 or orig_src >= 0xE0000000 or orig_src == 0xFFFFFFFF:
            return
        if (ip_hdr[6] & 0x1F) or ip_hdr[7]:
            return  # non-first fragment
        if ip_hdr[9] == PROTO_ICMP and len(payload) >= 1 and payload[0] not in (icmpmod.ECHO_REQUEST,
                                                                               icmpmod.ECHO_REPLY):
            return  # RFC 1122 §3.2.2: no error about an ICMP error message
        if not self._icmp_bucket.allow(now_us):
            c.inc("errors_rate_limited")
            return
        quote = bytearray(ip_hdr)
        quote += payload[:icmpmod.MAX_ERROR_LEN - 48]
        msg = icmpmod.build_error(icmp_type, code, rest, memoryview(quote))
        src = orig_dst if orig_dst in self._addrs or (orig_dst & LOOPBACK_MASK) == LOOPBACK_NET else 0
        if not self._send_icmp(orig_src, msg, now_us, src=src):
            c.inc("errors_sent")
            if icmp_type == icmpmod.DEST_UNREACH and code == icmpmod.UNREACH_PORT:
                c.inc("port_unreachable_sent")

    def _receive_icmp(self, src: int, dst: int, msg: memoryview, broadcast: bool, now_us: int) -> None:
        c = self.c_icmp
        if len(msg) < 8:
            c.drop("truncated")
            return
        if internet_checksum(msg) != 0:
            c.drop("bad_checksum")
            return
        c.inc("messages_received")
        icmp_type = msg[0]
        if icmp_type == icmpmod.ECHO_REQUEST:
            c.inc("echo_requests")
            if broadcast:
                c.inc("echo_broadcast_ignored")  # RFC 1122 §3.2.2.6 allows silently ignoring these
                return
            # RFC 1122 §3.2.2.6: reply from the address the request was sent to.
            if not self._send_icmp(src, icmpmod.build_echo_reply(msg), now_us, src=dst):
                c.inc("echo_replies")
        elif icmp_type == icmpmod.ECHO_REPLY:
            ident = (msg[4] << 8) | msg[5]
            ep = self._pings.get(ident)
            if ep is None:
                c.drop("echo_reply_unmatched")
                return
            c.inc("echo_replies_received")
            ep._deliver(src, (msg[6] << 8) | msg[7], bytes(msg[8:]), now_us)
            self._mark_ready(ep)
        elif icmp_type in (icmpmod.DEST_UNREACH, icmpmod.TIME_EXCEEDED, icmpmod.PARAM_PROBLEM):
            q = icmpmod.parse_error(msg)
            if isinstance(q, str):
                c.drop(q)
                return
            c.inc("errors_received")
            self._deliver_icmp_error(q, now_us, src)
        elif icmp_type == icmpmod.REDIRECT:
            self._receive_redirect(src, msg)
        elif icmp_type == icmpmod.SOURCE_QUENCH:
            c.drop("source_quench")  # RFC 6633: source quench is deprecated and ignored
        else:
            c.drop("unhandled_type")

    def _receive_redirect(self, reporter: int, msg: memoryview) -> None:
        """RFC 1122 §3.2.2.2: a host MUST update its routing from a Redirect, and SHOULD discard one whose
        new gateway is not on the subnet it arrived by or whose sender is not the current first hop.
        Network redirects are treated as host redirects (RFC 1122 §3.3.1.2): a /32 route is added."""
        c = self.c_icmp
        if len(msg) < 8 + 20 or msg[1] > 3:
            c.drop("redirect_bad")
            return
        gateway = int.from_bytes(msg[4:8], "big")
        if (msg[8] >> 4) != 4:
            c.drop("redirect_bad")
            return
        dst = int.from_bytes(msg[8 + 16:8 + 20], "big")
        rt = self.route(dst)
        if rt is None or rt[0].loopback or rt[1] != reporter or rt[1] == dst:
            c.drop("redirect_not_from_gateway")
            return
        iface = rt[0]
        if ((gateway & iface.netmask) != iface.network or gateway in self._addrs or gateway == iface.broadcast
                or gateway == reporter):
            c.drop("redirect_bad_gateway")
            return
        self._routes.add((dst, 32), gateway, iface.ifindex)
        self._redirected(dst, gateway)
        c.inc("redirects_accepted")

    def _deliver_icmp_error(self, q: icmpmod.QuotedError, now_us: int, reporter: int) -> None:
        """Map a received error to the endpoint whose datagram it quotes (RFC 1122 §3.2.2.1, §4.1.3.3)."""
        c = self.c_icmp
        if q.src not in self._addrs and (q.src & LOOPBACK_MASK) != LOOPBACK_NET:
            c.drop("error_not_ours")
            return
        if q.kind == icmpmod.KIND_FRAG_NEEDED and q.mtu is not None:
            # RFC 1191 §6.3: remember the reduced path MTU for this destination (a bounded table: the
            # oldest entry gives way, so forged errors cannot grow it without limit).
            pmtu = self._pmtu
            if q.dst not in pmtu and len(pmtu) >= PMTU_MAX_ENTRIES:
                del pmtu[next(iter(pmtu))]
            pmtu[q.dst] = (q.mtu, now_us + PMTU_EXPIRY_US)
            c.inc("pmtu_updates")
        if q.protocol == PROTO_UDP:
            ep = self._udp.get((q.src, q.src_port)) or self._udp.get((0, q.src_port))
            if ep is None or (ep.remote_port and (ep.remote_ip != q.dst or ep.remote_port != q.dst_port)):
                c.drop("error_no_endpoint")
                return
            ep._error(UdpError(icmpmod.KIND_ERRNO[q.kind], q.kind, q.dst, q.dst_port))
            self._mark_ready(ep)
            c.inc("errors_delivered")
        elif q.protocol == PROTO_TCP:
            if self._tcp_icmp_error(q, now_us):
                c.inc("errors_delivered")
            else:
                c.drop("error_no_endpoint")
        elif q.protocol == PROTO_ICMP and q.src_port >> 8 == icmpmod.ECHO_REQUEST:
            # The quoted ICMP header: type/code where the ports would be, identifier and sequence number
            # where TCP has its sequence number.
            ping = self._pings.get(q.seq >> 16)
            if ping is None:
                c.drop("error_no_endpoint")
                return
            ping._error(icmpmod.EchoError(reporter, q.kind, icmpmod.KIND_ERRNO[q.kind], q.dst, q.seq >> 16,
                                          q.seq & 0xFFFF, now_us))
            self._mark_ready(ping)
            c.inc("errors_delivered")
        else:
            c.drop("error_no_endpoint")

    # --- timers -------------------------------------------------------------------------------------

    def poll_at(self) -> int | None:
        """The earliest deadline of any timer in the host (ARP, reassembly, TCP), or None."""
        best = self._tcp_poll_at()
        if self._arp.pending:
            t = self._arp.poll_at()
            if t is not None and (best is None or t < best):
                best = t
        t = self._reasm.poll_at()
        if t is not None and (best is None or t < best):
            best = t
        return best

    def handle_timer(self, now_us: int) -> None:
        """Run every timer due at ``now_us``."""
        self._arp.handle_timer(now_us)
        for header, quote in self._reasm.expire(now_us):
            # RFC 792 / RFC 1122 §3.3.2: time exceeded (reassembly) when the first fragment had arrived.
            hdr = memoryview(header)
            src = int.from_bytes(header[12:16], "big")
            dst = int.from_bytes(header[16:20], "big")
            if dst in self._addrs:
                self._send_icmp_error(icmpmod.TIME_EXCEEDED, icmpmod.TIME_EXCEEDED_REASSEMBLY, 0, hdr,
                                      memoryview(quote), src, dst, now_us)
        self._tcp_handle_timer(now_us)

    # --- tables and counters ------------------------------------------------------------------------

    def release(self, obj: Any) -> None:
        """Remove an endpoint, listener or connection from the host's tables."""
        if isinstance(obj, UdpEndpoint):
            key = (obj.local_ip, obj.local_port)
            if self._udp.get(key) is obj:
                del self._udp[key]
                used = self._udp_used
                if used.get(obj.local_port, 0) <= 1:
                    used.pop(obj.local_port, None)
                else:
                    used[obj.local_port] -= 1
                self.c_udp.inc("endpoints_closed")
            obj.closed = True
        elif isinstance(obj, icmpmod.PingEndpoint):
            self._release_ping(obj)
        else:
            self._tcp_release(obj)

    def counters(self) -> dict[str, int]:
        """All counters as one flat dict (``"ip.drops.bad_checksum"``, ``"tcp.segments_sent"``, ...)."""
        return merge(self.c_eth, self.c_ip, self.c_arp, self.c_icmp, self.c_udp, *self._tcp_counter_groups())


__all__ = ["Host"]
