"""Shared test configuration.

The suite runs twice in CI: once on the compiled fast path and once with ``AIOSTACK_PURE=1`` (the pure
twin); the header line says which one is in use. Root-only tests carry the ``tap`` marker and skip with a
reason when not root.
"""

from __future__ import annotations

import os

import pytest


def pytest_report_header(config: pytest.Config) -> str:
    from aiostack import fastpath

    return f"aiostack fast path: {fastpath.IMPLEMENTATION}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0 and os.path.exists("/dev/net/tun"):
        return
    skip = pytest.mark.skip(reason="needs root and /dev/net/tun to create a network namespace and a TAP device")
    for item in items:
        if "tap" in item.keywords:
            item.add_marker(skip)
