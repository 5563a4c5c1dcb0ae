"""aiostack.wire: bytes <-> values for Ethernet II, ARP, IPv4, ICMPv4, UDP, TCP and the virtio-net header.

One module per protocol, each with named offset constants, a zero-copy ``XxxView`` (``check_len()`` before
field access), a frozen ``XxxRepr`` (``parse``, ``buffer_len``, ``emit``, ``pretty``). Parsing raises only
``aiostack.errors.MalformedPacket(reason)``. IPv4 addresses are ints, MAC addresses 6-byte ``bytes``.
``pretty.pretty_frame`` describes a whole frame in one tcpdump-like line.
"""

from aiostack.wire.arp import ArpRepr, ArpView
from aiostack.wire.ethernet import EthernetRepr, EthernetView, mac_from_str, mac_to_str
from aiostack.wire.icmpv4 import Icmpv4Repr, Icmpv4View
from aiostack.wire.ipv4 import Ipv4Repr, Ipv4View, int_to_ip, ip_to_int
from aiostack.wire.tcp import TcpRepr, TcpView
from aiostack.wire.udp import UdpRepr, UdpView
from aiostack.wire.vnet import OffloadFrame, VnetHeader

__all__ = [
    "ArpRepr",
    "ArpView",
    "EthernetRepr",
    "EthernetView",
    "Icmpv4Repr",
    "Icmpv4View",
    "Ipv4Repr",
    "Ipv4View",
    "OffloadFrame",
    "TcpRepr",
    "TcpView",
    "UdpRepr",
    "UdpView",
    "VnetHeader",
    "int_to_ip",
    "ip_to_int",
    "mac_from_str",
    "mac_to_str",
]
