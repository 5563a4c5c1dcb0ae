"""``python -m aiostack <command>``: one entry point, one module per subcommand.

Each subcommand lives in its own module under ``aiostack/tools/`` exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only dispatches, so subcommands are loaded lazily (``info`` must not
import asyncio stacks or the TAP code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("aiostack.tools.info", "version, fast-path implementation, Python and event loop"),
    "demo": ("aiostack.tools.demo", "echo and bulk transfer over aiostack beside the kernel (no root)"),
    "bench": ("aiostack.tools.bench", "throughput/latency benchmark, aiostack vs the kernel"),
    "netsim": ("aiostack.tools.netsim", "bulk transfer between two stacks over the network simulator"),
    "serve": ("aiostack.tools.serve", "serve echo/discard/source on a TAP device"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(prog="aiostack", description="A user-space TCP/IP stack for asyncio")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, object] = {}
    for name, (modname, help_text) in COMMANDS.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                raise
            continue  # a subcommand whose module is not part of this build
        modules[name] = mod
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)  # type: ignore[attr-defined]
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.command:
        parser.print_help()
        return 2
    return int(modules[args.command].run(args) or 0)  # type: ignore[attr-defined]
