"""The route table: longest-prefix match over IPv4 prefixes, with a default gateway.

Read first: RFC 1812 §5.2.4.3 (next hop selection: longest match), RFC 1122 §3.3.1 (routing outbound
datagrams: on-link destinations go direct, others to a gateway).
"""

from __future__ import annotations

from aiostack.core.interface import format_ipv4, parse_cidr, prefix_mask


class Route:
    __slots__ = ("network", "prefix_len", "gateway", "ifindex")

    def __init__(self, network: int, prefix_len: int, gateway: int | None, ifindex: int) -> None:
        self.network = network
        self.prefix_len = prefix_len
        self.gateway = gateway
        self.ifindex = ifindex

    def describe(self) -> dict[str, object]:
        return {"prefix": f"{format_ipv4(self.network)}/{self.prefix_len}",
                "gateway": format_ipv4(self.gateway) if self.gateway is not None else None,
                "ifindex": self.ifindex}

    def __repr__(self) -> str:
        gw = f" via {format_ipv4(self.gateway)}" if self.gateway is not None else ""
        return f"Route({format_ipv4(self.network)}/{self.prefix_len}{gw} dev {self.ifindex})"


class RouteTable:
    """Routes grouped by prefix length; lookup tries the longest lengths first (at most 33 dict probes),
    with a one-entry-per-destination cache cleared whenever the table changes."""

    __slots__ = ("_by_len", "_lengths", "_cache")

    def __init__(self) -> None:
        self._by_len: dict[int, dict[int, Route]] = {}
        self._lengths: list[int] = []
        self._cache: dict[int, Route | None] = {}

    def add(self, prefix_cidr: str | tuple[int, int], gateway: int | None, ifindex: int) -> Route:
        if isinstance(prefix_cidr, str):
            addr, plen = parse_cidr(prefix_cidr)
        else:
            addr, plen = prefix_cidr
        network = addr & prefix_mask(plen)
        route = Route(network, plen, gateway, ifindex)
        self._by_len.setdefault(plen, {})[network] = route
        self._lengths = sorted(self._by_len, reverse=True)
        self._cache.clear()
        return route

    def remove(self, prefix_cidr: str) -> bool:
        addr, plen = parse_cidr(prefix_cidr)
        table = self._by_len.get(plen)
        if not table or table.pop(addr & prefix_mask(plen), None) is None:
            return False
        if not table:
            del self._by_len[plen]
            self._lengths = sorted(self._by_len, reverse=True)
        self._cache.clear()
        return True

    def remove_interface(self, ifindex: int) -> None:
        for plen in list(self._by_len):
            table = self._by_len[plen]
            for net in [n for n, r in table.items() if r.ifindex == ifindex]:
                del table[net]
            if not table:
                del self._by_len[plen]
        self._lengths = sorted(self._by_len, reverse=True)
        self._cache.clear()

    def lookup(self, dst: int) -> Route | None:
        """RFC 1812 §5.2.4.3: the matching route with the longest prefix, or None."""
        cache = self._cache
        try:
            return cache[dst]
        except KeyError:
            pass
        found: Route | None = None
        by_len = self._by_len
        for plen in self._lengths:
            route = by_len[plen].get(dst & prefix_mask(plen))
            if route is not None:
                found = route
                break
        if len(cache) >= 4096:
            cache.clear()
        cache[dst] = found
        return found

    def routes(self) -> list[Route]:
        return [r for plen in self._lengths for r in self._by_len[plen].values()]
