"""``python -m aiostack info``: what this installation runs on."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def collect() -> dict[str, str]:
    import aiostack
    from aiostack import _compiled, fastpath

    policy = asyncio.get_event_loop_policy()
    try:
        import uvloop  # noqa: F401

        uv = "available"
    except ImportError:
        uv = "not installed"
    loop = asyncio.new_event_loop()
    try:
        loop_name = f"{type(loop).__module__}.{type(loop).__qualname__}"
    finally:
        loop.close()
    return {
        "aiostack": aiostack.__version__,
        "fastpath": fastpath.IMPLEMENTATION,
        "engine": _compiled.engine_status(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "platform": platform.platform(),
        "event_loop_policy": f"{type(policy).__module__}.{type(policy).__qualname__}",
        "event_loop": loop_name,
        "uvloop": uv,
    }


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info))
    else:
        width = max(map(len, info))
        for k, v in info.items():
            print(f"{k:<{width}}  {v}")
    return 0
