"""Stand-ins for the ``cython`` class decorators used by engine sources, for a run from source where Cython
is not installed (with Cython installed, its own pure-Python ``cython`` module does the same: nothing).

In the compiled build the decorators act: ``no_gc`` leaves a class's instances out of the cyclic garbage
collector (only for objects through which no reference cycle can pass: leaf objects holding numbers,
strings, bytes and lists of them, and the TCP connection, see docs/ARCHITECTURE.md "Compiled code"),
``freelist(n)`` keeps up to n freed instances for reuse, ``locals(name=type)`` types a function's local
variables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def cclass(cls: T) -> T:
    return cls


def no_gc(cls: T) -> T:
    return cls


def freelist(n: int) -> Callable[[T], T]:
    return lambda cls: cls


def locals(**types: object) -> Callable[[T], T]:  # noqa: A001 - the name of Cython's decorator
    return lambda fn: fn
