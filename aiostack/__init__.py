"""aiostack: a user-space TCP/IP stack for Python whose native interface is asyncio."""

from __future__ import annotations

from aiostack import _compiled

# Before any engine module is imported: AIOSTACK_PURE=1 (or a stale build) loads their source instead of
# the extension modules setup.py compiled from it (aiostack/_compiled.py).
_compiled.install()

__version__ = "0.1.0"

__all__ = ["__version__", "Stack", "run", "loop_factory", "new_event_loop", "EventLoopPolicy"]

# The asyncio layer's public names, imported on first use (``python -m aiostack info`` stays light).
_AIO_NAMES = {"Stack": "aiostack.aio.stack", "run": "aiostack.aio.loop", "loop_factory": "aiostack.aio.loop",
              "new_event_loop": "aiostack.aio.loop", "EventLoopPolicy": "aiostack.aio.loop"}


def __getattr__(name: str) -> object:
    module = _AIO_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'aiostack' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
