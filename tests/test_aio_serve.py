"""``python -m aiostack serve`` on a TAP device inside a namespace, with the kernel as the client."""

from __future__ import annotations

import pathlib
import sys

import pytest
from netns import NetNs

pytestmark = [pytest.mark.tap, pytest.mark.timeout(90)]

CLIENT = r"""
import socket, sys, os
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("198.18.0.2", port), timeout=10)
if mode == "echo":
    msg = os.urandom(300_000)
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += s.recv(65536)
    assert got == msg
    print("ECHO-OK", flush=True)
else:
    got = 0
    while got < 1_000_000:
        got += len(s.recv(65536))
    print("SOURCE-OK", got, flush=True)
s.close()
"""


def _serve(ns: NetNs, service: str, *extra: str) -> object:
    p = ns.popen(sys.executable, "-m", "aiostack", "serve", service, "--tap", "tap0", "--address",
                 "198.18.0.2/24", "--peer-address", "198.18.0.1/24", "--duration", "20", *extra, text=True)
    line = p.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("serving"), (line, p.stderr.read() if p.poll() is not None else "")  # type: ignore[union-attr]
    return p


@pytest.mark.parametrize("offload", [False, True], ids=["plain", "offload"])
def test_serve_echo_to_a_kernel_client(tmp_path: pathlib.Path, offload: bool) -> None:
    pcap = tmp_path / "serve.pcap"
    with NetNs() as ns:
        extra = ["--pcap", str(pcap)] + (["--offload"] if offload else [])
        p = _serve(ns, "echo", *extra)
        c = ns.python(CLIENT, "7", "echo", text=True)
        out, err = c.communicate(timeout=30)
        assert c.returncode == 0 and "ECHO-OK" in out, err
        p.terminate()  # type: ignore[attr-defined]
        out, err = p.communicate(timeout=30)  # type: ignore[attr-defined]
        assert p.returncode == 0, err  # type: ignore[attr-defined]
        assert "tcp.passive_opens=1" in out
    assert pcap.stat().st_size > 300_000


def test_serve_source() -> None:
    with NetNs() as ns:
        p = _serve(ns, "source", "--port", "1919")
        c = ns.python(CLIENT, "1919", "source", text=True)
        out, err = c.communicate(timeout=30)
        assert c.returncode == 0 and "SOURCE-OK" in out, err
        p.terminate()  # type: ignore[attr-defined]
        p.communicate(timeout=30)  # type: ignore[attr-defined]


def test_serve_refuses_addresses_outside_the_benchmark_range() -> None:
    from aiostack.cli import main

    with pytest.raises(SystemExit, match="outside"):
        main(["serve", "echo", "--tap", "tapx", "--address", "10.0.0.2/24"])


async def test_stack_on_tap_helper() -> None:
    """``Stack.on_tap``: a stack on a TAP device created inside a namespace; the kernel dials in."""
    import asyncio

    from aiostack import Stack

    with NetNs() as ns:
        for offload in (False, True):
            name = "tapo" if offload else "tapp"
            stack = Stack.on_tap(name, "198.18.0.2/24", offload=offload, netns=ns.path)
            ns.ip("addr", "add", "198.18.0.1/24", "dev", name)
            ns.ip("link", "set", "dev", name, "up")
            async with stack:
                async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    while data := await reader.read(65536):
                        writer.write(data)
                    writer.close()

                server = await stack.start_server(echo, "198.18.0.2", 7)
                c = ns.python(CLIENT, "7", "echo", text=True)
                loop = asyncio.get_running_loop()
                out, err = await loop.run_in_executor(None, c.communicate, None, 30)
                assert c.returncode == 0 and "ECHO-OK" in out, err
                server.close()

