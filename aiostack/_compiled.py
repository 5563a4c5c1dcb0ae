"""The engine modules that are also compiled, as they are, by Cython, and the switch back to their source.

Besides the leaf module ``aiostack._fastpath`` (checksums, headers, sequence arithmetic), ``setup.py``
compiles the per-packet engine modules listed in ``ENGINE_MODULES`` from their own ``.py`` source into
extension modules beside them. The source is the pure-Python twin: there is no second copy of the logic
to keep equal, and the compiled build only removes interpreter overhead (about 130 Python calls per TCP
segment spread over host, engine and driver; no single function dominates, so moving one of them into
``_fastpath`` would not help).

Augmenting ``.pxd`` files beside some of the sources (Cython reads a ``.pxd`` of the same name with the
``.py``; the pure run never sees them) declare the hot classes as ``cdef class`` with their ``__slots__`` as
struct fields, and the engine functions' connection and segment arguments by type. A compiled module then
reads ``conn.snd_una`` or ``conn.timers.rto`` at a fixed offset instead of through a dictionary look-up on
the type. Attributes stay Python objects (any int, None; those holding a connection's helpers are typed
by the helper's class, which admits None too), so the semantics are the source's; a test checks that every
declared class lists exactly its ``__slots__``.

Python's import system prefers an extension module to a ``.py`` file of the same name. ``install()`` (run by
``aiostack/__init__.py`` before any engine module is imported) puts a finder first on ``sys.meta_path``
that loads the source instead when

- ``AIOSTACK_PURE=1`` is set (the whole package then runs as pure Python, ``fastpath`` included), or
- in a checkout built in place (the generated ``.c`` file lies beside the source), a ``.py`` or ``.pxd``
  file of an engine module is newer than its extension (edited, not rebuilt yet): every engine module is
  loaded from source (they share C-level types, so they run all compiled or none) and a
  ``RuntimeWarning`` names the edited modules (``pip install -e .`` rebuilds them).

``compiled_modules()`` tells which engine modules were loaded compiled; ``engine_status()`` imports
them all and sums it up in one word (for ``python -m aiostack info`` and the bench header).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

# Modules on the per-packet path, compiled by setup.py (the source stays the reference).
ENGINE_MODULES: tuple[str, ...] = (
    "aiostack.stats",
    "aiostack.core.host",
    "aiostack.core.interface",
    "aiostack.core.tcpio",
    "aiostack.core.tcp.connection",
    "aiostack.core.tcp.input",
    "aiostack.core.tcp.output",
    "aiostack.core.tcp.timeouts",
    "aiostack.core.tcp.timers",
    "aiostack.core.tcp.segment",
    "aiostack.core.tcp.sendbuf",
    "aiostack.core.tcp.recvbuf",
    "aiostack.core.tcp.rtt",
    "aiostack.core.tcp.congestion.base",
    "aiostack.core.tcp.congestion.cubic",
    "aiostack.core.tcp.congestion.hystart",
    "aiostack.core.tcp.congestion.newreno",
    "aiostack.core.tcp.scoreboard",
    "aiostack.core.tcp.events",
    "aiostack.core.tcp.listener",
    "aiostack.core.tcp.isn",
    "aiostack.core.neighbor",
    "aiostack.core.ipv4",
    "aiostack.core.ports",
    "aiostack.link.loopback",
    "aiostack.aio.driver",
    "aiostack.aio.endpoint",
    "aiostack.aio.transport",
    "aiostack.aio.stack",
)

_STALE_SLACK_S = 2.0  # files written by one install/checkout differ by less than this


class _SourceFirst:
    """A meta-path finder that loads the ``.py`` sources of the engine modules when they must not run compiled.

    The compiled modules share C-level types (the ``cdef class`` declarations in the ``.pxd`` files beside
    the sources), so they run all compiled or all from source: one edited module puts the whole engine on
    its sources.
    """

    def __init__(self, pure: bool, root: str | None = None) -> None:
        self.root = root if root is not None else os.path.dirname(os.path.abspath(__file__))
        self._source: bool | None = True if pure else None  # None: decided at the first engine import

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if fullname not in _ENGINE or not path:
            return None
        if self._source is None:
            self._source = self._any_stale()
        if not self._source:
            return None  # the extension (or, without one, the source) through the normal finders
        leaf = fullname.rpartition(".")[2]
        for directory in path:
            source = os.path.join(directory, leaf + ".py")
            if os.path.exists(source):
                loader = importlib.machinery.SourceFileLoader(fullname, source)
                return importlib.util.spec_from_file_location(fullname, source, loader=loader)
        return None

    def _any_stale(self) -> bool:
        stale = [name for name in ENGINE_MODULES if self._stale(name)]
        if stale:
            warnings.warn(f"aiostack: {', '.join(stale)} edited after the engine was compiled; running the "
                          "engine from its source (rebuild with `pip install -e .`)", RuntimeWarning, stacklevel=3)
        return bool(stale)

    def _stale(self, fullname: str) -> bool:
        base = os.path.join(self.root, *fullname.split(".")[1:])
        if not os.path.exists(base + ".c"):
            return False  # not an in-place build in a checkout (an installed wheel ships no C files)
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            if os.path.exists(base + suffix):
                built = os.path.getmtime(base + suffix) + _STALE_SLACK_S
                return any(os.path.exists(base + ext) and os.path.getmtime(base + ext) > built
                           for ext in (".py", ".pxd"))
        return False


_ENGINE = frozenset(ENGINE_MODULES)
_finder: _SourceFirst | None = None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    global _finder
    if _finder is not None:
        return
    _finder = _SourceFirst(pure=os.environ.get("AIOSTACK_PURE") == "1")
    sys.meta_path.insert(0, _finder)


def compiled_modules() -> list[str]:
    """The engine modules imported so far that run compiled (extension modules)."""
    out = []
    for name in ENGINE_MODULES:
        mod = sys.modules.get(name)
        if mod is not None and not (getattr(mod, "__file__", "") or "").endswith(".py"):
            out.append(name)
    return out


def engine_status() -> str:
    """``"cython"`` when every engine module runs compiled, ``"pure"`` when none does, else ``"k of n"``."""
    for name in ENGINE_MODULES:
        importlib.import_module(name)
    k = len(compiled_modules())
    if k == len(ENGINE_MODULES):
        return "cython"
    return "pure" if k == 0 else f"{k} of {len(ENGINE_MODULES)} compiled"
