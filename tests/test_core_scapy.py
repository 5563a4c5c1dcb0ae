"""Frames the host emits, checked by an independent dissector (scapy): checksums, options, fragments."""

from __future__ import annotations

import pytest
from test_core_util import IP_B, frame_bytes, two_hosts

scapy_all = pytest.importorskip("scapy.all")
Ether, IP, TCP, UDP, ICMP, ARP = (scapy_all.Ether, scapy_all.IP, scapy_all.TCP, scapy_all.UDP, scapy_all.ICMP,
                                  scapy_all.ARP)


def _checksums_ok(raw: bytes) -> bool:
    pkt = Ether(raw)
    rebuilt = Ether(raw)
    ip = rebuilt[IP]
    del ip.chksum
    if TCP in rebuilt:
        del rebuilt[TCP].chksum
    elif UDP in rebuilt:
        del rebuilt[UDP].chksum
    elif ICMP in rebuilt:
        del rebuilt[ICMP].chksum
    again = Ether(bytes(rebuilt))
    ok = pkt[IP].chksum == again[IP].chksum
    for layer in (TCP, UDP, ICMP):
        if layer in pkt and not (pkt[IP].flags.MF or pkt[IP].frag):
            ok = ok and pkt[layer].chksum == again[layer].chksum
    return ok


def test_tcp_handshake_and_data_frames_dissect_cleanly() -> None:
    net, a, b = two_hosts()
    listener = b.tcp_listen(0, 80, 4)
    cli = a.tcp_connect(IP_B, 80, now_us=0)
    net.settle()
    srv = listener.accept()
    cli.send(b"hello scapy" * 300)
    a.notify(cli)
    net.settle()
    assert srv.read() == b"hello scapy" * 300
    tcp_frames = [frame_bytes(f) for _h, _i, f in net.sent if frame_bytes(f)[12:14] == b"\x08\x00"]
    assert len(tcp_frames) >= 5
    for raw in tcp_frames:
        assert _checksums_ok(raw), Ether(raw).summary()
    syn = Ether(tcp_frames[0])
    assert syn[TCP].flags == "S" and syn[IP].flags.DF and syn[IP].src == "198.18.0.1"
    opts = dict((k, v) for k, v in syn[TCP].options if k != "NOP")
    assert opts["MSS"] == 1460 and "SAckOK" in opts and "Timestamp" in opts and "WScale" in opts
    data = [Ether(r) for r in tcp_frames if len(Ether(r)[TCP].payload) > 0]
    assert data and all(len(p[TCP].payload) <= 1460 - 12 for p in data)


def test_udp_icmp_arp_and_fragments_dissect_cleanly() -> None:
    net, a, b = two_hosts()
    srv = b.udp_bind(IP_B, 7)
    cli = a.udp_bind()
    cli.sendto(b"u" * 4000, IP_B, 7, now_us=0)  # fragmented
    cli.sendto(b"closed", IP_B, 9, now_us=0)  # port unreachable back
    a.ping(IP_B, seq=3, payload=b"p" * 56, now_us=0)
    net.settle()
    assert srv.next_event().data == b"u" * 4000
    frames = [frame_bytes(f) for _h, _i, f in net.sent]
    arps = [Ether(r) for r in frames if r[12:14] == b"\x08\x06"]
    assert arps and all(p[ARP].hwtype == 1 and p[ARP].ptype == 0x0800 for p in arps)
    assert any(p[ARP].op == 2 and p[ARP].psrc == "198.18.0.2" for p in arps)
    ips = [r for r in frames if r[12:14] == b"\x08\x00"]
    for raw in ips:
        assert _checksums_ok(raw), Ether(raw).summary()
    frags = [Ether(r) for r in ips if Ether(r)[IP].flags.MF or Ether(r)[IP].frag]
    assert len(frags) == 3 and len({p[IP].id for p in frags}) == 1
    defragged = scapy_all.defragment([p[IP] for p in frags])
    full = [p for p in defragged if UDP in p]
    assert full and bytes(full[0][UDP].payload) == b"u" * 4000
    icmps = [Ether(r) for r in ips if Ether(r)[IP].proto == 1]
    kinds = {(p[ICMP].type, p[ICMP].code) for p in icmps}
    assert {(8, 0), (0, 0), (3, 3)} <= kinds
    err = next(p for p in icmps if p[ICMP].type == 3)
    assert err[scapy_all.IPerror].src == "198.18.0.1" and err[scapy_all.UDPerror].dport == 9
