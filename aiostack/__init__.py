"""aiostack: a user-space TCP/IP stack for Python whose native interface is asyncio."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
