"""``python -m aiostack serve {echo,discard,source}``: a service on aiostack over a TAP device.

The kernel is the peer: the tool creates the TAP device ``--tap NAME`` (needs CAP_NET_ADMIN), gives the
kernel's side ``--peer-address`` with pyroute2 and brings it up, and runs a stack with ``--address`` on
it serving one classic service:

* ``echo`` (RFC 862, port 7): sends back what it receives;
* ``discard`` (RFC 863, port 9): reads and drops;
* ``source`` (chargen-like, RFC 864's port 19): sends a pattern until the client closes.

For network safety both addresses must be in 198.18.0.0/15 (RFC 2544's benchmarking range), and no route
is added: only the TAP's own subnet is reachable. Run it inside a network namespace you made
(``ip netns add x; ip netns exec x python -m aiostack serve echo --tap tap0 ...``). ``--pcap FILE``
records the TAP's frames; ``--duration S`` stops after S seconds (default: until interrupted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys
from typing import Any

SAFE_NET = ipaddress.ip_network("198.18.0.0/15")
PORTS = {"echo": 7, "discard": 9, "source": 19}
SOURCE_CHUNK = bytes((32 + i % 95) for i in range(65536))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", choices=sorted(PORTS), help="what to serve")
    p.add_argument("--tap", required=True, metavar="NAME", help="TAP device to create (e.g. tap0)")
    p.add_argument("--address", required=True, help="aiostack's address, e.g. 198.18.0.2/24")
    p.add_argument("--peer-address", default=None,
                   help="the kernel side's address on the TAP (default: .1 of the same subnet)")
    p.add_argument("--port", type=int, default=None, help="TCP port (default: the service's well-known port)")
    p.add_argument("--offload", action="store_true", help="virtio-net header mode (checksum offload, GSO)")
    p.add_argument("--mtu", type=int, default=1500, help="MTU of the TAP (default 1500)")
    p.add_argument("--pcap", metavar="FILE", help="record the TAP's frames to a pcap file")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")


def _check(cidr: str) -> ipaddress.IPv4Interface:
    iface = ipaddress.IPv4Interface(cidr)
    if iface.ip not in SAFE_NET:
        raise SystemExit(f"serve: {cidr} is outside {SAFE_NET} (the only range this tool configures)")
    return iface


def configure_kernel_side(tap: str, peer: ipaddress.IPv4Interface, mtu: int) -> None:
    """Give the kernel's end of the TAP its address and bring it up (pyroute2, no shell commands)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=tap)
        if not found:
            raise SystemExit(f"serve: no interface {tap!r}")
        idx = found[0]
        ipr.link("set", index=idx, mtu=mtu)
        ipr.addr("add", index=idx, address=str(peer.ip), prefixlen=peer.network.prefixlen)
        ipr.link("set", index=idx, state="up")


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _discard(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while await reader.read(1 << 20):
            pass
    writer.close()


async def _source(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async def until_eof() -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(1 << 16):
                pass

    done = asyncio.ensure_future(until_eof())
    with contextlib.suppress(ConnectionError):
        while not done.done() and not writer.is_closing():
            writer.write(SOURCE_CHUNK)
            await writer.drain()
    done.cancel()
    writer.close()


HANDLERS = {"echo": _echo, "discard": _discard, "source": _source}


def open_device(args: argparse.Namespace) -> tuple[Any, ipaddress.IPv4Interface, ipaddress.IPv4Interface]:
    """Create the TAP, configure the kernel's side (before any event loop runs: pyroute2 has its own)."""
    from aiostack.link.tap import Tap

    address = _check(args.address)
    peer = _check(args.peer_address) if args.peer_address else ipaddress.IPv4Interface(
        f"{next(address.network.hosts())}/{address.network.prefixlen}")
    if peer.ip == address.ip or peer.ip not in address.network:
        raise SystemExit("serve: --peer-address must be another address of --address's subnet")
    _check(str(peer))
    device: Any = Tap(args.tap, offload=args.offload, mtu=args.mtu)
    try:
        configure_kernel_side(device.name, peer, args.mtu)
    except BaseException:
        device.close()
        raise
    if args.pcap:
        from aiostack.link.pcap import PcapWriter

        device = PcapWriter(device, args.pcap)
    return device, address, peer


async def serve(args: argparse.Namespace, device: Any, address: ipaddress.IPv4Interface,
                peer: ipaddress.IPv4Interface) -> int:
    from aiostack.aio.netstat import format_netstat
    from aiostack.aio.stack import Stack

    stack = Stack()
    stack.add_device(device, str(address), name=args.tap)
    port = args.port or PORTS[args.service]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with stack:
        server = await stack.start_server(HANDLERS[args.service], str(address.ip), port)
        print(f"serving {args.service} on {address.ip}:{port} over {args.tap} "
              f"({'offload' if args.offload else 'plain'}); kernel side {peer}", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except TimeoutError:
            pass
        print(format_netstat(stack.netstat()))
        server.close()
        stats = stack.stats()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
    keys = ("tcp.passive_opens", "tcp.segments_sent", "tcp.segments_received", "tcp.retransmits", "ip.drops")
    print(", ".join(f"{k}={stats.get(k, 0)}" for k in keys))
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        device, address, peer = open_device(args)
    except PermissionError as exc:
        print(f"serve: {exc} (creating a TAP device needs root or CAP_NET_ADMIN)", file=sys.stderr)
        return 1
    return asyncio.run(serve(args, device, address, peer))
