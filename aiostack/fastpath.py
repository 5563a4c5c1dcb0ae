"""The per-packet hot path: compiled ``aiostack._fastpath`` or its pure-Python twin.

``IMPLEMENTATION`` is ``"cython"`` or ``"pure"``. ``AIOSTACK_PURE=1`` in the environment forces the pure
twin at import time. If the compiled module is missing (no compiler or no Cython at install time), the
pure twin is used and a single ``RuntimeWarning`` says so.

Everything else in aiostack imports hot-path functions from here, never from the two modules directly.
Both modules export the same ``__all__``; the types are in ``aiostack/_fastpath.pyi``.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Type checkers read the stub aiostack/_fastpath.pyi (tests check that both modules match it).
    from aiostack._fastpath import *  # noqa: F403

    IMPLEMENTATION: str
elif os.environ.get("AIOSTACK_PURE") == "1":
    from aiostack._fastpath_py import *  # noqa: F403

    IMPLEMENTATION = "pure"
else:
    try:
        from aiostack._fastpath import *  # noqa: F403

        IMPLEMENTATION = "cython"
    except ImportError as exc:  # pragma: no cover - depends on how the package was built
        from aiostack._fastpath_py import *  # noqa: F403

        IMPLEMENTATION = "pure"
        warnings.warn(
            f"aiostack: compiled fast path unavailable ({exc}); running the pure-Python twin",
            RuntimeWarning,
            stacklevel=2,
        )
