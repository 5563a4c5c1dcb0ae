"""Build aiostack's compiled modules: aiostack._fastpath from src/_fastpath.pyx, and the per-packet engine
modules listed in aiostack/_compiled.py (ENGINE_MODULES), compiled by Cython from their own .py source.

With no Cython or no C compiler the build still succeeds and aiostack runs on its pure-Python twin
(aiostack/_fastpath_py.py); aiostack.fastpath warns once at import time when that happens.

Switches (environment): AIOSTACK_NO_EXT=1 skips the extension; AIOSTACK_ANNOTATE=1 writes Cython's
HTML annotation; AIOSTACK_LINETRACE=1 builds with line tracing for profilers and coverage.
"""

import ast
import os
import pathlib
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """A build_ext whose failure leaves a working pure-Python install instead of an error."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:  # one C file per engine module: use every core
            self.parallel = os.cpu_count() or 1

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure means "pure mode"
            print(f"aiostack: compiled fast path not built ({exc}); pure-Python mode", file=sys.stderr)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            print(f"aiostack: {ext.name} not built ({exc}); pure-Python mode", file=sys.stderr)


def extensions():
    if os.environ.get("AIOSTACK_NO_EXT") == "1":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("aiostack: Cython not available; pure-Python mode", file=sys.stderr)
        return []
    from setuptools import Extension

    linetrace = os.environ.get("AIOSTACK_LINETRACE") == "1"
    macros = [("CYTHON_TRACE_NOGIL", "1")] if linetrace else []
    ext = Extension(
        "aiostack._fastpath",
        ["src/_fastpath.pyx"],
        define_macros=macros,
        extra_compile_args=["-O3"],
    )
    directives = {
        "language_level": "3",
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
        "initializedcheck": False,
        "linetrace": linetrace,
    }
    annotate = os.environ.get("AIOSTACK_ANNOTATE") == "1"
    # The engine modules keep Python semantics exactly (their source is the pure twin): Cython only
    # removes the interpreter's dispatch. binding=True keeps module functions usable as methods (the
    # TCP connection binds functions of input/output/timeouts); annotations stay hints, not C types.
    engine = [
        Extension(name, [name.replace(".", "/") + ".py"], define_macros=macros)
        for name in engine_modules()
    ]
    engine_directives = {
        "language_level": "3",
        "binding": True,
        "annotation_typing": False,
        "linetrace": linetrace,
    }
    return cythonize([ext], compiler_directives=directives, annotate=annotate) + cythonize(
        engine, compiler_directives=engine_directives, annotate=annotate, nthreads=os.cpu_count() or 1
    )


def engine_modules():
    """ENGINE_MODULES from aiostack/_compiled.py, read without importing the package."""
    path = pathlib.Path(__file__).resolve().parent / "aiostack" / "_compiled.py"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "ENGINE_MODULES":
            return list(ast.literal_eval(node.value))
    raise RuntimeError("ENGINE_MODULES not found in aiostack/_compiled.py")


def _allow_inplace_build_with_old_setuptools():
    """Let ``python setup.py build_ext --inplace`` work with a setuptools older than 77.

    pyproject.toml's SPDX ``license = "MIT"`` needs setuptools >= 77 (PEP 639), which ``pip install``
    gets through ``[build-system].requires``. A plain ``setup.py build_ext`` uses whatever setuptools is
    installed; building the extension needs none of the project metadata, so an older one skips it.
    """
    import setuptools

    major = int(setuptools.__version__.split(".")[0])
    if major < 77 and sys.argv[1:2] == ["build_ext"]:
        from setuptools.dist import Distribution

        Distribution.parse_config_files = lambda self, *args, **kwargs: None


_allow_inplace_build_with_old_setuptools()
setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
