"""One-line, tcpdump-like descriptions of whole frames and IPv4 packets (for tracers, logs, test failures).

Read first: nothing normative; the format follows tcpdump's default output (``print-tcp.c``,
``print-udp.c``, ``print-icmp.c``, ``print-arp.c``): ``IP 198.18.0.1.5000 > 198.18.0.2.80: Flags [S],
seq 1, win 65535, options [mss 1460], length 0``.

These functions never raise on bad input: what does not parse is described as ``[malformed <layer>:
<reason>]``. Checksums are checked and a wrong one is flagged ``[bad <layer> cksum 0x1234]``, except for
``OffloadFrame`` items whose checksum is partial (NEEDS_CSUM) or already verified (DATA_VALID).
"""

from __future__ import annotations

from aiostack.errors import MalformedPacket
from aiostack.fastpath import internet_checksum, pseudo_header_sum
from aiostack.wire import arp, ethernet, icmpv4, ipv4, tcp, udp
from aiostack.wire.vnet import DATA_VALID, GSO_ECN, NEEDS_CSUM, OffloadFrame

__all__ = ["pretty_frame", "pretty_ipv4"]

_GSO_NAMES = {1: "tcpv4", 3: "udp", 4: "tcpv6", 5: "udp_l4"}

Buffer = bytes | bytearray | memoryview


def pretty_frame(frame: Buffer | OffloadFrame, link: bool = False) -> str:
    """Describe an Ethernet frame (or an ``OffloadFrame``) in one line.

    ``link=True`` prefixes the Ethernet header as ``tcpdump -e`` does:
    ``02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 74: IP ...``.
    """
    trusted = False
    suffix = ""
    if isinstance(frame, OffloadFrame):
        trusted = bool(frame.flags & (NEEDS_CSUM | DATA_VALID))
        if frame.gso_type & ~GSO_ECN:
            name = _GSO_NAMES.get(frame.gso_type & ~GSO_ECN, str(frame.gso_type))
            ecn = "+ecn" if frame.gso_type & GSO_ECN else ""
            suffix = f" [gso {name}{ecn} size {frame.gso_size}]"
        data: Buffer = frame.data
    else:
        data = frame
    mv = memoryview(data)
    try:
        eth = ethernet.EthernetRepr.parse(mv)
    except MalformedPacket as exc:
        return f"[malformed ethernet: {exc.reason}], length {len(mv)}"
    payload = mv[ethernet.HEADER_LEN:]
    head = f"{eth.pretty(len(mv))}: " if link else ""
    if eth.ethertype == ethernet.ETHERTYPE_IPV4:
        body = pretty_ipv4(payload, verify_checksums=not trusted)
    elif eth.ethertype == ethernet.ETHERTYPE_ARP:
        try:
            body = arp.ArpRepr.parse(payload).pretty()
        except MalformedPacket as exc:
            body = f"ARP, [malformed arp: {exc.reason}], length {len(payload)}"
    elif link:
        body = f"ethertype {ethernet.ethertype_name(eth.ethertype)} (0x{eth.ethertype:04x}), length {len(payload)}"
    else:
        body = eth.pretty(len(mv))
    return head + body + suffix


def pretty_ipv4(packet: Buffer, verify_checksums: bool = True) -> str:
    """Describe an IPv4 packet and its TCP/UDP/ICMP payload in one line."""
    mv = memoryview(packet)
    try:
        ip, payload = ipv4.Ipv4Repr.parse_packet(mv, verify_checksum=False)
    except MalformedPacket as exc:
        return f"IP [malformed ipv4: {exc.reason}], length {len(mv)}"
    notes = ""
    if verify_checksums and internet_checksum(mv[:ip.header_len]) != 0:
        notes += f" [bad ip cksum 0x{ipv4.Ipv4View(mv).checksum:04x}]"
    src, dst = ipv4.int_to_ip(ip.src), ipv4.int_to_ip(ip.dst)
    frag = ""
    if ip.more_frags or ip.frag_offset:
        frag = f" (frag {ip.ident}:{ip.payload_len}@{ip.frag_offset}{'+' if ip.more_frags else ''})"
        if ip.frag_offset:  # not the first fragment: no transport header here (RFC 791)
            return f"IP {src} > {dst}: ip-proto-{ip.protocol}{frag}{notes}"
    proto = ip.protocol
    try:
        if proto == ipv4.PROTO_TCP:
            seg = tcp.TcpRepr.parse(payload, ip.src, ip.dst, verify_checksum=False)
            text = seg.pretty(ip.src, ip.dst)
            notes += _l4_note("tcp", payload, tcp.CHECKSUM, ip, verify_checksums and not ip.more_frags)
        elif proto == ipv4.PROTO_UDP:
            dgram = udp.UdpRepr.parse(payload, ip.src, ip.dst, verify_checksum=False)
            text = dgram.pretty(ip.src, ip.dst)
            if dgram.checksum_present:
                notes += _l4_note("udp", payload, udp.CHECKSUM, ip, verify_checksums and not ip.more_frags)
        elif proto == ipv4.PROTO_ICMP:
            msg = icmpv4.Icmpv4Repr.parse(payload, verify_checksum=False)
            text = msg.pretty(ip.src, ip.dst)
            if verify_checksums and not ip.more_frags and internet_checksum(payload) != 0:
                notes += f" [bad icmp cksum 0x{icmpv4.Icmpv4View(payload).checksum:04x}]"
        else:
            text = f"IP {src} > {dst}: ip-proto-{proto} {len(payload)}"
    except MalformedPacket as exc:
        name = ipv4.protocol_name(proto).lower()
        text = f"IP {src} > {dst}: [malformed {name}: {exc.reason}], length {len(payload)}"
    return text + frag + notes


def _l4_note(name: str, payload: memoryview, field: int, ip: ipv4.Ipv4Repr, verify: bool) -> str:
    if not verify:
        return ""
    if internet_checksum(payload, pseudo_header_sum(ip.src, ip.dst, ip.protocol, len(payload))) == 0:
        return ""
    value = (payload[field] << 8) | payload[field + 1]
    return f" [bad {name} cksum 0x{value:04x}]"
