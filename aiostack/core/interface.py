"""Interfaces: one per device, with its MAC, IPv4 address/prefix, MTU and device capabilities.

Read first: RFC 1122 §3.3.6 (broadcasts), RFC 1122 §3.2.1.3 (address classes: 127/8 loopback),
RFC 894 (IPv4 over Ethernet).
"""

from __future__ import annotations

from typing import Any

try:
    import cython
except ImportError:  # run from source without Cython installed
    from aiostack import _nocython as cython  # type: ignore[no-redef,unused-ignore]

ETH_HEADER_LEN = 14
LOOPBACK_NET = 0x7F000000  # RFC 1122 §3.2.1.3 (g): 127.0.0.0/8 is internal host loopback
LOOPBACK_MASK = 0xFF000000


# Dotted quads already parsed, by text (bounded): an application connecting to one address again and
# again has it parsed once.
_PARSED: dict[str, int] = {}
_PARSED_MAX = 1024


def parse_ipv4(text: str) -> int:
    """Dotted quad to a 32-bit int; ValueError on anything else."""
    value = _PARSED.get(text) if type(text) is str else None
    if value is not None:
        return value
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(f"not an IPv4 address: {text!r}")
    value = 0
    for p in parts:
        if not p.isdigit() or int(p) > 255:
            raise ValueError(f"not an IPv4 address: {text!r}")
        value = (value << 8) | int(p)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[text] = value
    return value


def format_ipv4(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def parse_cidr(text: str) -> tuple[int, int]:
    """``"198.18.0.2/24"`` to ``(address, prefix_len)``; a bare address is a /32."""
    addr, _, plen = text.partition("/")
    prefix = int(plen) if plen else 32
    if not 0 <= prefix <= 32:
        raise ValueError(f"bad prefix length in {text!r}")
    return parse_ipv4(addr), prefix


def prefix_mask(prefix_len: int) -> int:
    return (0xFFFFFFFF << (32 - prefix_len)) & 0xFFFFFFFF if prefix_len else 0


def to_ip(value: int | str) -> int:
    """Accept an int or a dotted quad (API convenience; core keeps ints)."""
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"IPv4 address out of range: {value}")
        return value
    return parse_ipv4(value)


_ETH_CACHE_MAX = 256  # destinations whose header is kept (more: start over)


@cython.cclass
class Interface:
    """One network interface. ``caps`` is the device's capability object (duck-typed: ``mtu``,
    ``checksum_offload``, ``gso_max_bytes``, ``vnet_hdr``) or None."""

    __slots__ = ("ifindex", "name", "mac", "ip", "prefix_len", "netmask", "network", "broadcast", "mtu",
                 "caps", "loopback", "checksum_offload", "gso_max_bytes", "_eth", "_eth_src")

    def __init__(self, ifindex: int, name: str, mac: bytes, address_cidr: str, *, mtu: int,
                 caps: Any = None, loopback: bool = False) -> None:
        if len(mac) != 6:
            raise ValueError("MAC address must be 6 bytes")
        if not 68 <= mtu <= 65535:  # RFC 791: every host must accept 68-byte datagrams
            raise ValueError(f"MTU {mtu} out of range 68..65535")
        ip, prefix = parse_cidr(address_cidr)
        self.ifindex = ifindex
        self.name = name
        self.mac = bytes(mac)
        self.ip = ip
        self.prefix_len = prefix
        self.netmask = prefix_mask(prefix)
        self.network = ip & self.netmask
        # RFC 1122 §3.3.6: the directed broadcast of the subnet (no broadcast on /31 and /32, RFC 3021).
        self.broadcast = (self.network | (~self.netmask & 0xFFFFFFFF)) if prefix < 31 else 0xFFFFFFFF
        self.mtu = mtu
        self.caps = caps
        self.loopback = loopback
        # A loopback interface never puts bytes on a wire: as Linux's lo (NETIF_F_HW_CSUM, receive
        # CHECKSUM_UNNECESSARY), TCP leaves checksums partial there and the receive side trusts them.
        # Its device is an in-memory loopback, which passes OffloadFrame items through unchanged.
        self.checksum_offload = bool(getattr(caps, "checksum_offload", False)) or loopback
        self.gso_max_bytes = int(getattr(caps, "gso_max_bytes", 0) or 0) if self.checksum_offload else 0
        self._eth: dict[bytes, bytes] = {}  # destination MAC -> Ethernet header (eth_header)
        self._eth_src = self.mac

    @property
    def address_cidr(self) -> str:
        return f"{format_ipv4(self.ip)}/{self.prefix_len}"

    def eth_header(self, dst: bytes) -> bytes:
        """The Ethernet II header (RFC 894: destination, this interface's MAC, type IPv4) of frames to
        ``dst``, made once per destination instead of per frame."""
        cache = self._eth
        if self._eth_src is not self.mac:  # the MAC was replaced: headers made before carry the old one
            cache.clear()
            self._eth_src = self.mac
        h = cache.get(dst)
        if h is None:
            if len(cache) >= _ETH_CACHE_MAX:
                cache.clear()
            h = cache[dst] = dst + self.mac + b"\x08\x00"
        return h

    def is_local_broadcast(self, dst: int) -> bool:
        return dst == 0xFFFFFFFF or dst == self.broadcast

    def describe(self) -> dict[str, object]:
        return {"ifindex": self.ifindex, "name": self.name, "mac": self.mac.hex(":"),
                "address": f"{format_ipv4(self.ip)}/{self.prefix_len}", "mtu": self.mtu,
                "loopback": self.loopback, "checksum_offload": self.checksum_offload,
                "gso_max_bytes": self.gso_max_bytes}

    def __repr__(self) -> str:
        return f"Interface({self.ifindex}, {self.name!r}, {format_ipv4(self.ip)}/{self.prefix_len}, mtu={self.mtu})"
